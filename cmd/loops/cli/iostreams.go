package cli

import (
	"bytes"
	"io"
	"os"

	"golang.org/x/term"
)

// IOStreams are the command's standard streams. Data goes to Out, messages
// to ErrOut.
type IOStreams struct {
	In     io.Reader
	Out    io.Writer
	ErrOut io.Writer

	outTTY bool
}

// System returns the process's streams. LOOPS_FORCE_TTY=1 makes stdout count
// as a terminal (for tests and `watch`).
func System() *IOStreams {
	tty := term.IsTerminal(int(os.Stdout.Fd()))
	if v := os.Getenv("LOOPS_FORCE_TTY"); v != "" {
		tty = v == "1" || v == "true"
	}
	return &IOStreams{In: os.Stdin, Out: os.Stdout, ErrOut: os.Stderr, outTTY: tty}
}

// Test returns streams backed by buffers, with stdout a terminal or not.
func Test(tty bool) (*IOStreams, *bytes.Buffer, *bytes.Buffer) {
	out, errOut := &bytes.Buffer{}, &bytes.Buffer{}
	return &IOStreams{In: &bytes.Buffer{}, Out: out, ErrOut: errOut, outTTY: tty}, out, errOut
}

// IsTerminal reports whether stdout is a terminal: tables are aligned with a
// header there, and plain tab-separated lines otherwise.
func (s *IOStreams) IsTerminal() bool { return s.outTTY }
