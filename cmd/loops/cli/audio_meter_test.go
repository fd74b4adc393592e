package cli

import (
	"bufio"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// meterRun runs `loops audio meter --server SOCKET args...` and returns
// stdout, stderr and the exit code.
func meterRun(t *testing.T, s *audiolooptest.Server, tty bool, args ...string) (string, string, int) {
	t.Helper()
	io, out, errOut := Test(tty)
	code := run(append([]string{"audio", "meter", "--server", "unix:" + s.Socket}, args...), io)
	return out.String(), errOut.String(), code
}

// TestAudioMeter: on the private test server, with a loopback a.monitor
// -> b and the test's 1 kHz sine of amplitude 0.5 played into a, `loops
// audio meter` reads the tone's level (peak -6.02, RMS -9.03 dBFS) within
// 1 dB at the source and the sink, as JSON lines, piped lines and bars;
// with the tone stopped it reads silence, and says nothing flows.
func TestAudioMeter(t *testing.T) {
	s := audiolooptest.Start(t, audiolooptest.PulseAudio)
	c := s.Connect(t)
	if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	tone := s.PlayTone(t, "a", 1000, 0.5)
	wantPeak, wantRMS := 20*math.Log10(0.5), 20*math.Log10(0.5/math.Sqrt2)

	// JSON: one document per line; the last readings carry the tone.
	var docs []audioMeterJSON
	for try := 0; try < 3; try++ { // the tone needs a moment to reach the sink
		out, errOut, code := meterRun(t, s, false, "--count", "6", "--interval", "300ms", "--json")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errOut)
		}
		docs = docs[:0]
		sc := bufio.NewScanner(strings.NewReader(out))
		for sc.Scan() {
			var d audioMeterJSON
			if err := json.Unmarshal(sc.Bytes(), &d); err != nil {
				t.Fatalf("not a JSON line: %v\n%s", err, sc.Text())
			}
			docs = append(docs, d)
		}
		if len(docs) != 6 {
			t.Fatalf("%d JSON lines, want 6 (--count 6):\n%s", len(docs), out)
		}
		if docs[5].Flow == "flowing" {
			break
		}
	}
	last := docs[5]
	if last.Schema != 1 || last.Loopback == nil || last.Loopback.State != "running" || last.Source.Name != "a.monitor" ||
		last.Sink.Name != "b" || last.Sink.Recorded != "b.monitor" || last.Flow != "flowing" {
		t.Fatalf("last reading = %+v, want a.monitor -> b, running, flowing", last)
	}
	for _, l := range []levelJSON{last.Source, last.Sink} {
		if l.PeakDBFS == nil || math.Abs(*l.PeakDBFS-wantPeak) > 1 || math.Abs(*l.RMSDBFS-wantRMS) > 1 || l.Silent {
			t.Errorf("%s: peak %v RMS %v dBFS, want %.2f and %.2f within 1 dB", l.Name, fmtDB(l.PeakDBFS), fmtDB(l.RMSDBFS), wantPeak, wantRMS)
		}
	}

	// Piped: a line per reading, no escape codes.
	out, errOut, code := meterRun(t, s, false, "--count", "3", "--interval", "300ms")
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 3 || strings.Contains(out, "\x1b") || !strings.Contains(errOut, "Metering a.monitor -> b") {
		t.Fatalf("piped: exit %d, %d lines, stdout %q, stderr %q; want 3 plain lines", code, len(lines), out, errOut)
	}
	if f := strings.Split(lines[2], "\t"); len(f) != 5 || f[4] != "flowing" || !near(f[0], wantPeak) || !near(f[3], wantRMS) {
		t.Errorf("piped line %q, want SOURCE_PEAK≈%.1f … SINK_RMS≈%.1f flowing", lines[2], wantPeak, wantRMS)
	}

	// A terminal: bars, drawn in place; the last view stays on the screen.
	out, _, code = meterRun(t, s, true, "--count", "2", "--interval", "300ms")
	if code != 0 || !strings.Contains(out, "█") || !strings.Contains(out, "flowing") || !strings.Contains(out, escAltScreenOn) ||
		!strings.Contains(out, escShowCursor+escAltScreenOff) || !strings.HasSuffix(out, "flowing\n") {
		t.Errorf("terminal view: exit %d:\n%q", code, out)
	}

	// Silence is silence, and the meter says so.
	tone.Stop()
	out, _, code = meterRun(t, s, false, "--count", "4", "--interval", "300ms", "--json")
	ls := strings.Split(strings.TrimSpace(out), "\n")
	var d audioMeterJSON
	if err := json.Unmarshal([]byte(ls[len(ls)-1]), &d); code != 0 || err != nil {
		t.Fatalf("exit %d, %v: %s", code, err, out)
	}
	if !d.Source.Silent || !d.Sink.Silent || d.Source.PeakDBFS != nil || d.Flow != "silent" {
		t.Errorf("after the tone: %+v, want both silent (peak null), flow silent", d)
	}
	io, stdout, _ := Test(true)
	if code := run([]string{"audio", "meter", "--server", "unix:" + s.Socket, "--count", "2", "--interval", "200ms"}, io); code != 0 ||
		!strings.Contains(stdout.String(), "nothing flows: the source a.monitor is silent") {
		t.Errorf("terminal view of silence: exit %d:\n%s", code, stdout)
	}

	// No loopback: it says so.
	if _, err := c.Off(audioloop.OffRequest{}); err != nil {
		t.Fatal(err)
	}
	out, _, _ = meterRun(t, s, false, "--count", "1", "--interval", "100ms", "--source", "a.monitor", "--sink", "b")
	if !strings.HasSuffix(strings.TrimSpace(out), "no-loopback") {
		t.Errorf("without a loopback: %q, want the state no-loopback", out)
	}
	if _, errOut, code := meterRun(t, s, false, "--interval", "1ms"); code != exitUsage || !strings.Contains(errOut, "at least 50ms") {
		t.Errorf("--interval 1ms: exit %d, %s", code, errOut)
	}
}

func near(field string, want float64) bool {
	v, err := strconv.ParseFloat(field, 64)
	return err == nil && math.Abs(v-want) <= 1
}

func fmtDB(p *float64) string {
	if p == nil {
		return "null"
	}
	return strconv.FormatFloat(*p, 'f', 1, 64)
}
