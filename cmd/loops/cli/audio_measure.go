package cli

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
)

type audioMeasureOptions struct {
	IO     *IOStreams
	Audio  *audioFlags
	Source string
	Sink   string
	Chirps int
	Settle time.Duration
	JSON   bool
}

func newAudioMeasureCmd(f *Factory, af *audioFlags, runF func(*audioMeasureOptions) error) *cobra.Command {
	opts := &audioMeasureOptions{IO: f.IO, Audio: af}
	cmd := &cobra.Command{
		Use:   "measure [--source <source>] [--sink <sink>]",
		Short: "Measure the loopback's real delay in milliseconds",
		Long: `Measure the real delay of the loopback from a source to a sink by playing
short chirps and finding them by cross-correlation before and after it.

When the source is a sink's monitor (X.monitor), the chirps are played into
X and timed at X.monitor and at the sink's monitor: the loopback's own delay.
When the source is a hardware input, the chirps are played into the sink and
timed at its monitor and at the source: the path from the sink to the source
(a cable from line-out to line-in, or the air from speaker to microphone);
you will hear them.

It loads nothing: turn the loopback on first. On PipeWire the absolute value
can be off by a few 256-frame quanta (two recordings are aligned by the
clock); differences between two loopbacks in one recording are exact.
Needs no privilege.`,
		Example: "  $ loops audio on --source a.monitor --sink b --latency 20ms\n  $ loops audio measure --source a.monitor --sink b",
		Args:    exactArgs(0, "no arguments (use --source and --sink)"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return audioMeasureRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Source, "source", "", "the loopback's `source` (default: the default source)")
	cmd.Flags().StringVar(&opts.Sink, "sink", "", "the loopback's `sink` (default: the default sink)")
	cmd.Flags().IntVar(&opts.Chirps, "chirps", 4, "how many chirps to play")
	cmd.Flags().DurationVar(&opts.Settle, "settle", time.Second, "silence played first, while the server's rate control settles")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type audioMeasureJSON struct {
	Schema   int       `json:"schema"`
	Method   string    `json:"method"`
	Played   string    `json:"played"`
	Ref      string    `json:"ref"`
	Echo     string    `json:"echo"`
	DelayMs  float64   `json:"delay_ms"`
	DelaysMs []float64 `json:"delays_ms"`
	Missing  int       `json:"missing"`
}

func audioMeasureRun(opts *audioMeasureOptions) error {
	c, err := opts.Audio.open()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Measure(audioloop.MeasureRequest{Source: opts.Source, Sink: opts.Sink, Chirps: opts.Chirps, Settle: opts.Settle})
	if err != nil {
		return audioHint(err, opts.Audio.opts)
	}
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	if opts.JSON {
		doc := audioMeasureJSON{Schema: schemaVersion, Method: r.Method, Played: r.Played, Ref: r.Ref, Echo: r.Echo,
			DelayMs: ms(r.Delay), DelaysMs: []float64{}, Missing: r.Missing}
		for _, d := range r.Delays {
			doc.DelaysMs = append(doc.DelaysMs, ms(d))
		}
		return writeJSON(opts.IO.Out, doc)
	}
	fmt.Fprintf(opts.IO.ErrOut, "Played into %s; timed at %s and %s (%d chirp(s) found, %d missing)\n",
		r.Played, r.Ref, r.Echo, len(r.Delays), r.Missing)
	fmt.Fprintf(opts.IO.Out, "%.1f ms\n", ms(r.Delay))
	return nil
}
