package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"

	"github.com/spf13/cobra"
	"golang.org/x/term"
)

// --watch[=INTERVAL] on the commands that read state: `loops status`,
// `loops net status`, `loops net listeners`, `loops block list`. On a
// terminal the view is redrawn in place on the alternate screen (like
// watch(1)), which is left, with the cursor shown again, on Ctrl-C or
// SIGTERM; piped, each interval's table follows the previous one after an
// empty line, without escape codes; with --json, each interval is one
// compact JSON document on one line (JSON Lines), so a program reads the
// stream line by line.

// defaultWatchInterval is --watch's interval when none is given, as watch(1).
const defaultWatchInterval = 2 * time.Second

// minWatchInterval keeps a mistyped --watch=1ms from spinning.
const minWatchInterval = 100 * time.Millisecond

// addWatchFlag binds --watch[=INTERVAL] to d.
func addWatchFlag(cmd *cobra.Command, d *time.Duration) {
	cmd.Flags().DurationVar(d, "watch", 0, "show it live, refreshed every `INTERVAL` (default 2s; --watch=500ms) until Ctrl-C; with --json, one document per line")
	cmd.Flags().Lookup("watch").NoOptDefVal = defaultWatchInterval.String()
}

// watchArgs is exactArgs(0) that explains the one likely mistake: an
// interval given after a space (--watch 5s), which the flag cannot take.
func watchArgs(cmd *cobra.Command, args []string) error {
	if len(args) > 0 && cmd.Flags().Changed("watch") {
		if _, err := time.ParseDuration(args[0]); err == nil {
			return flagErrorf("give the interval with an equals sign: --watch=%s", args[0])
		}
	}
	if err := exactArgs(0, "no arguments")(cmd, args); err != nil {
		return err
	}
	if f := cmd.Flags().Lookup("watch"); f != nil && f.Changed {
		if d, _ := time.ParseDuration(f.Value.String()); d < minWatchInterval {
			return flagErrorf("--watch=%s: the interval must be at least %v", f.Value, minWatchInterval)
		}
	}
	return nil
}

// watchSpec says how to repeat a view.
type watchSpec struct {
	Interval time.Duration
	// Title is the command, shown in the header of the terminal view.
	Title string
	// JSON: the frames are JSON documents, one per line.
	JSON bool
	// Frames stops after that many frames (0: until a signal).
	Frames int
	// Lines: piped, the frames follow each other without an empty line
	// (each is one line).
	Lines bool
	// StopOnError: an error in any frame ends the watch with that error.
	StopOnError bool
	// ctx ends the watch (nil: SIGINT or SIGTERM). For tests.
	ctx context.Context
}

// frameFunc renders one view into io. first is true for the first frame.
type frameFunc func(io *IOStreams, first bool) error

// frameStreams returns streams that write to out and errOut, keeping
// whether the real stdout is a terminal.
func frameStreams(s *IOStreams, out, errOut io.Writer) *IOStreams {
	return &IOStreams{In: s.In, Out: out, ErrOut: errOut, outTTY: s.outTTY}
}

// Escape sequences of the terminal view (xterm, understood by every
// terminal emulator, tmux and screen).
const (
	escAltScreenOn  = "\x1b[?1049h"
	escAltScreenOff = "\x1b[?1049l"
	escHideCursor   = "\x1b[?25l"
	escShowCursor   = "\x1b[?25h"
	escHome         = "\x1b[H"
	escClearEOL     = "\x1b[K"
	escClearBelow   = "\x1b[J"
)

