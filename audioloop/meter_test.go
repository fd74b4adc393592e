package audioloop_test

import (
	"math"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// TestMeterTone: with a loopback a.monitor -> b and a 1 kHz sine of
// amplitude 0.5 played into a (peak -6.02 dBFS, RMS -9.03 dBFS), the meter
// reads the tone's level within 1 dB at the source and at the sink; with
// the tone stopped it reads silence at both; with the loopback off, the
// source still has the tone and the sink is silent.
func TestMeterTone(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		waitRunning(t, c)
		tone := s.PlayTone(t, "a", 1000, 0.5)
		m, err := c.Meter(audioloop.MeterRequest{})
		if err != nil {
			t.Fatal(err)
		}
		defer m.Close()
		if m.Source.Name != "a.monitor" || m.Sink.Name != "b" || m.SinkMonitor != "b.monitor" || m.Module == audioloop.NoIndex {
			t.Fatalf("Meter picked %s -> %s (monitor %s, module %d), want the loopback a.monitor -> b", m.Source.Name, m.Sink.Name, m.SinkMonitor, m.Module)
		}
		wantPeak, wantRMS := 20*math.Log10(0.5), 20*math.Log10(0.5/math.Sqrt2)
		near := func(got, want float64) bool { return math.Abs(got-want) <= 1 }
		rd := waitReading(t, m, func(rd audioloop.MeterReading) bool {
			return rd.Source.Frames > 0 && rd.Sink.Frames > 0 &&
				near(rd.Source.PeakDBFS(), wantPeak) && near(rd.Sink.PeakDBFS(), wantPeak)
		})
		for _, end := range []struct {
			name string
			l    audioloop.Level
		}{{"source", rd.Source}, {"sink", rd.Sink}} {
			if !near(end.l.PeakDBFS(), wantPeak) || !near(end.l.RMSDBFS(), wantRMS) || end.l.Silent() {
				t.Errorf("%s: peak %.2f dBFS, RMS %.2f dBFS, silent %v; want %.2f and %.2f within 1 dB",
					end.name, end.l.PeakDBFS(), end.l.RMSDBFS(), end.l.Silent(), wantPeak, wantRMS)
			}
		}
		if rd.Loopback == nil || rd.Loopback.State != "running" {
			t.Errorf("reading's loopback = %+v, want the running loopback", rd.Loopback)
		}

		// The loopback off: the tone is still at the source, none at the sink.
		if _, err := c.Off(audioloop.OffRequest{}); err != nil {
			t.Fatal(err)
		}
		rd = waitReading(t, m, func(rd audioloop.MeterReading) bool {
			return rd.Loopback == nil && rd.Source.Frames > 0 && !rd.Source.Silent() && rd.Sink.Silent()
		})
		t.Logf("loopback off: source %.1f dBFS, sink %.1f dBFS (%d frames)", rd.Source.PeakDBFS(), rd.Sink.PeakDBFS(), rd.Sink.Frames)

		// The loopback on, the tone stopped: silence at both ends.
		if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: 50 * time.Millisecond}); err != nil {
			t.Fatal(err)
		}
		tone.Stop()
		rd = waitReading(t, m, func(rd audioloop.MeterReading) bool {
			return rd.Loopback != nil && rd.Source.Silent() && rd.Sink.Silent()
		})
		if rd.Source.Frames > 0 && rd.Source.Peak > 1e-4 {
			t.Errorf("silence read as %.1f dBFS", rd.Source.PeakDBFS())
		}
	})
}

// waitReading reads m every 300 ms until ok holds for two readings in a
// row (a level, not a moment), for at most 20 s (a loaded machine starts
// streams slowly; this waits for a level, it does not time one), and
// returns the last.
func waitReading(t *testing.T, m *audioloop.Meter, ok func(audioloop.MeterReading) bool) audioloop.MeterReading {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var rd audioloop.MeterReading
	good := 0
	for time.Now().Before(deadline) {
		time.Sleep(300 * time.Millisecond)
		var err error
		if rd, err = m.Read(); err != nil {
			t.Fatal(err)
		}
		if ok(rd) {
			if good++; good == 2 {
				return rd
			}
		} else {
			good = 0
		}
	}
	t.Fatalf("the meter never read as wanted within 20s; last: source %+v (%.1f dBFS), sink %+v (%.1f dBFS), loopback %+v",
		rd.Source, rd.Source.PeakDBFS(), rd.Sink, rd.Sink.PeakDBFS(), rd.Loopback)
	return rd
}
