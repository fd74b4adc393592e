package audiolooptest

import (
	"encoding/binary"
	"math"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// Tone is a sine the test plays into one of the server's sinks: the test
// generates the samples and pacat plays them, so its level is known
// exactly (amplitude amp: a peak of 20·log10(amp) dBFS, an RMS 3.01 dB
// lower).
type Tone struct {
	stop func()
}

// PlayTone plays a sine of freq Hz and amplitude amp (1 is full scale)
// into sink, mono at 48 kHz, until Stop or the end of the test.
func (s *Server) PlayTone(t testing.TB, sink string, freq, amp float64) *Tone {
	t.Helper()
	pacat := testkit.Tool(t, "pacat")
	cmd := s.command(pacat, "--playback", "--raw", "--format=float32le", "--rate=48000", "--channels=1",
		"--latency-msec=50", "--device="+sink, "--client-name=loops-test-tone")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	in, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pacat: %v", err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		const chunk = 480 // 10 ms
		buf := make([]byte, 4*chunk)
		for n := 0; ; {
			for i := 0; i < chunk; i, n = i+1, n+1 {
				v := amp * math.Sin(2*math.Pi*freq*float64(n%48000)/48000)
				binary.LittleEndian.PutUint32(buf[4*i:], math.Float32bits(float32(v)))
			}
			if _, err := in.Write(buf); err != nil {
				return // pacat ended
			}
		}
	}()
	stopped := false
	tone := &Tone{stop: func() {
		if stopped {
			return
		}
		stopped = true
		cmd.Process.Kill()
		cmd.Wait()
		<-done
	}}
	t.Cleanup(tone.Stop)
	return tone
}

// Stop ends the tone and waits for pacat; it may be called more than once.
func (tn *Tone) Stop() { tn.stop() }
