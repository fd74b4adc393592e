package cli

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

// audioFlags are the connection flags every `loops audio` command takes.
type audioFlags struct {
	opts     audioloop.Options
	connectF func(audioloop.Options) (*audioloop.Client, error)
}

func newAudioCmd(f *Factory) *cobra.Command {
	af := &audioFlags{connectF: f.Audio}
	cmd := groupCmd("audio <command>",
		"Turn the sound server's loopback on and off, safely, and measure it",
		`The audio loopback echoes a source (line-in, a microphone, a sink's monitor)
to a sink, through the sound server's module-loopback: what
'pactl load-module module-loopback' does, on PulseAudio and on PipeWire.

loops marks its loopbacks (stream property loops.id), so 'on' twice changes
nothing and 'off' removes only loops' ones; it refuses a source that is the
sink's own monitor (endless feedback); it always passes the latency (default
50 ms), so both servers behave the same.

This is not the network loopback (see 'loops net') nor loop devices (see
'loops block'). The sound server is per user: run these commands as
yourself, not with sudo (under sudo loops talks to the invoking user's
server).`)
	cmd.PersistentFlags().StringVar(&af.opts.Server, "server", "", "connect to this `server` (a socket path, unix:PATH or tcp:HOST[:PORT]) instead of finding it like libpulse")
	cmd.PersistentFlags().DurationVar(&af.opts.Timeout, "timeout", audioloop.DefaultTimeout, "give up on the server after this long per request")
	cmd.AddCommand(
		newAudioOnCmd(f, af, nil),
		newAudioOffCmd(f, af, nil),
		newAudioStatusCmd(f, af, nil),
		newAudioDevicesCmd(f, af, "sources", nil),
		newAudioDevicesCmd(f, af, "sinks", nil),
		newAudioMeasureCmd(f, af, nil),
		newAudioMeterCmd(f, af, nil),
		newAudioMicCmd(f, af),
	)
	return cmd
}

// open connects to the sound server, with errors a person can act on.
func (af *audioFlags) open() (*audioloop.Client, error) {
	c, err := af.connectF(af.opts)
	if err == nil {
		return c, nil
	}
	return nil, audioHint(err, af.opts)
}

// soundServers lists running pulseaudio and pipewire-pulse processes.
func soundServers() []string {
	var out []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "comm"))
		if err != nil {
			continue
		}
		comm := strings.TrimSpace(string(b))
		if comm != "pulseaudio" && comm != "pipewire-pulse" {
			continue
		}
		uid := ""
		if st, err := os.ReadFile(filepath.Join("/proc", d.Name(), "status")); err == nil {
			for _, l := range strings.Split(string(st), "\n") {
				if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" {
					uid = f[1]
				}
			}
		}
		out = append(out, fmt.Sprintf("%s pid %s uid %s", comm, d.Name(), uid))
	}
	return out
}

func msString(ms int) string {
	if ms == 0 {
		return "server default"
	}
	return (time.Duration(ms) * time.Millisecond).String()
}

// loopbackJSON is one loopback in --json output.
type loopbackJSON struct {
	Module       uint32 `json:"module"`
	Loops        bool   `json:"loops"`
	ID           string `json:"id,omitempty"`
	Source       string `json:"source"`
	Sink         string `json:"sink"`
	ArgSource    string `json:"arg_source"`
	ArgSink      string `json:"arg_sink"`
	LatencyMs    int    `json:"latency_ms"`
	State        string `json:"state"`
	SinkInput    *int64 `json:"sink_input"`
	SourceOutput *int64 `json:"source_output"`
	Persistent   bool   `json:"persistent"`
	Args         string `json:"args"`
}

func toLoopbackJSON(lb audioloop.Loopback, persisted map[string]bool) loopbackJSON {
	idx := func(n uint32) *int64 {
		if n == audioloop.NoIndex {
			return nil
		}
		v := int64(n)
		return &v
	}
	return loopbackJSON{Module: lb.Module, Loops: lb.Loops, ID: lb.ID, Source: lb.Source, Sink: lb.Sink,
		ArgSource: lb.ArgSource, ArgSink: lb.ArgSink, LatencyMs: lb.LatencyMsec, State: lb.State,
		SinkInput: idx(lb.SinkInput), SourceOutput: idx(lb.SourceOutput),
		Persistent: lb.Loops && persisted[lb.ID], Args: lb.Args}
}
