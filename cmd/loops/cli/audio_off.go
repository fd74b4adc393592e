package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioOffOptions struct {
	IO      *IOStreams
	Audio   *audioFlags
	All     bool
	Persist bool
	JSON    bool
}

func newAudioOffCmd(f *Factory, af *audioFlags, runF func(*audioOffOptions) error) *cobra.Command {
	opts := &audioOffOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "off [--all] [--persist]",
		Short: "Turn off loops' loopbacks (like pactl unload-module)",
		Long: `Unload loops' loopbacks, like 'pactl unload-module N' for each, without
having to remember N. Loopbacks loaded by something else are left alone and
listed; --all unloads them too.

The loopbacks of a virtual microphone stay, with --all too: 'loops audio
mic off' removes a mic with everything it made.

Each module is re-read just before it is unloaded: PipeWire reuses module
numbers at once, so a number read a moment ago may name another module.

--persist also removes loops' loopbacks from the server's startup
configuration (written by 'loops audio on --persist').

Needs no privilege.`,
		Example: "  $ loops audio off\n  $ loops audio off --all\n  $ loops audio off --persist",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return audioOffRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "also unload loopbacks that loops did not load")
	cmd.Flags().BoolVar(&opts.Persist, "persist", false, "also remove loops' loopbacks from the startup configuration")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was unloaded as JSON")
	return cmd
}

type audioOffJSON struct {
	Schema         int            `json:"schema"`
	Unloaded       []loopbackJSON `json:"unloaded"`
	Spared         []loopbackJSON `json:"spared"`
	Gone           []loopbackJSON `json:"gone"`
	PersistFile    string         `json:"persist_file,omitempty"`
	PersistRemoved int            `json:"persist_removed"`
}

func audioOffRun(opts *audioOffOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	if opts.All {
		// List the others before unloading them.
		lbs, err := c.Loopbacks()
		if err != nil {
			return audioHint(err, opts.Audio.opts)
		}
		for _, lb := range lbs {
			if !lb.Loops {
				fmt.Fprintf(opts.IO.ErrOut, "Unloading module %d (not loops'): %s\n", lb.Module, lb.Args)
			}
		}
	}
	r, err := c.Off(audioloop.OffRequest{All: opts.All})
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	file, removed := "", 0
	if opts.Persist {
		if file, removed, err = audioloop.Unpersist(opts.Audio.opts, r.Server.Kind); err != nil {
			return fmt.Errorf("removing loops' loopbacks from %s: %w", file, err)
		}
	}
	if opts.JSON {
		doc := audioOffJSON{Schema: schemaVersion, Unloaded: []loopbackJSON{}, Spared: []loopbackJSON{}, Gone: []loopbackJSON{},
			PersistFile: file, PersistRemoved: removed}
		for _, lb := range r.Unloaded {
			doc.Unloaded = append(doc.Unloaded, toLoopbackJSON(lb, nil))
		}
		for _, lb := range r.Spared {
			doc.Spared = append(doc.Spared, toLoopbackJSON(lb, nil))
		}
		for _, lb := range r.Gone {
			doc.Gone = append(doc.Gone, toLoopbackJSON(lb, nil))
		}
		return writeJSON(opts.IO.Out, doc)
	}
	for _, lb := range r.Unloaded {
		fmt.Fprintf(opts.IO.ErrOut, "Loopback off: %s -> %s (module %d)\n", dash(lb.ArgSource), dash(lb.ArgSink), lb.Module)
	}
	if len(r.Unloaded) == 0 {
		fmt.Fprintln(opts.IO.ErrOut, "No loops loopback was on; nothing changed")
	}
	for _, lb := range r.Spared {
		fmt.Fprintf(opts.IO.ErrOut, "Left alone: module %d (not loops'), %s -> %s; 'loops audio off --all' unloads it\n", lb.Module, dash(lb.Source), dash(lb.Sink))
	}
	if opts.Persist {
		fmt.Fprintf(opts.IO.ErrOut, "Removed %d persistent loopback(s) from %s\n", removed, file)
	} else if file, n := persistedCount(r.Server.Kind, opts.Audio.opts); n > 0 {
		fmt.Fprintf(opts.IO.ErrOut, "Note: %d persistent loopback(s) in %s come back at the next restart; 'loops audio off --persist' removes them\n", n, file)
	}
	return nil
}

func persistedCount(kind string, o audioloop.Options) (string, int) {
	es, file, _ := audioloop.Persisted(o, kind)
	n := 0
	for _, e := range es {
		if e.Mic == "" {
			n++
		}
	}
	return file, n
}
