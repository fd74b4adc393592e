package cli

import (
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioMicOffOptions struct {
	IO      *IOStreams
	Audio   *audioFlags
	Name    string
	Persist bool
	JSON    bool
}

func newAudioMicOffCmd(f *Factory, af *audioFlags, runF func(*audioMicOffOptions) error) *cobra.Command {
	opts := &audioMicOffOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "off [<name>] [--persist]",
		Short: "Turn a virtual microphone off (every loops mic without a name)",
		Long: `Undo 'loops audio mic on': end its follower, move the application's streams
back to the sink they played to, and unload the mic's modules, each re-read
just before (PipeWire reuses module numbers at once). Others' modules and
loopbacks, and loops' plain loopbacks, stay.

--persist also removes the mic from the server's startup configuration.
Needs no privilege.`,
		Example: "  $ loops audio mic off\n  $ loops audio mic off desktop --persist",
		Args:    maxOneMicName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if runF != nil {
				return runF(opts)
			}
			return audioMicOffRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Persist, "persist", false, "also remove it from the startup configuration")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print what was undone as JSON")
	return cmd
}

type audioMicOffJSON struct {
	Schema         int          `json:"schema"`
	Mics           []string     `json:"mics"`
	Unloaded       []micModJSON `json:"unloaded"`
	MovedBack      []streamJSON `json:"moved_back"`
	Followers      []uint32     `json:"followers"`
	PersistFile    string       `json:"persist_file,omitempty"`
	PersistRemoved int          `json:"persist_removed"`
}

func audioMicOffRun(opts *audioMicOffOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.MicOff(opts.Name)
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	file, removed := "", 0
	if opts.Persist {
		if file, removed, err = audioloop.UnpersistMic(opts.Audio.opts, r.Server.Kind, opts.Name); err != nil {
			return fmt.Errorf("removing the mic from %s: %w", file, err)
		}
	}
	if opts.JSON {
		doc := audioMicOffJSON{Schema: schemaVersion, Mics: append([]string{}, r.Mics...), Unloaded: []micModJSON{},
			MovedBack: toStreamsJSON(r.MovedBack), Followers: append([]uint32{}, r.Followers...), PersistFile: file, PersistRemoved: removed}
		for _, x := range r.Unloaded {
			doc.Unloaded = append(doc.Unloaded, micModJSON{x.Index, x.Name, x.Role, x.Args})
		}
		return writeJSON(opts.IO.Out, doc)
	}
	w := opts.IO.ErrOut
	if len(r.Mics) == 0 {
		if opts.Name != "" {
			fmt.Fprintf(w, "No loops mic %s was on; nothing changed\n", opts.Name)
		} else {
			fmt.Fprintln(w, "No loops mic was on; nothing changed")
		}
	}
	if len(r.Mics) > 0 {
		fmt.Fprintf(w, "Mic off: %s (unloaded %s)\n", strings.Join(r.Mics, ", "), dash(roleList(r.Unloaded)))
	}
	if len(r.MovedBack) > 0 {
		fmt.Fprintf(w, "Moved %s back to %s\n", plural(len(r.MovedBack), "stream", "streams"), r.MovedBack[0].Sink)
	}
	if opts.Persist {
		fmt.Fprintf(w, "Removed %s from %s\n", plural(removed, "module", "modules"), file)
	} else if es, file, _ := audioloop.Persisted(opts.Audio.opts, r.Server.Kind); countMicEntries(es, opts.Name) > 0 {
		fmt.Fprintf(w, "Note: the mic is in %s and comes back at the next restart; 'loops audio mic off --persist' removes it\n", file)
	}
	return nil
}

func countMicEntries(es []audioloop.PersistEntry, name string) int {
	n := 0
	for _, e := range es {
		if e.Mic != "" && (name == "" || e.Mic == name) {
			n++
		}
	}
	return n
}
