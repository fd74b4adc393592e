package audioloop_test

import (
	"errors"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, audiolooptest.ServerDirs)) }

// eachServer runs f against a private PulseAudio and a private PipeWire.
func eachServer(t *testing.T, f func(t *testing.T, s *audiolooptest.Server), sinks ...audiolooptest.Sink) {
	for _, kind := range audiolooptest.Kinds {
		t.Run(kind, func(t *testing.T) {
			f(t, audiolooptest.Start(t, kind, sinks...))
		})
	}
}

func loopbacks(t *testing.T, c *audioloop.Client) []audioloop.Loopback {
	t.Helper()
	lbs, err := c.Loopbacks()
	if err != nil {
		t.Fatalf("Loopbacks() = %v", err)
	}
	return lbs
}

// TestConnectNoServer: with nothing listening, Connect fails fast with
// ErrNoServer and names every address it tried; a server that accepts but
// never answers fails within the timeout too.
func TestConnectNoServer(t *testing.T) {
	dir := t.TempDir()
	env := map[string]string{"XDG_RUNTIME_DIR": dir, "HOME": dir}
	start := time.Now()
	_, err := audioloop.Connect(audioloop.Options{Env: func(k string) string { return env[k] }})
	if !errors.Is(err, audioloop.ErrNoServer) {
		t.Fatalf("Connect() = %v, want ErrNoServer", err)
	}
	if !strings.Contains(err.Error(), filepath.Join(dir, "pulse", "native")) {
		t.Errorf("error %q does not name %s", err, filepath.Join(dir, "pulse", "native"))
	}
	// A hung server: accepts, never answers.
	sock := filepath.Join(dir, "hung")
	l, err := net.Listen("unix", sock)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	start = time.Now()
	_, err = audioloop.Connect(audioloop.Options{Server: "unix:" + sock})
	if !errors.Is(err, audioloop.ErrNoServer) || !errors.Is(err, audioloop.ErrServerGone) {
		t.Errorf("Connect(hung) = %v, want ErrNoServer and ErrServerGone", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Connect(hung) took %v, want < 2s", d)
	}
}

// TestCandidates: discovery order like libpulse, and under sudo the
// invoking user's socket first.
func TestCandidates(t *testing.T) {
	env := map[string]string{"XDG_RUNTIME_DIR": "/x"}
	o := audioloop.Options{Env: func(k string) string { return env[k] }}
	got := o.Candidates()
	if len(got) < 1 || got[0] != "/x/pulse/native" || !strings.HasPrefix(got[len(got)-1], "/run/user/") {
		t.Errorf("Candidates() = %q, want /x/pulse/native then /run/user/UID/pulse/native", got)
	}
	env["PULSE_SERVER"] = "unix:/p tcp:host {othermachine}/q"
	if got := o.Candidates(); len(got) != 2 || got[0] != "/p" || got[1] != "tcp:host:4713" {
		t.Errorf("Candidates() with PULSE_SERVER = %q, want [/p tcp:host:4713]", got)
	}
	o.Server = "/s"
	if got := o.Candidates(); len(got) != 1 || got[0] != "/s" {
		t.Errorf("Candidates() with Server = %q, want [/s]", got)
	}
	if os.Geteuid() == 0 {
		delete(env, "PULSE_SERVER")
		o.Server = ""
		env["SUDO_UID"] = "1234"
		if got := o.Candidates(); got[0] != "/run/user/1234/pulse/native" {
			t.Errorf("Candidates() under sudo = %q, want /run/user/1234/pulse/native first", got)
		}
	}
}

// TestCredentialsWithoutCookie: with no readable cookie, PulseAudio accepts
// every connection because loops sends its credentials (v0.1.1 alone
// fails about half the time).
func TestCredentialsWithoutCookie(t *testing.T) {
	s := audiolooptest.Start(t, audiolooptest.PulseAudio)
	o := s.Options()
	o.Cookie = filepath.Join(t.TempDir(), "no-cookie")
	for i := 0; i < 40; i++ {
		c, err := audioloop.Connect(o)
		if err != nil {
			t.Fatalf("connection %d without a cookie: %v", i, err)
		}
		if _, err := c.ServerInfo(); err != nil {
			t.Fatalf("connection %d: ServerInfo() = %v", i, err)
		}
		c.Close()
	}
}

// TestServerInfo: the kind comes from the server's package name.
func TestServerInfo(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		si, err := s.Connect(t).ServerInfo()
		if err != nil || si.Kind != s.Kind {
			t.Fatalf("ServerInfo() = %+v, %v; want kind %s", si, err, s.Kind)
		}
	})
}

