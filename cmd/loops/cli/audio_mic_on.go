package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioMicOnOptions struct {
	IO          *IOStreams
	Audio       *audioFlags
	From        string
	Name        string
	Description string
	WithMic     string
	Latency     time.Duration
	Persist     bool
	JSON        bool
}

func newAudioMicOnCmd(f *Factory, af *audioFlags, runF func(*audioMicOnOptions) error) *cobra.Command {
	opts := &audioMicOnOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "on [--from <sink|app>] [--name <name>] [--with-mic <source>] [--persist]",
		Short: "Turn a virtual microphone on: a sink's or an application's sound as a source",
		Long: `Make a source (default name loops-mic, shown as "Loops Mic") that carries:

  --from SINK   what plays to that sink (name, index or part of its
                description; default: the default sink), still heard there;
  --from APP    what an application plays (application.name or binary, as
                'pactl list sink-inputs' shows them, any case): its streams
                are moved through the mic's own sink to where they played,
                so they are still heard; streams it opens later follow (a
                small 'loops audio mic follow' process waits for them and
                ends with the mic or the server);
  --with-mic S  and a real microphone mixed in, so your voice and the
                shared sound both reach the call.

"sink:X" or "app:X" says which one X is when a name is both. Like the three
or four 'pactl load-module' commands of the usual recipe (module-null-sink,
module-remap-source, module-loopback), but: a second identical 'on' changes
nothing; 'on' with other options changes only what differs and keeps the
mic's source, so apps recording it keep it; a mic that would hear itself
(fed from its own sink, or from a sink a loopback plays the mic into) is
refused. --persist writes it into the server's startup configuration, like
'loops audio on --persist' (not with an application: its streams need loops
running). 'loops audio mic off' undoes it all.

Needs no privilege.`,
		Example: `  $ loops audio mic on
  $ loops audio mic on --from firefox --with-mic "USB Mic"
  $ loops audio mic on --from alsa_output.pci-0000_00_1f.3.analog-stereo --name desktop --persist`,
		Args: exactArgs(0, "no arguments (use --from)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Latency < time.Millisecond || opts.Latency > 30*time.Second {
				return flagErrorf("--latency %v is out of range: give 1ms … 30s", opts.Latency)
			}
			if runF != nil {
				return runF(opts)
			}
			return audioMicOnRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.From, "from", "", "the `sink or application` whose sound goes into the mic (default: the default sink)")
	cmd.Flags().StringVar(&opts.Name, "name", audioloop.DefaultMicName, "the mic's source `name`")
	cmd.Flags().StringVar(&opts.Description, "description", "", "what apps show in their device list (default \"Loops Mic\")")
	cmd.Flags().StringVar(&opts.WithMic, "with-mic", "", "a `source` (a real microphone) to mix in")
	cmd.Flags().DurationVar(&opts.Latency, "latency", audioloop.DefaultLatency, "`latency` of the mic's loopbacks, 1ms … 30s")
	cmd.Flags().BoolVar(&opts.Persist, "persist", false, "also write it into the sound server's startup configuration")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the mic as JSON")
	return cmd
}

type audioMicOnJSON struct {
	Schema      int          `json:"schema"`
	Action      string       `json:"action"`
	Mic         micJSON      `json:"mic"`
	Loaded      []micModJSON `json:"loaded"`
	Unloaded    []micModJSON `json:"unloaded"`
	Moved       []streamJSON `json:"moved"`
	PersistFile string       `json:"persist_file,omitempty"`
}

func audioMicOnRun(opts *audioMicOnOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.MicOn(audioloop.MicRequest{Name: opts.Name, Description: opts.Description, From: opts.From, WithMic: opts.WithMic, Latency: opts.Latency})
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	m := r.Mic
	if m.App != "" && m.Follower == audioloop.NoIndex {
		if err := startFollower(c, opts.Audio, m.Name); err != nil {
			return fmt.Errorf("the mic is on, but streams %s opens later will not follow: %w", m.App, err)
		}
		if mics, _, err := c.Mics(); err == nil {
			for _, x := range mics {
				if x.Name == m.Name {
					m = x
				}
			}
		}
	}
	persistFile := ""
	if opts.Persist {
		if m.App != "" {
			return withHint(fmt.Errorf("the mic is on, but not written into the startup configuration: it is fed from an application"),
				"An application's streams are moved by 'loops audio mic follow', which the server's startup cannot run. Persist a mic fed from a sink (--from SINK) instead, or run 'loops audio mic on --from %s' after each login.", m.App)
		}
		if persistFile, err = audioloop.PersistMic(opts.Audio.opts, r.Server.Kind, m); err != nil {
			return fmt.Errorf("the mic is on, but writing it into the startup configuration failed: %w", err)
		}
	}
	if opts.JSON {
		doc := audioMicOnJSON{Schema: schemaVersion, Action: r.Action, Mic: toMicJSON(m, micPersisted(opts.Audio.opts, r.Server.Kind)),
			Loaded: []micModJSON{}, Unloaded: []micModJSON{}, Moved: toStreamsJSON(r.Moved), PersistFile: persistFile}
		for _, x := range r.Loaded {
			doc.Loaded = append(doc.Loaded, micModJSON{x.Index, x.Name, x.Role, x.Args})
		}
		for _, x := range r.Unloaded {
			doc.Unloaded = append(doc.Unloaded, micModJSON{x.Index, x.Name, x.Role, x.Args})
		}
		return writeJSON(opts.IO.Out, doc)
	}
	what := fmt.Sprintf("%s (%q), fed from %s", m.Name, m.Description, micFeeds(toMicJSON(m, nil)))
	if m.WithMic != "" {
		what += " + microphone " + m.WithMic
	}
	switch r.Action {
	case audioloop.ActionUnchanged:
		fmt.Fprintf(opts.IO.ErrOut, "Already on: %s; nothing changed\n", what)
	case audioloop.ActionReplaced:
		fmt.Fprintf(opts.IO.ErrOut, "Mic changed: %s (loaded %s; unloaded %s)\n", what, dash(roleList(r.Loaded)), dash(roleList(r.Unloaded)))
	default:
		fmt.Fprintf(opts.IO.ErrOut, "Mic on: %s (modules %s)\n", what, roleList(r.Loaded))
	}
	if len(r.Moved) > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "Moved %s of %s into the mic; 'loops audio mic off' moves them back to %s\n", plural(len(r.Moved), "stream", "streams"), m.App, m.HearSink)
	}
	if r.Action == audioloop.ActionLoaded {
		fmt.Fprintf(opts.IO.ErrOut, "Choose %q as the microphone in the call or recorder; 'loops audio mic off' undoes it\n", m.Description)
	}
	if persistFile != "" {
		fmt.Fprintf(opts.IO.ErrOut, "Persistent: written to %s\n", persistFile)
	}
	return nil
}
