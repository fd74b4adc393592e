package cli

import (
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioMeterOptions struct {
	IO       *IOStreams
	Audio    *audioFlags
	Source   string
	Sink     string
	Mic      string
	Interval time.Duration
	Count    int
	JSON     bool
}

// minMeterInterval: shorter intervals hold too few samples for an RMS.
const minMeterInterval = 50 * time.Millisecond

func newAudioMeterCmd(f *Factory, af *audioFlags, runF func(*audioMeterOptions) error) *cobra.Command {
	opts := &audioMeterOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "meter [--source <source>] [--sink <sink>]",
		Short: "Show the live level of a loopback's source and sink",
		Long: `Show a live level meter of a loopback's two ends: its source, and its sink
(through the sink's monitor), as peak and RMS in dBFS (0 is full scale; a
full-scale sine reads -3 dBFS RMS), like pavucontrol's meters.

It records with streams of its own: the loopback is not touched, and the
devices' latency and suspend state are not changed. It plays nothing.

It says when nothing flows: no loopback between the two, a loopback that is
corked (paused, a device suspended) or unlinked (a device went away), a
silent source (below -70 dBFS), or a source whose signal does not reach the
sink.

With --mic it meters a virtual microphone ('loops audio mic on'): the mic as
the source, and as the sink what feeds it (the sink it is fed from, or the
application's sink), through the loopback that feeds it.

Without --source and --sink it meters loops' loopback (a running one
first), else any loopback, else the default source and sink. On a terminal
it draws bars until Ctrl-C; piped, it prints one tab-separated line per
interval (SOURCE_PEAK SOURCE_RMS SINK_PEAK SINK_RMS in dBFS, -inf for
digital silence, then the state); with --json, one JSON document per line.
Needs no privilege.`,
		Example: `  $ loops audio meter
  $ loops audio meter --source a.monitor --sink b --interval 500ms
  $ loops audio meter --count 8 --json`,
		Args: exactArgs(0, "no arguments (use --source and --sink)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if opts.Interval < minMeterInterval {
				return flagErrorf("--interval %v: the interval must be at least %v", opts.Interval, minMeterInterval)
			}
			if opts.Mic != "" && (opts.Source != "" || opts.Sink != "") {
				return flagErrorf("--mic meters the mic and what feeds it: give it without --source and --sink")
			}
			if opts.Count < 0 {
				return flagErrorf("--count %d: give a number of readings, or 0 for no end", opts.Count)
			}
			if runF != nil {
				return runF(opts)
			}
			return audioMeterRun(opts, cmd.CommandPath())
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "the loopback's `source` (default: the loopback's, or the default source)")
	cmd.Flags().StringVar(&opts.Sink, "sink", "", "the loopback's `sink` (default: the loopback's, or the default sink)")
	cmd.Flags().StringVar(&opts.Mic, "mic", "", "meter the virtual microphone `name` (loops-mic if given without =NAME)")
	cmd.Flags().Lookup("mic").NoOptDefVal = audioloop.DefaultMicName
	cmd.Flags().DurationVar(&opts.Interval, "interval", 250*time.Millisecond, "one reading every `INTERVAL`")
	cmd.Flags().IntVar(&opts.Count, "count", 0, "stop after `N` readings (0: at Ctrl-C)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print one JSON document per reading, one per line")
	return cmd
}

// audioMeterJSON is one reading of `loops audio meter --json`.
type audioMeterJSON struct {
	Schema   int            `json:"schema"`
	Time     string         `json:"time"`
	Interval float64        `json:"interval_s"`
	Loopback *meterLoopback `json:"loopback"` // null: none between source and sink
	Source   levelJSON      `json:"source"`
	Sink     levelJSON      `json:"sink"`
	// Flow is flowing, or why nothing flows: no-loopback, corked,
	// unlinked, starting, no-data, silent, not-reaching-sink.
	Flow string `json:"flow"`
}

type meterLoopback struct {
	Module uint32 `json:"module"`
	Loops  bool   `json:"loops"`
	State  string `json:"state"`
}

type levelJSON struct {
	Name     string   `json:"name"`
	Recorded string   `json:"recorded"` // the source recorded: the source itself, or the sink's monitor
	Frames   int      `json:"frames"`
	PeakDBFS *float64 `json:"peak_dbfs"` // null: digital silence or no data
	RMSDBFS  *float64 `json:"rms_dbfs"`
	Silent   bool     `json:"silent"`
}

func audioMeterRun(opts *audioMeterOptions, title string) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	m, err := c.Meter(audioloop.MeterRequest{Source: opts.Source, Sink: opts.Sink, Mic: opts.Mic})
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	defer m.Close()
	if !opts.IO.IsTerminal() && !opts.JSON {
		fmt.Fprintf(opts.IO.ErrOut, "Metering %s -> %s every %v. Fields: SOURCE_PEAK SOURCE_RMS SINK_PEAK SINK_RMS (dBFS) STATE\n",
			m.Source.Name, m.Sink.Name, opts.Interval)
	}
	frame := func(io *IOStreams, first bool) error {
		if first {
			time.Sleep(opts.Interval) // the first reading covers one interval too
		}
		rd, err := m.Read()
		if err != nil {
			return audioHint(err, opts.Audio.opts)
		}
		flow, say := meterFlow(m, rd)
		switch {
		case opts.JSON:
			return writeJSONLine(io.Out, meterDoc(m, rd, flow))
		case io.IsTerminal():
			renderMeter(io, m, rd, say)
		default:
			fmt.Fprintf(io.Out, "%s\t%s\t%s\t%s\t%s\n", dbNum(rd.Source.Peak), dbNum(rd.Source.RMS), dbNum(rd.Sink.Peak), dbNum(rd.Sink.RMS), flow)
		}
		return nil
	}
	return runWatch(opts.IO, watchSpec{Interval: opts.Interval, Title: title, JSON: opts.JSON, Frames: opts.Count, Lines: true, StopOnError: true}, frame)
}