// TestOnIdempotentAndReplace: a second identical On changes nothing, On with
// another latency replaces loops' loopback for the pair, Off removes it.
func TestOnIdempotentAndReplace(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		req := audioloop.OnRequest{Source: "a.monitor", Sink: "b", Latency: 20 * time.Millisecond}
		r, err := c.On(req)
		if err != nil {
			t.Fatalf("On(%+v) = %v", req, err)
		}
		if r.Action != audioloop.ActionLoaded || !r.Loopback.Loops || r.Loopback.LatencyMsec != 20 {
			t.Fatalf("On() = %+v, want a loaded loops loopback with 20 ms", r)
		}
		first := r.Loopback.Module
		r, err = c.On(req)
		if err != nil || r.Action != audioloop.ActionUnchanged || r.Loopback.Module != first {
			t.Fatalf("second On() = %+v, %v; want unchanged module %d", r, err, first)
		}
		if n := len(loopbacks(t, c)); n != 1 {
			t.Fatalf("after two On: %d loopbacks, want 1", n)
		}
		req.Latency = 50 * time.Millisecond
		r, err = c.On(req)
		if err != nil || r.Action != audioloop.ActionReplaced || len(r.Replaced) != 1 || r.Replaced[0] != first {
			t.Fatalf("On(50ms) = %+v, %v; want replaced %d", r, err, first)
		}
		lbs := loopbacks(t, c)
		if len(lbs) != 1 || lbs[0].LatencyMsec != 50 || lbs[0].ArgSource != "a.monitor" || lbs[0].ArgSink != "b" {
			t.Fatalf("after replace: %+v, want one a.monitor→b 50 ms", lbs)
		}
		// The real route, read from the streams.
		deadline := time.Now().Add(2 * time.Second)
		for lbs[0].Source == "" || lbs[0].Sink == "" {
			if time.Now().After(deadline) {
				t.Fatalf("streams of %+v never appeared", lbs[0])
			}
			time.Sleep(20 * time.Millisecond)
			lbs = loopbacks(t, c)
		}
		if lbs[0].Source != "a.monitor" || lbs[0].Sink != "b" {
			t.Errorf("real route %s→%s, want a.monitor→b", lbs[0].Source, lbs[0].Sink)
		}
		off, err := c.Off(audioloop.OffRequest{})
		if err != nil || len(off.Unloaded) != 1 {
			t.Fatalf("Off() = %+v, %v; want one unloaded", off, err)
		}
		if n := len(loopbacks(t, c)); n != 0 {
			t.Errorf("after Off: %d loopbacks, want 0", n)
		}
	})
}

// TestFeedbackGuard: a sink's own monitor as source is refused, also when it
// comes from the defaults; Force loads it with a warning.
func TestFeedbackGuard(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		_, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "a"})
		var fe *audioloop.FeedbackError
		if !errors.Is(err, audioloop.ErrFeedback) || !errors.As(err, &fe) || fe.Defaults {
			t.Fatalf("On(a.monitor→a) = %v, want ErrFeedback", err)
		}
		if s.Kind == audiolooptest.PulseAudio { // the test PipeWire picks no default source
			_, err = c.On(audioloop.OnRequest{})
			if !errors.As(err, &fe) || !fe.Defaults {
				t.Fatalf("On(defaults a.monitor→a) = %v, want ErrFeedback about the defaults", err)
			}
		}
		if n := len(loopbacks(t, c)); n != 0 {
			t.Fatalf("refused On loaded %d loopbacks", n)
		}
		r, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "a", Force: true})
		if err != nil || len(r.Warnings) == 0 || r.Warnings[0] != (audioloop.FeedbackWarning{Source: "a.monitor", Sink: "a"}) {
			t.Fatalf("On(Force) = %+v, %v; want loaded with a feedback warning", r, err)
		}
		if _, err := c.Off(audioloop.OffRequest{}); err != nil {
			t.Fatal(err)
		}
	})
}

// TestOffSparesOthers: Off leaves loopbacks loops did not load; Off{All}
// removes them too.
func TestOffSparesOthers(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		other := s.LoadModule(t, "module-loopback", "source=b.monitor sink=a latency_msec=30")
		if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b"}); err != nil {
			t.Fatal(err)
		}
		off, err := c.Off(audioloop.OffRequest{})
		if err != nil || len(off.Unloaded) != 1 || len(off.Spared) != 1 || off.Spared[0].Module != other {
			t.Fatalf("Off() = %+v, %v; want ours unloaded and module %d spared", off, err, other)
		}
		lbs := loopbacks(t, c)
		if len(lbs) != 1 || lbs[0].Module != other || lbs[0].Loops {
			t.Fatalf("after Off: %+v, want only module %d", lbs, other)
		}
		off, err = c.Off(audioloop.OffRequest{All: true})
		if err != nil || len(off.Unloaded) != 1 || off.Unloaded[0].Module != other {
			t.Fatalf("Off(All) = %+v, %v; want module %d unloaded", off, err, other)
		}
	})
}

