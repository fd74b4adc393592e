package cli

import (
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioStatusOptions struct {
	IO    *IOStreams
	Audio *audioFlags
	JSON  bool
}

func newAudioStatusCmd(f *Factory, af *audioFlags, runF func(*audioStatusOptions) error) *cobra.Command {
	opts := &audioStatusOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the sound server, its defaults and every loopback",
		Long: `Show which sound server answers (PulseAudio or PipeWire, from the server's
own information), the default source and sink, and every module-loopback,
loops' and others': module number, the real source and sink now (read from
the loopback's streams, not from the module arguments, which go stale when
a device is unplugged), the latency asked for, and the state.

Like 'pactl info' plus 'pactl list modules' filtered to module-loopback.
Needs no privilege.`,
		Example: "  $ loops audio status\n  $ loops audio status --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return audioStatusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type audioStatusJSON struct {
	Schema        int            `json:"schema,omitempty"` // 0 only inside loops status
	Server        serverJSON     `json:"server"`
	DefaultSource string         `json:"default_source"`
	DefaultSink   string         `json:"default_sink"`
	Loopbacks     []loopbackJSON `json:"loopbacks"`
	Mics          []micJSON      `json:"mics"`
	PersistFile   string         `json:"persist_file"`
}

type serverJSON struct {
	Kind    string `json:"kind"`
	Package string `json:"package"`
	Version string `json:"version"`
	Address string `json:"address"`
}

func audioStatusRun(opts *audioStatusOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	doc, lbs, err := audioStatusDoc(c, opts.Audio.opts)
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	si := doc.Server
	if opts.JSON {
		return writeJSON(opts.IO.Out, doc)
	}
	io := opts.IO
	if !io.IsTerminal() {
		fmt.Fprintln(io.ErrOut, "Sound server and its loopbacks. Fields: loopback MODULE OWNER SOURCE SINK LATENCY_MS STATE PERSISTENT")
		t := newTable(io)
		t.add("server", si.Kind, si.Package, si.Version, c.Addr())
		t.add("default", dash(doc.DefaultSource), dash(doc.DefaultSink))
		for _, lb := range doc.Loopbacks {
			t.add("loopback", fmt.Sprint(lb.Module), owner(lb.Loops), dash(lb.Source), dash(lb.Sink), fmt.Sprint(lb.LatencyMs), lb.State, fmt.Sprint(lb.Persistent))
		}
		for _, m := range doc.Mics {
			t.add("mic", m.Name, m.State, dash(m.FromSink), dash(m.App), dash(m.WithMic), fmt.Sprint(m.Persistent))
		}
		return t.render()
	}
	w := io.Out
	fmt.Fprintf(w, "Server   %s (%s %s) at %s\n", si.Kind, si.Package, si.Version, c.Addr())
	fmt.Fprintf(w, "Default  source %s, sink %s\n\n", dash(doc.DefaultSource), dash(doc.DefaultSink))
	renderMics(io, doc.Mics)
	if len(lbs) == 0 {
		fmt.Fprintln(w, "No loopback is on ('loops audio on' starts one).")
		return nil
	}
	t := newTable(io, "MODULE", "OWNER", "SOURCE", "SINK", "LATENCY", "STATE", "")
	for i, lb := range doc.Loopbacks {
		note := ""
		if lb.Persistent {
			note = "persistent"
		}
		if lb.Sink != "" && lb.ArgSink != "" && lb.Sink != lb.ArgSink || lb.Source != "" && lb.ArgSource != "" && lb.Source != lb.ArgSource {
			note += fmt.Sprintf(" (asked for %s -> %s)", dash(lb.ArgSource), dash(lb.ArgSink))
		}
		t.add(fmt.Sprint(lb.Module), owner(lb.Loops), dash(lb.Source), dash(lb.Sink), msString(lbs[i].LatencyMsec), lb.State, note)
	}
	return t.render()
}

func owner(loops bool) string {
	if loops {
		return "loops"
	}
	return "other"
}

// audioStatusDoc reads the server and its loopbacks: the --json document of
// `loops audio status`, also the audio section of `loops status`.
func audioStatusDoc(c *audioloop.Client, o audioloop.Options) (audioStatusJSON, []audioloop.Loopback, error) {
	si, err := c.ServerInfo()
	if err != nil {
		return audioStatusJSON{}, nil, err
	}
	lbs, err := c.Loopbacks()
	if err != nil {
		return audioStatusJSON{}, nil, err
	}
	mics, _, err := c.Mics()
	if err != nil {
		return audioStatusJSON{}, nil, err
	}
	entries, file, _ := audioloop.Persisted(o, si.Kind)
	persisted := map[string]bool{}
	for _, e := range entries {
		persisted[e.ID] = true
	}
	doc := audioStatusJSON{Schema: schemaVersion,
		Server:        serverJSON{Kind: si.Kind, Package: si.Package, Version: si.Version, Address: c.Addr()},
		DefaultSource: si.DefaultSource, DefaultSink: si.DefaultSink, Loopbacks: []loopbackJSON{}, PersistFile: file}
	var plain []audioloop.Loopback
	for _, lb := range lbs {
		if lb.Mic == "" { // a mic's loopbacks are shown with the mic
			plain = append(plain, lb)
			doc.Loopbacks = append(doc.Loopbacks, toLoopbackJSON(lb, persisted))
		}
	}
	doc.Mics = []micJSON{}
	for _, m := range mics {
		doc.Mics = append(doc.Mics, toMicJSON(m, persisted))
	}
	return doc, plain, nil
}

// renderMics writes a line per mic, for the terminal.
func renderMics(io *IOStreams, mics []micJSON) {
	for _, m := range mics {
		with := ""
		if m.WithMic != "" {
			with = " + microphone " + m.WithMic
		}
		fmt.Fprintf(io.Out, "Mic      %s (%q, %s) fed from %s%s\n", m.Name, m.Description, m.State, micFeeds(m), with)
	}
	if len(mics) > 0 {
		fmt.Fprintln(io.Out)
	}
}
