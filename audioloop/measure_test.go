package audioloop_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// TestMeasureLatency: end to end. With `on --source a.monitor --sink b
// --latency L`, a signal played into a is recorded from b.monitor, delayed
// by L within 5 ms (PulseAudio: absolute; PipeWire: against a second,
// 200 ms loopback in the same recording, which is exact). After Off no
// signal reaches b.
func TestMeasureLatency(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		for _, ms := range []int{20, 50, 200} {
			lat := time.Duration(ms) * time.Millisecond
			refLat := 200 * time.Millisecond
			if ms == 200 {
				refLat = 20 * time.Millisecond
			}
			settle := 300 * time.Millisecond
			if s.Kind == audiolooptest.PulseAudio {
				settle = 1500 * time.Millisecond // PulseAudio's rate controller converges
			}
			// A recording disturbed by xruns (the machine busy), or taken
			// while PulseAudio's rate controller still moves the loopback's
			// delay (a loaded machine slows its start), gives echoes that
			// disagree from chirp to chirp: a failed measurement, not an
			// answer. Then the loopbacks are loaded afresh and measured
			// again, up to 6 times; after two failures in a row on one
			// server, on a fresh server: a PipeWire graph that keeps missing
			// cycles tends to stay that way for its lifetime.
			var got time.Duration
			for try := 1; ; try++ {
				if try == 3 || try == 5 {
					s = audiolooptest.Start(t, s.Kind)
					c = s.Connect(t)
				}
				if _, err := c.Off(audioloop.OffRequest{}); err != nil { // each latency from a fresh load
					t.Fatal(err)
				}
				if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: lat}); err != nil {
					t.Fatal(err)
				}
				var ref uint32
				if s.Kind == audiolooptest.PipeWire {
					ref = s.LoadModule(t, "module-loopback", "source=a.monitor sink=b latency_msec="+itoa(uint32(refLat/time.Millisecond)))
				}
				waitRunning(t, c)
				r, err := c.Measure(audioloop.MeasureRequest{Source: "a.monitor", Sink: "b", Chirps: 3, Interval: 450 * time.Millisecond, Settle: settle})
				if errors.Is(err, audioloop.ErrNoSignal) && try < 6 {
					// A graph that missed its start (a busy machine):
					// measured again like a disturbed recording.
					t.Logf("%s %v (try %d): %v", s.Kind, lat, try, err)
					if ref != 0 {
						s.Pactl(t, "unload-module", itoa(ref))
					}
					continue
				}
				if err != nil {
					t.Fatalf("%v: Measure() = %v", lat, err)
				}
				t.Logf("%s %v (try %d): delay %v, echoes %v, missing %d", s.Kind, lat, try, r.Delay, r.Echoes, r.Missing)
				consistent := true
				got = r.Delay
				if ref != 0 {
					// Exact: the spacing of the two echoes in one recording.
					var diffs []time.Duration
					for _, es := range r.Echoes {
						if len(es) == 2 {
							diffs = append(diffs, es[1]-es[0])
						}
					}
					slices.Sort(diffs) // the median, robust to one chirp a quantum off
					consistent = len(diffs) >= 2 && diffs[len(diffs)-1]-diffs[0] <= 11*time.Millisecond
					if len(diffs) > 0 {
						if lat < refLat {
							got = refLat - diffs[len(diffs)/2]
						} else {
							got = refLat + diffs[len(diffs)/2]
						}
					}
					s.Pactl(t, "unload-module", itoa(ref))
				} else {
					// Settled, the delays agree within 0.3 ms.
					consistent = len(r.Delays) >= 2 && slices.Max(r.Delays)-slices.Min(r.Delays) <= time.Millisecond
				}
				if consistent || try == 6 {
					break
				}
			}
			// PipeWire: exact while no graph cycle is missed (the test
			// server runs 1024-frame cycles, see audiolooptest); a missed
			// one moves an echo by a whole quantum (21 ms), which the
			// consistency check above retries.
			if d := got - lat; d < -5*time.Millisecond || d > 5*time.Millisecond {
				t.Errorf("%s: latency %v measured %v, want within 5ms", s.Kind, lat, got)
			}
		}
		if _, err := c.Off(audioloop.OffRequest{}); err != nil {
			t.Fatal(err)
		}
		_, err := c.Measure(audioloop.MeasureRequest{Source: "a.monitor", Sink: "b", Chirps: 2})
		if !errors.Is(err, audioloop.ErrNoSignal) {
			t.Fatalf("after Off: Measure() = %v, want ErrNoSignal", err)
		}
	})
}

// waitRunning waits until every loopback's streams are linked (PipeWire links
// them through WirePlumber, a moment after the load).
func waitRunning(t *testing.T, c *audioloop.Client) {
	t.Helper()
	deadline := time.Now().Add(3 * time.Second)
	for {
		lbs := loopbacks(t, c)
		ok := len(lbs) > 0
		for _, lb := range lbs {
			ok = ok && lb.State == "running" && lb.Source != "" && lb.Sink != ""
		}
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("loopbacks not running within 3s: %+v", lbs)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
