package audioloop_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// moduleList is every module of the server, as "INDEX NAME ARGS" lines,
// sorted: what `pactl list modules short` shows.
func moduleList(t *testing.T, s *audiolooptest.Server) []string {
	t.Helper()
	var out []string
	for _, l := range strings.Split(strings.TrimSpace(s.Pactl(t, "list", "modules", "short")), "\n") {
		if f := strings.SplitN(l, "\t", 3); len(f) >= 2 && strings.HasPrefix(f[1], "module-") {
			out = append(out, strings.TrimSpace(l))
		}
	}
	slices.Sort(out)
	return out
}

// levels records the mic and another source at the same time and returns
// the amplitude of each frequency in each.
func levels(t *testing.T, s *audiolooptest.Server, sources []string, freqs ...float64) [][]float64 {
	t.Helper()
	out := make([][]float64, len(sources))
	var wg sync.WaitGroup
	for i, src := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rec := s.Record(t, src, 1500*time.Millisecond)
			for _, f := range freqs {
				out[i] = append(out[i], medianAmplitude(rec, f))
			}
		}()
	}
	wg.Wait()
	return out
}

// medianAmplitude is the median over 100 ms blocks of the amplitude of
// freq in rec: a dropout on a loaded machine (an underrun of a loopback)
// lowers a block or two, not the level.
func medianAmplitude(rec []float32, freq float64) float64 {
	var as []float64
	for i := 0; i+4800 <= len(rec); i += 4800 {
		as = append(as, audiolooptest.ToneAmplitude(rec[i:i+4800], freq))
	}
	if len(as) == 0 {
		return 0
	}
	slices.Sort(as)
	return as[len(as)/2]
}

// TestMicFromSink: a 1 kHz tone played to a is in the mic within 3 dB of
// a's monitor, and still on a; a second identical MicOn loads nothing;
// MicOff leaves exactly the modules there were, others' loopback included.
func TestMicFromSink(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		other := s.LoadModule(t, "module-loopback", "source=b.monitor sink=a latency_msec=30")
		before := moduleList(t, s)
		r, err := c.MicOn(audioloop.MicRequest{From: "a"})
		if err != nil {
			t.Fatalf("MicOn(from a) = %v\n%s", err, s.Logs())
		}
		if r.Action != audioloop.ActionLoaded || r.Mic.FromSink != "a" || r.Mic.Source.Index == audioloop.NoIndex || len(r.Mic.Missing) > 0 {
			t.Fatalf("MicOn() = %+v, want a complete mic loaded from a", r)
		}
		if r.Mic.Source.MonitorOf != "" || r.Mic.Source.Description != "Loops Mic" {
			t.Errorf("mic source %+v: want a non-monitor source described Loops Mic", r.Mic.Source)
		}
		s.PlayTone(t, "a", 1000, 0.3)
		lv := levels(t, s, []string{"loops-mic", "a.monitor"}, 1000)
		mic, mon := lv[0][0], lv[1][0]
		t.Logf("1 kHz: mic %.4f, a.monitor %.4f (%.2f dB)", mic, mon, audiolooptest.DB(mic, mon))
		if mon < 0.05 {
			t.Fatalf("the tone is not on a (a.monitor %.4f)", mon)
		}
		if d := audiolooptest.DB(mic, mon); d < -3 || d > 3 {
			t.Errorf("mic %.4f vs a.monitor %.4f: %.2f dB apart, want within 3 dB", mic, mon, d)
		}
		// A second identical MicOn loads nothing.
		mods := moduleList(t, s)
		r2, err := c.MicOn(audioloop.MicRequest{From: "a"})
		if err != nil || r2.Action != audioloop.ActionUnchanged || len(r2.Loaded) != 0 {
			t.Fatalf("second MicOn() = %+v, %v; want unchanged", r2, err)
		}
		if got := moduleList(t, s); !slices.Equal(got, mods) {
			t.Errorf("second MicOn changed the modules:\n%q\nwant\n%q", got, mods)
		}
		// Plain Off leaves the mic alone.
		if off, err := c.Off(audioloop.OffRequest{All: false}); err != nil || len(off.Unloaded) != 0 {
			t.Fatalf("Off() = %+v, %v; want the mic's loopback left alone", off, err)
		}
		off, err := c.MicOff("")
		if err != nil || len(off.Unloaded) != len(r.Loaded) {
			t.Fatalf("MicOff() = %+v, %v; want the %d modules unloaded", off, err, len(r.Loaded))
		}
		if got := moduleList(t, s); !slices.Equal(got, before) {
			t.Errorf("after MicOff:\n%q\nwant as before\n%q", got, before)
		}
		if !slices.ContainsFunc(moduleList(t, s), func(l string) bool { return strings.HasPrefix(l, fmt.Sprint(other)+"\t") }) {
			t.Errorf("others' loopback %d is gone", other)
		}
	})
}

