package cli

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

func newAudioMicCmd(f *Factory, af *audioFlags) *cobra.Command {
	cmd := groupCmd("mic <command>",
		"A virtual microphone: a sink's or an application's sound, as a source calls can record",
		`A virtual microphone is a source that carries what plays to a sink, or
what one application plays, so that a call, a browser or a recorder can take
it as a microphone, while it is still heard. It is the usual recipe of
module-null-sink, module-remap-source and module-loopback, done in one step
and undone in one:

  NAME_feed   a null sink the mic's sound is played into
  NAME        a source remapped from NAME_feed's monitor: not a monitor, so
              browsers and call apps list it as a microphone
  NAME_app    (--from APP) a null sink the application's streams are moved
              to; loopbacks take them on to the sink they played to (still
              heard) and into NAME_feed

loops marks every module with loops.mic=NAME: 'on' twice changes nothing,
'off' removes exactly these, and 'loops audio off' leaves them alone.`)
	cmd.AddCommand(newAudioMicOnCmd(f, af, nil), newAudioMicOffCmd(f, af, nil), newAudioMicStatusCmd(f, af, nil), newAudioMicFollowCmd(f, af))
	return cmd
}

// micJSON is one mic in --json output.
type micJSON struct {
	Name        string         `json:"name"`
	Description string         `json:"description"`
	SourceIndex *int64         `json:"source_index"` // null: the source is missing
	State       string         `json:"state"`        // the source's: running, idle, suspended; "broken" when a module is missing
	FeedSink    string         `json:"feed_sink"`
	FromSink    string         `json:"from_sink,omitempty"`
	App         string         `json:"app,omitempty"`
	AppSink     string         `json:"app_sink,omitempty"`
	HearSink    string         `json:"hear_sink,omitempty"`
	WithMic     string         `json:"with_mic,omitempty"`
	LatencyMs   int            `json:"latency_ms"`
	AppStreams  []streamJSON   `json:"app_streams"`
	Follower    *int64         `json:"follower"` // the follower's client index, null when none runs
	Missing     []string       `json:"missing"`
	Modules     []micModJSON   `json:"modules"`
	Loopbacks   []loopbackJSON `json:"loopbacks"`
	Persistent  bool           `json:"persistent"`
	Level       *levelJSON     `json:"level,omitempty"`
}

type micModJSON struct {
	Index uint32 `json:"index"`
	Name  string `json:"name"`
	Role  string `json:"role"`
	Args  string `json:"args"`
}

type streamJSON struct {
	Index  uint32 `json:"index"`
	App    string `json:"app"`
	Binary string `json:"binary"`
	Media  string `json:"media"`
	Sink   string `json:"sink"`
}

func indexJSON(n uint32) *int64 {
	if n == audioloop.NoIndex {
		return nil
	}
	v := int64(n)
	return &v
}

func toStreamsJSON(sts []audioloop.Stream) []streamJSON {
	out := []streamJSON{}
	for _, s := range sts {
		out = append(out, streamJSON{Index: s.Index, App: s.App, Binary: s.Binary, Media: s.Media, Sink: s.Sink})
	}
	return out
}

func toMicJSON(m audioloop.Mic, persisted map[string]bool) micJSON {
	j := micJSON{Name: m.Name, Description: m.Description, SourceIndex: indexJSON(m.Source.Index), State: micState(m),
		FeedSink: m.FeedSink, FromSink: m.FromSink, App: m.App, AppSink: m.AppSink, HearSink: m.HearSink, WithMic: m.WithMic,
		LatencyMs: m.LatencyMsec, AppStreams: toStreamsJSON(m.AppStreams), Follower: indexJSON(m.Follower),
		Missing: append([]string{}, m.Missing...), Modules: []micModJSON{}, Loopbacks: []loopbackJSON{}}
	for _, mod := range m.Modules {
		j.Modules = append(j.Modules, micModJSON{mod.Index, mod.Name, mod.Role, mod.Args})
		j.Persistent = j.Persistent || persisted[mod.ID]
	}
	for _, lb := range m.Loopbacks {
		j.Loopbacks = append(j.Loopbacks, toLoopbackJSON(lb, persisted))
	}
	return j
}

func micState(m audioloop.Mic) string {
	if len(m.Missing) > 0 || m.Source.Index == audioloop.NoIndex {
		return "broken"
	}
	return m.Source.State
}

// micFeeds says what feeds a mic, in words.
func micFeeds(m micJSON) string {
	var s string
	switch {
	case m.App != "":
		s = fmt.Sprintf("application %s (%s, heard on %s)", m.App, plural(len(m.AppStreams), "stream", "streams"), dash(m.HearSink))
	case m.FromSink != "":
		s = "sink " + m.FromSink
	default:
		s = "nothing"
	}
	return s
}

// startFollower starts `loops audio mic follow NAME` in the background, in
// a session of its own, and waits until the server lists it.
func startFollower(c *audioloop.Client, af *audioFlags, name string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	args := []string{os.Args[0], "audio", "--timeout", af.opts.Timeout.String()}
	if af.opts.Server != "" {
		args = append(args, "--server", af.opts.Server)
	}
	args = append(args, "mic", "follow", name)
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	cmd := &exec.Cmd{Path: exe, Args: args, Stdin: null, Stdout: null, Stderr: null,
		SysProcAttr: &syscall.SysProcAttr{Setsid: true}}
	if err := cmd.Start(); err != nil {
		return err
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			return fmt.Errorf("the follower exited at once (%v)", err)
		case <-time.After(20 * time.Millisecond):
		}
		mics, _, err := c.Mics()
		if err != nil {
			return err
		}
		for _, m := range mics {
			if m.Name == name && m.Follower != audioloop.NoIndex {
				cmd.Process.Release()
				return nil
			}
		}
	}
	return fmt.Errorf("the follower (pid %d) did not register within 5s", cmd.Process.Pid)
}

// newAudioMicFollowCmd is the follower `mic on --from APP` starts: hidden,
// not for people.
func newAudioMicFollowCmd(f *Factory, af *audioFlags) *cobra.Command {
	return &cobra.Command{
		Use:    "follow <name>",
		Short:  "Move the streams a mic's application opens into the mic (started by 'mic on --from APP')",
		Hidden: true,
		Args:   exactArgs(1, "the mic's name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			c, err := af.connectF(audioloop.FollowerOptions(af.opts, args[0]))
			if err != nil {
				return audioHint(err, af.opts)
			}
			defer c.Close()
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			_, err = c.FollowMic(ctx, args[0])
			return err
		},
	}
}

// maxOneMicName: `mic off` and `mic status` take at most a mic's name.
func maxOneMicName(cmd *cobra.Command, args []string) error {
	if len(args) > 1 {
		return flagErrorf("%s takes at most one mic name (got %d arguments)", cmd.CommandPath(), len(args))
	}
	return nil
}

// micPersisted is the set of loops.id marks in the startup configuration.
func micPersisted(o audioloop.Options, kind string) map[string]bool {
	entries, _, _ := audioloop.Persisted(o, kind)
	m := map[string]bool{}
	for _, e := range entries {
		m[e.ID] = true
	}
	return m
}

func roleList(mods []audioloop.MicModule) string {
	var s []string
	for _, m := range mods {
		s = append(s, fmt.Sprintf("%s %d", m.Role, m.Index))
	}
	return strings.Join(s, ", ")
}