// runWatch calls frame now and then every spec.Interval until SIGINT or
// SIGTERM (a normal end: it returns nil). An error in the first frame is
// returned as the command's error; later ones are shown (on a terminal, in
// place of the view; otherwise on stderr) and the watch goes on, as a
// namespace or a server may come back.
func runWatch(s *IOStreams, spec watchSpec, frame frameFunc) error {
	ctx := spec.ctx
	if ctx == nil {
		var stop context.CancelFunc
		ctx, stop = signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
		defer stop()
	}
	tty := s.IsTerminal() && !spec.JSON
	var buf bytes.Buffer
	render := func(first bool) error {
		buf.Reset()
		errOut := s.ErrOut
		if tty {
			errOut = &buf // messages belong to the view
		} else if !first {
			errOut = io.Discard // piped: stderr's notes once, not every interval
		}
		return frame(frameStreams(s, &buf, errOut), first)
	}
	if err := render(true); err != nil {
		return err
	}
	restore := func() {}
	if tty {
		fmt.Fprint(s.Out, escAltScreenOn+escHideCursor)
		restored := false
		defer func() {
			if !restored { // some terminals restore the cursor mode with the screen: show it on both
				fmt.Fprint(s.Out, escShowCursor+escAltScreenOff+escShowCursor)
			}
		}()
		restore = func() { restored = true; fmt.Fprint(s.Out, escShowCursor+escAltScreenOff+escShowCursor) }
	}
	tick := time.NewTicker(spec.Interval)
	defer tick.Stop()
	failed := false
	for n := 1; ; n++ {
		switch {
		case tty:
			draw(s.Out, spec, buf.Bytes())
		case !failed:
			out := buf.Bytes()
			if n > 1 && !spec.JSON && !spec.Lines {
				out = append([]byte("\n"), out...) // an empty line between intervals
			}
			if _, err := s.Out.Write(out); err != nil {
				return err // the reader went away
			}
		}
		if spec.Frames > 0 && n >= spec.Frames {
			if tty { // a bounded run leaves its last view on the normal screen
				restore()
				_, err := s.Out.Write(buf.Bytes())
				return err
			}
			return nil
		}
		select {
		case <-ctx.Done():
			return nil
		case <-tick.C:
		}
		failed = false
		if err := render(false); err != nil {
			if spec.StopOnError {
				return err
			}
			failed = true
			buf.Reset()
			if tty {
				fmt.Fprintf(&buf, "loops: %v\n", err)
			} else {
				fmt.Fprintf(s.ErrOut, "loops: %v\n", err)
			}
		}
	}
}

// draw redraws the terminal view: a header, then the frame, cut to the
// terminal's size so that nothing scrolls.
func draw(w io.Writer, spec watchSpec, frame []byte) {
	width, height := termSize(w)
	left := fmt.Sprintf("Every %v: %s", spec.Interval, spec.Title)
	right := "Ctrl-C quits  " + time.Now().Format("15:04:05")
	pad := width - utf8.RuneCountInString(left) - utf8.RuneCountInString(right)
	header := left + "  " + right
	if pad >= 2 {
		header = left + strings.Repeat(" ", pad) + right
	}
	lines := append([]string{header, ""}, strings.Split(strings.TrimRight(string(frame), "\n"), "\n")...)
	if height > 0 && len(lines) > height {
		lines = lines[:height]
	}
	var b strings.Builder
	b.WriteString(escHome)
	for i, l := range lines {
		b.WriteString(cut(strings.ReplaceAll(l, "\t", "    "), width))
		b.WriteString(escClearEOL)
		if i < len(lines)-1 {
			b.WriteString("\r\n")
		}
	}
	b.WriteString(escClearBelow)
	io.WriteString(w, b.String())
}

// termSize is the size of the terminal w writes to, or 0, 0 when it is not
// one (LOOPS_FORCE_TTY=1 on a pipe): then lines are not cut.
func termSize(w io.Writer) (width, height int) {
	f, ok := w.(*os.File)
	if !ok {
		return 0, 0
	}
	width, height, err := term.GetSize(int(f.Fd()))
	if err != nil {
		return 0, 0
	}
	return width, height
}

// cut shortens s to width runes (0: no limit).
func cut(s string, width int) string {
	if width <= 0 || utf8.RuneCountInString(s) <= width {
		return s
	}
	r := []rune(s)
	return string(r[:width])
}

// writeJSONLine writes v as one compact line: a --watch --json frame.
func writeJSONLine(w io.Writer, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	_, err = w.Write(append(b, '\n'))
	return err
}

// watchTime is the "time" field of a --watch document.
func watchTime() string { return time.Now().UTC().Format(time.RFC3339Nano) }