// TestMicFromApp: two applications play different tones to a; the mic
// carries only the chosen one's, which is still heard on a; a stream the
// application opens later follows; MicOff moves the streams back.
func TestMicFromApp(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		before := moduleList(t, s)
		s.PlayAppTone(t, "a", 700, 0.3, "ToneOne")
		s.PlayAppTone(t, "a", 1900, 0.3, "tonetwo")
		waitStreams(t, c, 2)
		r, err := c.MicOn(audioloop.MicRequest{From: "toneone"})
		if err != nil {
			t.Fatalf("MicOn(from toneone) = %v\n%s", err, s.Logs())
		}
		if r.Mic.App != "toneone" || r.Mic.HearSink != "a" || len(r.Moved) != 1 || len(r.Mic.AppStreams) != 1 {
			t.Fatalf("MicOn() = %+v, want app toneone heard on a, one stream moved", r)
		}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		fc, err := audioloop.Connect(audioloop.FollowerOptions(s.Options(), "loops-mic"))
		if err != nil {
			t.Fatal(err)
		}
		defer fc.Close()
		done := make(chan *audioloop.FollowResult, 1)
		go func() {
			fr, err := fc.FollowMic(ctx, "loops-mic")
			if err != nil {
				t.Errorf("FollowMic() = %v", err)
			}
			done <- fr
		}()
		lv := levels(t, s, []string{"loops-mic", "a.monitor"}, 700, 1900)
		t.Logf("mic 700 Hz %.4f, 1900 Hz %.4f; a.monitor 700 Hz %.4f, 1900 Hz %.4f", lv[0][0], lv[0][1], lv[1][0], lv[1][1])
		if lv[0][0] < 0.05 || audiolooptest.DB(lv[0][1], lv[0][0]) > -30 {
			t.Errorf("mic: 700 Hz %.4f, 1900 Hz %.4f; want only 700 Hz (the other 30 dB down)", lv[0][0], lv[0][1])
		}
		if lv[1][0] < 0.05 || lv[1][1] < 0.05 {
			t.Errorf("a.monitor: 700 Hz %.4f, 1900 Hz %.4f; want both still heard", lv[1][0], lv[1][1])
		}
		// The follower registered: the mic says so.
		waitFor(t, "the follower to register", func() bool {
			mics, _, err := c.Mics()
			return err == nil && len(mics) == 1 && mics[0].Follower != audioloop.NoIndex
		})
		// A stream the application opens now follows.
		s.PlayAppTone(t, "a", 1300, 0.3, "toneone")
		waitFor(t, "the new stream to move", func() bool {
			mics, _, err := c.Mics()
			return err == nil && len(mics) == 1 && len(mics[0].AppStreams) == 2
		})
		lv = levels(t, s, []string{"loops-mic"}, 1300, 1900)
		if lv[0][0] < 0.05 || audiolooptest.DB(lv[0][1], lv[0][0]) > -30 {
			t.Errorf("mic after a new stream: 1300 Hz %.4f, 1900 Hz %.4f; want the new stream's 1300 Hz only", lv[0][0], lv[0][1])
		}
		off, err := c.MicOff("loops-mic")
		if err != nil || len(off.MovedBack) != 2 || len(off.Followers) != 1 {
			t.Fatalf("MicOff() = %+v, %v; want 2 streams moved back and the follower ended", off, err)
		}
		select {
		case fr := <-done:
			// It may move the first stream again: pipewire-pulse answers a
			// move before the stream shows on its new sink.
			if fr == nil || !slices.ContainsFunc(fr.Moved, func(st audioloop.Stream) bool { return st.Index != r.Moved[0].Index }) {
				t.Errorf("FollowMic ended with %+v, want the new stream moved", fr)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("FollowMic did not end within 20s of MicOff")
		}
		waitFor(t, "both streams back on a", func() bool {
			sts, err := c.Streams()
			n := 0
			for _, st := range sts {
				if st.Sink == "a" {
					n++
				}
			}
			return err == nil && len(sts) == 3 && n == 3
		})
		if got := moduleList(t, s); !slices.Equal(got, before) {
			t.Errorf("after MicOff:\n%q\nwant as before\n%q", got, before)
		}
	})
}