// TestUnloadRechecks: a stale index that now names another module (PipeWire
// reuses numbers at once) is not unloaded.
func TestUnloadRechecks(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b"}); err != nil {
			t.Fatal(err)
		}
		stale := loopbacks(t, c)[0]
		s.Pactl(t, "unload-module", itoa(stale.Module))
		sink := s.LoadModule(t, "module-null-sink", "sink_name=reused")
		ok, err := c.Unload(stale)
		if err != nil || ok {
			t.Fatalf("Unload(stale %d) = %v, %v; want false, nil", stale.Module, ok, err)
		}
		if out := s.Pactl(t, "list", "sinks", "short"); !strings.Contains(out, "reused") {
			t.Fatalf("null sink (module %d) is gone after a stale unload of %d:\n%s", sink, stale.Module, out)
		}
	})
}

// TestDeviceByDescription: devices by a unique part of their description;
// an ambiguous part lists the candidates.
func TestDeviceByDescription(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		r, err := c.On(audioloop.OnRequest{Source: "monitor of loops test a", Sink: "Test B"})
		if err != nil || r.Source.Name != "a.monitor" || r.Sink.Name != "b" {
			t.Fatalf("On(by description) = %+v, %v; want a.monitor→b", r, err)
		}
		_, err = c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "Loops Test"})
		var de *audioloop.DeviceError
		if !errors.Is(err, audioloop.ErrAmbiguous) || !errors.As(err, &de) || len(de.Candidates) != 2 {
			t.Fatalf("On(sink \"Loops Test\") = %v, want ErrAmbiguous with 2 candidates", err)
		}
		_, err = c.On(audioloop.OnRequest{Source: "nothing like it", Sink: "b"})
		if !errors.Is(err, audioloop.ErrNoDevice) {
			t.Fatalf("On(unknown source) = %v, want ErrNoDevice", err)
		}
		c.Off(audioloop.OffRequest{})
	})
}

// TestRealRouteAfterUnplug: when the sink goes away the server moves the
// stream; Loopbacks reports where it is now, not the stale argument.
func TestRealRouteAfterUnplug(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		sinkC := s.LoadModule(t, "module-null-sink", "sink_name=c")
		if _, err := c.On(audioloop.OnRequest{Source: "b.monitor", Sink: "c"}); err != nil {
			t.Fatal(err)
		}
		s.Pactl(t, "unload-module", itoa(sinkC))
		deadline := time.Now().Add(3 * time.Second)
		for {
			lbs := loopbacks(t, c)
			if len(lbs) == 1 && lbs[0].ArgSink == "c" && lbs[0].Sink != "" && lbs[0].Sink != "c" && lbs[0].State != "unlinked" {
				return // moved, and we see it
			}
			if len(lbs) == 1 && lbs[0].ArgSink == "c" && lbs[0].Sink == "" && lbs[0].State == "unlinked" {
				return // on no sink (no default to move to), and we say so
			}
			if len(lbs) == 0 {
				return // some servers unload the loopback instead: also honest
			}
			if time.Now().After(deadline) {
				t.Fatalf("after unplugging c: %+v, want the real sink (not c)", lbs)
			}
			time.Sleep(50 * time.Millisecond)
		}
	})
}

// TestServerKilled: the server dying mid-command gives ErrServerGone, fast.
func TestServerKilled(t *testing.T) {
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		if _, err := c.On(audioloop.OnRequest{Source: "a.monitor", Sink: "b"}); err != nil {
			t.Fatal(err)
		}
		s.Kill()
		start := time.Now()
		_, err := c.Loopbacks()
		if !errors.Is(err, audioloop.ErrServerGone) {
			t.Fatalf("Loopbacks() after kill = %v, want ErrServerGone", err)
		}
		_, err = c.Off(audioloop.OffRequest{})
		if !errors.Is(err, audioloop.ErrServerGone) {
			t.Fatalf("Off() after kill = %v, want ErrServerGone", err)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("errors took %v, want < 2s", d)
		}
	})
}

func itoa(n uint32) string { return strconv.FormatUint(uint64(n), 10) }
