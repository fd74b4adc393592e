package audioloop_test

import (
	"errors"
	"strings"
	"testing"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/audioloop/audiolooptest"
)

// FuzzQuoteModuleArg: any value QuoteModuleArg accepts parses back to itself
// inside a full module-loopback argument string, next to the other keys.
func FuzzQuoteModuleArg(f *testing.F) {
	for _, s := range []string{"a.monitor", "USB Mic", `say "hi"`, "it's", `both ' and "`, "", "x=y", "tab\there", `back\slash`, "ünïcødé ☃", " lead", "trail "} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		args, err := audioloop.LoopbackArgs(name, "sink "+name, 50e6)
		if err != nil {
			if !errors.Is(err, audioloop.ErrUnquotable) {
				t.Fatalf("LoopbackArgs(%q) = %v, want nil or ErrUnquotable", name, err)
			}
			if !strings.ContainsAny(name, "\\") && !(strings.Contains(name, `"`) && strings.Contains(name, "'")) && !hasControl(name) {
				t.Fatalf("LoopbackArgs(%q) refused a quotable name: %v", name, err)
			}
			return
		}
		kv, err := audioloop.ParseModuleArgs(args)
		if err != nil {
			t.Fatalf("ParseModuleArgs(%q) = %v", args, err)
		}
		if kv["source"] != name || kv["sink"] != "sink "+name || kv["latency_msec"] != "50" {
			t.Fatalf("round trip of %q through %q = %q", name, args, kv)
		}
		if !strings.HasPrefix(kv["sink_input_properties"], audioloop.MarkProperty+"=") {
			t.Fatalf("mark lost in %q", args)
		}
	})
}

func hasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// TestModuleArgsThroughServer: names with spaces and quotes survive the
// round trip through the server's own argument parser: a null sink named so
// (PulseAudio replaces characters it does not allow in names by '_'), and on
// PipeWire, which allows any name, a loopback from its monitor.
func TestModuleArgsThroughServer(t *testing.T) {
	names := []string{"plain", "USB Mic", `say "hi"`, "it's mine", "x=y z"}
	eachServer(t, func(t *testing.T, s *audiolooptest.Server) {
		c := s.Connect(t)
		for _, name := range names {
			q, err := audioloop.QuoteModuleArg(name)
			if err != nil {
				t.Fatal(err)
			}
			s.LoadModule(t, "module-null-sink", "sink_name="+q)
			want := name
			if s.Kind == audiolooptest.PulseAudio {
				want = strings.Map(func(r rune) rune {
					if r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '.' || r == '-' {
						return r
					}
					return '_'
				}, name)
			}
			sinks, err := c.Sinks()
			if err != nil {
				t.Fatal(err)
			}
			found := false
			for _, d := range sinks {
				found = found || d.Name == want
			}
			if !found {
				t.Fatalf("sink_name=%s: no sink %q in %+v", q, want, sinks)
			}
			r, err := c.On(audioloop.OnRequest{Source: want + ".monitor", Sink: "b"})
			if err != nil {
				t.Fatalf("On(%q.monitor) = %v", want, err)
			}
			if r.Loopback.ArgSource != want+".monitor" {
				t.Fatalf("module args %q read back source %q, want %q", r.Loopback.Args, r.Loopback.ArgSource, want+".monitor")
			}
			if _, err := c.Off(audioloop.OffRequest{}); err != nil {
				t.Fatal(err)
			}
		}
	})
}