// TestMicWithMic: a microphone mixed in: both tones are in the mic.
func TestMicWithMic(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		// b's monitor stands in for a real microphone.
		if _, err := c.MicOn(audioloop.MicRequest{From: "a", WithMic: "b.monitor", Name: "call"}); err != nil {
			t.Fatalf("MicOn(with b.monitor) = %v\n%s", err, s.Logs())
		}
		s.PlayTone(t, "a", 700, 0.3)
		s.PlayTone(t, "b", 1900, 0.3)
		lv := levels(t, s, []string{"call"}, 700, 1900)
		t.Logf("mic 700 Hz %.4f, 1900 Hz %.4f", lv[0][0], lv[0][1])
		if lv[0][0] < 0.05 || lv[0][1] < 0.05 {
			t.Errorf("mic: 700 Hz %.4f, 1900 Hz %.4f; want both", lv[0][0], lv[0][1])
		}
		if _, err := c.MicOff("call"); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMicErrors: an unknown sink or application lists what exists; the
// feedback guard; nothing is left behind.
func TestMicErrors(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		s.PlayAppTone(t, "a", 700, 0.3, "toneone")
		waitStreams(t, c, 1)
		before := moduleList(t, s)
		_, err := c.MicOn(audioloop.MicRequest{From: "nosuchthing"})
		var fe *audioloop.MicFromError
		if !errors.Is(err, audioloop.ErrNoMicFrom) || !errors.As(err, &fe) || len(fe.Sinks) != 2 || len(fe.Apps) != 1 || fe.Apps[0].App != "toneone" {
			t.Fatalf("MicOn(nosuchthing) = %v (%+v), want ErrNoMicFrom listing sinks a, b and app toneone", err, fe)
		}
		if _, err := c.MicOn(audioloop.MicRequest{From: "a", Name: "bad name"}); !errors.Is(err, audioloop.ErrBadMicName) {
			t.Errorf("MicOn(name with a space) = %v, want ErrBadMicName", err)
		}
		if _, err := c.MicOn(audioloop.MicRequest{From: "a", WithMic: "nosuchmic"}); !errors.Is(err, audioloop.ErrNoDevice) {
			t.Errorf("MicOn(with-mic unknown) = %v, want ErrNoDevice", err)
		}
		if got := moduleList(t, s); !slices.Equal(got, before) {
			t.Errorf("refused MicOn left modules:\n%q\nwant\n%q", got, before)
		}
		// Feedback: from the mic's own sink, with itself mixed in, or from a
		// sink a loopback plays the mic into.
		if _, err := c.MicOn(audioloop.MicRequest{From: "a"}); err != nil {
			t.Fatal(err)
		}
		for _, req := range []audioloop.MicRequest{{From: "loops-mic_feed"}, {From: "a", WithMic: "loops-mic"}} {
			if _, err := c.MicOn(req); !errors.Is(err, audioloop.ErrFeedback) {
				t.Errorf("MicOn(%+v) = %v, want ErrFeedback", req, err)
			}
		}
		echo := s.LoadModule(t, "module-loopback", "source=loops-mic sink=b latency_msec=30")
		_, err = c.MicOn(audioloop.MicRequest{From: "b"})
		var mfe *audioloop.MicFeedbackError
		if !errors.As(err, &mfe) || mfe.Module != echo {
			t.Errorf("MicOn(from b, where module %d plays the mic) = %v, want MicFeedbackError naming it", echo, err)
		}
		s.Pactl(t, "unload-module", itoa(echo))
		if _, err := c.MicOff(""); err != nil {
			t.Fatal(err)
		}
		if got := moduleList(t, s); !slices.Equal(got, before) {
			t.Errorf("after MicOff:\n%q\nwant\n%q", got, before)
		}
	})
}

