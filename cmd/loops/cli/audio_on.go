package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioOnOptions struct {
	IO      *IOStreams
	Audio   *audioFlags
	Source  string
	Sink    string
	Latency time.Duration
	Force   bool
	Persist bool
	JSON    bool
}

func newAudioOnCmd(f *Factory, af *audioFlags, runF func(*audioOnOptions) error) *cobra.Command {
	opts := &audioOnOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "on [--source <source>] [--sink <sink>] [--latency <duration>] [--persist]",
		Short: "Echo a source to a sink (like pactl load-module module-loopback)",
		Long: `Load one loopback from a source to a sink, like
'pactl load-module module-loopback source=S sink=K latency_msec=N', safely:

  - the source and sink default to the server's defaults, and may be given
    by name, by index, or by a unique part of their description ("USB Mic");
  - a second identical 'on' changes nothing; 'on' with another latency
    replaces loops' loopback for that pair instead of adding a second echo;
  - a source that is the sink's own monitor is refused (it would echo its
    own output forever) unless --force;
  - the latency (default 50ms) is always passed, so PulseAudio (200 ms by
    default) and PipeWire (none) behave the same;
  - --persist also writes it into the server's startup configuration
    (default.pa for PulseAudio, pipewire-pulse.conf.d for PipeWire), so it
    comes back after a restart; 'loops audio off --persist' removes it.

Needs no privilege.`,
		Example: `  $ loops audio on
  $ loops audio on --source "USB Mic" --sink alsa_output.pci-0000_00_1f.3.analog-stereo
  $ loops audio on --source bluez_source.AA_BB_CC_DD_EE_FF.a2dp_source --latency 100ms --persist`,
		Args: exactArgs(0, "no arguments (use --source and --sink)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Latency < time.Millisecond || opts.Latency > 30*time.Second {
				return flagErrorf("--latency %v is out of range: give 1ms … 30s", opts.Latency)
			}
			if runF != nil {
				return runF(opts)
			}
			return audioOnRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "the `source` to echo: name, index or part of its description (default: the default source)")
	cmd.Flags().StringVar(&opts.Sink, "sink", "", "the `sink` to echo to (default: the default sink)")
	cmd.Flags().DurationVar(&opts.Latency, "latency", audioloop.DefaultLatency, "end-to-end `latency` to ask for, 1ms … 30s")
	cmd.Flags().BoolVar(&opts.Force, "force", false, "load it even when the source is the sink's own monitor (feedback)")
	cmd.Flags().BoolVar(&opts.Persist, "persist", false, "also write it into the sound server's startup configuration")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print the resulting loopback as JSON")
	return cmd
}

type audioOnJSON struct {
	Schema      int          `json:"schema"`
	Action      string       `json:"action"`
	Loopback    loopbackJSON `json:"loopback"`
	Replaced    []uint32     `json:"replaced"`
	Warnings    []string     `json:"warnings"`
	PersistFile string       `json:"persist_file,omitempty"`
}

func audioOnRun(opts *audioOnOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.On(audioloop.OnRequest{Source: opts.Source, Sink: opts.Sink, Latency: opts.Latency, Force: opts.Force})
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	persistFile := ""
	if opts.Persist {
		if persistFile, err = audioloop.Persist(opts.Audio.opts, r.Server.Kind, r.Loopback.Args); err != nil {
			return fmt.Errorf("the loopback is on (module %d), but writing it into the startup configuration failed: %w", r.Loopback.Module, err)
		}
	}
	warnings := []string{}
	for _, w := range r.Warnings {
		warnings = append(warnings, audioWarning(w))
		fmt.Fprintf(opts.IO.ErrOut, "warning: %s\n", audioWarning(w))
	}
	if opts.JSON {
		doc := audioOnJSON{Schema: schemaVersion, Action: r.Action, Loopback: toLoopbackJSON(r.Loopback, map[string]bool{r.Loopback.ID: opts.Persist}),
			Replaced: r.Replaced, Warnings: warnings, PersistFile: persistFile}
		if doc.Replaced == nil {
			doc.Replaced = []uint32{}
		}
		return writeJSON(opts.IO.Out, doc)
	}
	route := fmt.Sprintf("%s -> %s, latency %s (module %d)", r.Source.Name, r.Sink.Name, msString(r.Loopback.LatencyMsec), r.Loopback.Module)
	switch r.Action {
	case audioloop.ActionUnchanged:
		fmt.Fprintf(opts.IO.ErrOut, "Already on: %s; nothing changed\n", route)
	case audioloop.ActionReplaced:
		fmt.Fprintf(opts.IO.ErrOut, "Loopback on: %s; replaced loops' previous one (module %v)\n", route, r.Replaced)
	default:
		fmt.Fprintf(opts.IO.ErrOut, "Loopback on: %s\n", route)
	}
	if persistFile != "" {
		fmt.Fprintf(opts.IO.ErrOut, "Persistent: written to %s\n", persistFile)
	}
	return nil
}

// audioWarning says a risk On took, with what undoes it.
func audioWarning(w audioloop.Warning) string {
	if d, ok := w.(audioloop.DoubledWarning); ok {
		return d.String() + " ('loops audio off --all' removes it)"
	}
	return w.String()
}
