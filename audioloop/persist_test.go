package audioloop_test

import (
	"os"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// TestPersistSurvivesRestart: a persisted loopback is back after the server
// restarts, and gone after Unpersist and another restart; the rest of the
// configuration (the null sinks) is untouched.
func TestPersistSurvivesRestart(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		r, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: 40 * time.Millisecond})
		if err != nil {
			t.Fatal(err)
		}
		path, err := audioloop.Persist(s.Options(), s.Kind, r.Loopback.Args)
		if err != nil {
			t.Fatalf("Persist() = %v", err)
		}
		// Twice: still one entry.
		if _, err := audioloop.Persist(s.Options(), s.Kind, r.Loopback.Args); err != nil {
			t.Fatal(err)
		}
		if es, _, _ := audioloop.Persisted(s.Options(), s.Kind); len(es) != 1 || es[0].ID != r.Loopback.ID {
			t.Fatalf("Persisted() = %+v, want one entry %s", es, r.Loopback.ID)
		}
		c.Close()
		s.Restart()
		c = s.Connect(t)
		// pipewire-pulse runs pulse.cmd after it answers: give it a moment.
		lbs := loopbacks(t, c)
		for deadline := time.Now().Add(2 * time.Second); len(lbs) == 0 && time.Now().Before(deadline); {
			time.Sleep(20 * time.Millisecond)
			lbs = loopbacks(t, c)
		}
		if len(lbs) != 1 || !lbs[0].Loops || lbs[0].ArgSource != "a.monitor" || lbs[0].ArgSink != "b" || lbs[0].LatencyMsec != 40 {
			b, _ := os.ReadFile(path)
			t.Fatalf("after restart: %+v, want loops' a.monitor→b 40 ms\n%s:\n%s\n%s", lbs, path, b, s.Logs())
		}
		if _, n, err := audioloop.Unpersist(s.Options(), s.Kind); err != nil || n != 1 {
			t.Fatalf("Unpersist() = %d, %v; want 1 removed", n, err)
		}
		if b, err := os.ReadFile(path); err == nil && strings.Contains(string(b), "module-loopback") {
			t.Fatalf("%s still mentions module-loopback:\n%s", path, b)
		}
		c.Close()
		s.Restart()
		c = s.Connect(t)
		time.Sleep(200 * time.Millisecond) // time to load a loopback that should not be there
		if lbs := loopbacks(t, c); len(lbs) != 0 {
			t.Fatalf("after Unpersist and restart: %+v, want none", lbs)
		}
	})
}
