package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioDevicesOptions struct {
	IO    *IOStreams
	Audio *audioFlags
	Kind  string // "sources" or "sinks"
	JSON  bool
}

// newAudioDevicesCmd builds `loops audio sources` and `loops audio sinks`.
func newAudioDevicesCmd(f *Factory, af *audioFlags, kind string, runF func(*audioDevicesOptions) error) *cobra.Command {
	opts := &audioDevicesOptions{IO: f.IO, Audio: af, Kind: kind}
	classic := map[string]string{"sources": "pactl list sources short", "sinks": "pactl list sinks short"}[kind]
	cmd := &cobra.Command{
		Use:   kind,
		Short: fmt.Sprintf("List the %s: name, description, state, which is default", kind),
		Long: fmt.Sprintf(`List the sound server's %s, like '%s' with descriptions:
index, name, description, state, and which one is the default. Any of the
index, the name or a unique part of the description can be given to
'loops audio on'. Needs no privilege.`, kind, classic),
		Example: fmt.Sprintf("  $ loops audio %s\n  $ loops audio %s --json", kind, kind),
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return audioDevicesRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type deviceJSON struct {
	Index       uint32 `json:"index"`
	Name        string `json:"name"`
	Description string `json:"description"`
	State       string `json:"state"`
	Default     bool   `json:"default"`
	MonitorOf   string `json:"monitor_of,omitempty"`
	Monitor     string `json:"monitor,omitempty"`
}

func audioDevicesRun(opts *audioDevicesOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	var devs []audioloop.Device
	if opts.Kind == "sinks" {
		devs, err = c.Sinks()
	} else {
		devs, err = c.Sources()
	}
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	if opts.JSON {
		list := []deviceJSON{}
		for _, d := range devs {
			list = append(list, deviceJSON{d.Index, d.Name, d.Description, d.State, d.Default, d.MonitorOf, d.Monitor})
		}
		return writeJSON(opts.IO.Out, map[string]any{"schema": schemaVersion, opts.Kind: list})
	}
	t := newTable(opts.IO, "INDEX", "NAME", "DESCRIPTION", "STATE", "DEFAULT")
	for _, d := range devs {
		def := ""
		if d.Default {
			def = "default"
			if opts.IO.IsTerminal() {
				def = "*"
			}
		}
		t.add(fmt.Sprint(d.Index), d.Name, d.Description, d.State, def)
	}
	if len(devs) == 0 {
		fmt.Fprintf(opts.IO.ErrOut, "The server has no %s.\n", opts.Kind)
	}
	return t.render()
}
