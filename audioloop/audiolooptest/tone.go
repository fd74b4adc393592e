package audiolooptest

import (
	"encoding/binary"
	"math"
	"syscall"
	"testing"
	"time"

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
	return s.PlayAppTone(t, sink, freq, amp, "loops-test-tone")
}

// PlayAppTone is PlayTone as the application app (pacat's client name,
// which the server shows as application.name).
func (s *Server) PlayAppTone(t testing.TB, sink string, freq, amp float64, app string) *Tone {
	t.Helper()
	pacat := testkit.Tool(t, "pacat")
	cmd := s.command(pacat, "--playback", "--raw", "--format=float32le", "--rate=48000", "--channels=1",
		"--latency-msec=50", "--device="+sink, "--client-name="+app)
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

// Record records source, mono float32 at 48 kHz, with pacat, until it
// holds d of sound after the stream's first 100 ms (or d+5s passed: an
// idle PulseAudio sink renders in blocks of up to 2 s, and a recording of
// its monitor starts at the end of one), and returns the samples.
func (s *Server) Record(t testing.TB, source string, d time.Duration) []float32 {
	t.Helper()
	pacat := testkit.Tool(t, "pacat")
	cmd := s.command(pacat, "--record", "--raw", "--format=float32le", "--rate=48000", "--channels=1",
		"--latency-msec=20", "--device="+source, "--client-name=loops-test-record")
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start pacat --record: %v", err)
	}
	const skip = 4800
	want := skip + int(d.Seconds()*48000)
	var b []byte
	done := make(chan struct{})
	go func() {
		defer close(done)
		buf := make([]byte, 1<<16)
		for len(b) < 4*want {
			n, err := out.Read(buf)
			b = append(b, buf[:n]...)
			if err != nil {
				return
			}
		}
	}()
	select {
	case <-done:
	case <-time.After(d + 5*time.Second):
	}
	cmd.Process.Kill()
	<-done
	cmd.Wait()
	samples := make([]float32, min(len(b)/4, want))
	for i := range samples {
		samples[i] = math.Float32frombits(binary.LittleEndian.Uint32(b[4*i:]))
	}
	if len(samples) > skip {
		return samples[skip:]
	}
	return nil
}

// ToneAmplitude is the amplitude of the freq Hz component of samples at
// 48 kHz, by the Goertzel algorithm over a Hann window (a sine of
// amplitude a reads a; 0 for fewer than 4800 samples).
func ToneAmplitude(samples []float32, freq float64) float64 {
	n := len(samples)
	if n < 4800 {
		return 0
	}
	w := 2 * math.Pi * freq / 48000
	coeff := 2 * math.Cos(w)
	var s1, s2, wsum float64
	for i, v := range samples {
		h := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		wsum += h
		s0 := float64(v)*h + coeff*s1 - s2
		s2, s1 = s1, s0
	}
	re := s1 - s2*math.Cos(w)
	im := s2 * math.Sin(w)
	return 2 * math.Sqrt(re*re+im*im) / wsum
}

// DB is 20·log10(a/b): the level of a relative to b.
func DB(a, b float64) float64 { return 20 * math.Log10(a/b) }
