package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioMicStatusOptions struct {
	IO    *IOStreams
	Audio *audioFlags
	Name  string
	Level time.Duration
	JSON  bool
}

func newAudioMicStatusCmd(f *Factory, af *audioFlags, runF func(*audioMicStatusOptions) error) *cobra.Command {
	opts := &audioMicStatusOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "status [<name>]",
		Short: "Show the virtual microphones, what feeds each, and its level now",
		Long: `Show loops' virtual microphones: the source, what feeds it (a sink, or an
application and its streams, and a microphone mixed in), whether the
follower of an application runs, the modules, and the level now (peak and
RMS in dBFS over --level, recorded from the mic like 'loops audio meter';
"no data" when nothing plays into it and the server suspends it).

Like 'pactl list modules' filtered to loops' marks. Needs no privilege.`,
		Example: "  $ loops audio mic status\n  $ loops audio mic status --json",
		Args:    maxOneMicName,
		RunE: func(cmd *cobra.Command, args []string) error {
			if len(args) == 1 {
				opts.Name = args[0]
			}
			if opts.Level < 0 || opts.Level > 10*time.Second {
				return flagErrorf("--level %v is out of range: give 0 (no level) … 10s", opts.Level)
			}
			if runF != nil {
				return runF(opts)
			}
			return audioMicStatusRun(opts)
		},
	}
	cmd.Flags().DurationVar(&opts.Level, "level", 300*time.Millisecond, "how long to record each mic for its level (0: do not)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type audioMicStatusJSON struct {
	Schema int       `json:"schema"`
	Mics   []micJSON `json:"mics"`
}

func audioMicStatusRun(opts *audioMicStatusOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	mics, si, err := c.Mics()
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	persisted := micPersisted(opts.Audio.opts, si.Kind)
	doc := audioMicStatusJSON{Schema: schemaVersion, Mics: []micJSON{}}
	for _, m := range mics {
		if opts.Name != "" && m.Name != opts.Name {
			continue
		}
		j := toMicJSON(m, persisted)
		if opts.Level > 0 && m.Source.Index != audioloop.NoIndex {
			if l, err := micLevel(c, m.Name, opts.Level); err == nil {
				lj := levelDoc(m.Name, m.Name, l)
				j.Level = &lj
			}
		}
		doc.Mics = append(doc.Mics, j)
	}
	if opts.Name != "" && len(doc.Mics) == 0 {
		return withHint(fmt.Errorf("no loops mic %s", opts.Name), "'loops audio mic status' lists them; 'loops audio mic on --name %s' makes it.", opts.Name)
	}
	if opts.JSON {
		return writeJSON(opts.IO.Out, doc)
	}
	io := opts.IO
	if len(doc.Mics) == 0 {
		fmt.Fprintln(io.ErrOut, "No loops mic is on ('loops audio mic on' makes one).")
		return nil
	}
	if !io.IsTerminal() {
		fmt.Fprintln(io.ErrOut, "Virtual microphones. Fields: NAME STATE FROM_SINK APP APP_STREAMS WITH_MIC FOLLOWER PEAK_DBFS RMS_DBFS PERSISTENT")
	}
	t := newTable(io, "MIC", "STATE", "FROM", "WITH MIC", "LEVEL", "")
	for _, j := range doc.Mics {
		peak, rms := "-", "-"
		if j.Level != nil && j.Level.PeakDBFS != nil {
			peak, rms = fmt.Sprint(*j.Level.PeakDBFS), fmt.Sprint(*j.Level.RMSDBFS)
		}
		if !io.IsTerminal() {
			follower := "-"
			if j.Follower != nil {
				follower = fmt.Sprint(*j.Follower)
			}
			t.add(j.Name, j.State, dash(j.FromSink), dash(j.App), fmt.Sprint(len(j.AppStreams)), dash(j.WithMic), follower, peak, rms, fmt.Sprint(j.Persistent))
			continue
		}
		level := "no data"
		if j.Level != nil && j.Level.PeakDBFS != nil {
			level = fmt.Sprintf("peak %s, RMS %s dBFS", peak, rms)
		} else if j.Level != nil && j.Level.Frames > 0 {
			level = "silent"
		}
		note := ""
		if j.Persistent {
			note = "persistent"
		}
		if len(j.Missing) > 0 {
			note += fmt.Sprintf(" missing %v ('loops audio mic on' mends it)", j.Missing)
		}
		if j.App != "" && j.Follower == nil {
			note += " no follower: new streams do not follow ('loops audio mic on' restarts it)"
		}
		t.add(fmt.Sprintf("%s (%q)", j.Name, j.Description), j.State, micFeeds(j), dash(j.WithMic), level, note)
	}
	return t.render()
}

// micLevel records the mic for d and returns its level.
func micLevel(c *audioloop.Client, name string, d time.Duration) (audioloop.Level, error) {
	m, err := c.Meter(audioloop.MeterRequest{Mic: name})
	if err != nil {
		return audioloop.Level{}, err
	}
	defer m.Close()
	time.Sleep(d)
	rd, err := m.Read()
	return rd.Source, err
}