// TestMicPersist: a persisted mic is back after the server restarts;
// UnpersistMic removes exactly its entries.
func TestMicPersist(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		r, err := c.MicOn(audioloop.MicRequest{From: "a"})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := audioloop.PersistMic(s.Options(), s.Kind, r.Mic); err != nil {
			t.Fatal(err)
		}
		c.Close()
		s.Restart()
		c = s.Connect(t)
		waitFor(t, "the mic after a restart", func() bool {
			mics, _, err := c.Mics()
			return err == nil && len(mics) == 1 && len(mics[0].Missing) == 0 && mics[0].FromSink == "a" && mics[0].Source.Index != audioloop.NoIndex
		})
		if _, n, err := audioloop.UnpersistMic(s.Options(), s.Kind, "loops-mic"); err != nil || n != len(r.Mic.Modules) {
			t.Fatalf("UnpersistMic() = %d, %v; want %d", n, err, len(r.Mic.Modules))
		}
		if _, err := c.MicOff(""); err != nil {
			t.Fatal(err)
		}
	})
}

// TestMicMeter: the meter reads the mic and what feeds it.
func TestMicMeter(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		if _, err := c.MicOn(audioloop.MicRequest{From: "a"}); err != nil {
			t.Fatal(err)
		}
		s.PlayTone(t, "a", 1000, 0.3)
		m, err := c.Meter(audioloop.MeterRequest{Mic: "loops-mic"})
		if err != nil {
			t.Fatalf("Meter(mic) = %v", err)
		}
		defer m.Close()
		rd := waitReading(t, m, func(rd audioloop.MeterReading) bool { return !rd.Source.Silent() && !rd.Sink.Silent() })
		if rd.Loopback == nil || rd.Source.Silent() || rd.Sink.Silent() || m.Sink.Name != "a" {
			t.Fatalf("Meter(mic).Read() = %+v (sink %s); want the mic and a with signal, through the mic's loopback", rd, m.Sink.Name)
		}
		c.MicOff("")
	})
}

func waitStreams(t *testing.T, c *audioloop.Client, n int) {
	t.Helper()
	waitFor(t, fmt.Sprintf("%d streams on a sink", n), func() bool {
		sts, err := c.Streams()
		return err == nil && len(sts) >= n && !slices.ContainsFunc(sts, func(st audioloop.Stream) bool { return st.Sink == "" })
	})
}

// waitFor polls f until it holds. The bound is generous: a loaded machine
// (a test run beside other work, CI) starts a player or answers a move
// slowly, and this waits for a state, it does not time one.
func waitFor(t *testing.T, what string, f func() bool) {
	t.Helper()
	const bound = 20 * time.Second
	deadline := time.Now().Add(bound)
	for !f() {
		if time.Now().After(deadline) {
			t.Fatalf("waited %v for %s", bound, what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestMicChangeFrom: MicOn with another --from changes only what differs,
// keeps the mic's source, and moves an application's streams back when it
// is no longer the one fed from.
func TestMicChangeFrom(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		s.PlayAppTone(t, "a", 700, 0.3, "toneone")
		s.PlayAppTone(t, "a", 1900, 0.3, "tonetwo")
		waitStreams(t, c, 2)
		first, err := c.MicOn(audioloop.MicRequest{From: "b"})
		if err != nil {
			t.Fatal(err)
		}
		r, err := c.MicOn(audioloop.MicRequest{From: "toneone"})
		if err != nil || r.Action != audioloop.ActionReplaced || r.Mic.Source.Index != first.Mic.Source.Index || len(r.Unloaded) != 1 || r.Unloaded[0].Role != audioloop.MicRoleFrom {
			t.Fatalf("MicOn(from toneone) after from b = %+v, %v; want the from loopback replaced, the source kept", r, err)
		}
		r, err = c.MicOn(audioloop.MicRequest{From: "tonetwo"})
		if err != nil || r.Mic.App != "tonetwo" || len(r.Mic.AppStreams) != 1 || r.Mic.AppStreams[0].App != "tonetwo" {
			t.Fatalf("MicOn(from tonetwo) = %+v, %v; want tonetwo's stream in the mic", r, err)
		}
		// PipeWire shows a moved stream on no sink for a moment.
		waitFor(t, "toneone's stream back on a", func() bool {
			sts, err := c.Streams()
			return err == nil && slices.ContainsFunc(sts, func(st audioloop.Stream) bool { return st.App == "toneone" && st.Sink == "a" })
		})
		lv := levels(t, s, []string{"loops-mic"}, 700, 1900)
		if lv[0][1] < 0.05 || audiolooptest.DB(lv[0][0], lv[0][1]) > -30 {
			t.Errorf("mic: 700 Hz %.4f, 1900 Hz %.4f; want tonetwo's 1900 Hz only", lv[0][0], lv[0][1])
		}
		if _, err := c.MicOff(""); err != nil {
			t.Fatal(err)
		}
	})
}