// meterFlow says whether the signal flows through the loopback: a word
// (the JSON "flow", the piped STATE) and a sentence for the terminal.
func meterFlow(m *audioloop.Meter, rd audioloop.MeterReading) (string, string) {
	lb := rd.Loopback
	switch {
	case lb == nil:
		return "no-loopback", fmt.Sprintf("nothing flows: no loopback from %s to %s ('loops audio on --source %s --sink %s')",
			m.Source.Name, m.Sink.Name, shellQuote(m.Source.Name), shellQuote(m.Sink.Name))
	case lb.State == "corked":
		return "corked", "nothing flows: the loopback is corked (paused: its source or sink is suspended)"
	case lb.State == "unlinked":
		return "unlinked", "nothing flows: the loopback is unlinked (its source or sink went away; 'loops audio status')"
	case lb.State == "starting":
		return "starting", "nothing flows yet: the loopback is starting"
	case rd.Source.Frames == 0:
		return "no-data", fmt.Sprintf("nothing flows: %s sends no data (suspended?)", m.Source.Name)
	case rd.Source.Silent():
		return "silent", fmt.Sprintf("nothing flows: the source %s is silent (below %.0f dBFS)", m.Source.Name, audioloop.SilenceDBFS)
	case rd.Sink.Silent():
		return "not-reaching-sink", fmt.Sprintf("the source has signal, but nothing reaches %s (a muted stream or sink?)", m.Sink.Name)
	}
	return "flowing", "flowing"
}

func meterDoc(m *audioloop.Meter, rd audioloop.MeterReading, flow string) audioMeterJSON {
	doc := audioMeterJSON{Schema: schemaVersion, Time: watchTime(), Interval: rd.Interval.Seconds(), Flow: flow,
		Source: levelDoc(m.Source.Name, m.Source.Name, rd.Source), Sink: levelDoc(m.Sink.Name, m.SinkMonitor, rd.Sink)}
	if lb := rd.Loopback; lb != nil {
		doc.Loopback = &meterLoopback{Module: lb.Module, Loops: lb.Loops, State: lb.State}
	}
	return doc
}

func levelDoc(name, recorded string, l audioloop.Level) levelJSON {
	j := levelJSON{Name: name, Recorded: recorded, Frames: l.Frames, Silent: l.Silent()}
	if l.Peak > 0 {
		p, r := round1(l.PeakDBFS()), round1(l.RMSDBFS())
		j.PeakDBFS, j.RMSDBFS = &p, &r
	}
	return j
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// dbNum prints a linear level in dBFS with one decimal, "-inf" for zero.
func dbNum(v float64) string {
	if v <= 0 {
		return "-inf"
	}
	return fmt.Sprintf("%.1f", 20*math.Log10(v))
}

// meterFloor is the bottom of the bars, in dBFS.
const meterFloor = -60.0

// renderMeter draws the terminal view: a bar per end, RMS solid and the
// peak as a lighter tail, over -60…0 dBFS.
func renderMeter(io *IOStreams, m *audioloop.Meter, rd audioloop.MeterReading, say string) {
	w := io.Out
	if lb := rd.Loopback; lb != nil {
		fmt.Fprintf(w, "Loopback module %d (%s), %s\n\n", lb.Module, owner(lb.Loops), lb.State)
	} else {
		fmt.Fprintln(w, "No loopback between these two")
	}
	const width = 40
	bar := func(l audioloop.Level) string {
		cells := func(v float64) int {
			db := 20 * math.Log10(v)
			if v <= 0 || db <= meterFloor {
				return 0
			}
			return min(width, int(math.Round((db-meterFloor)/-meterFloor*width)))
		}
		r, p := cells(l.RMS), cells(l.Peak)
		return strings.Repeat("█", r) + strings.Repeat("▒", max(0, p-r)) + strings.Repeat("·", width-max(r, p))
	}
	name := max(len(m.Source.Name), len(m.Sink.Name))
	for _, e := range []struct {
		what, name string
		l          audioloop.Level
	}{{"source", m.Source.Name, rd.Source}, {"sink", m.Sink.Name, rd.Sink}} {
		fmt.Fprintf(w, "%-6s  %-*s  %s  peak %6s  RMS %6s dBFS\n", e.what, name, e.name, bar(e.l), dbNum(e.l.Peak), dbNum(e.l.RMS))
	}
	fmt.Fprintf(w, "%-6s  %-*s  %-*s  (RMS █, peak ▒)\n\n", "", name, "", width, fmt.Sprintf("%.0f dBFS%*s0", meterFloor, width-10, ""))
	fmt.Fprintln(w, say)
}
