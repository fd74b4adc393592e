package cli

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

// Exit codes, documented in docs/cli.md and `loops help exit-codes`.
const (
	exitOK      = 0
	exitFailure = 1 // the command failed, or a check found a problem
	exitUsage   = 2 // bad flags or arguments
)

// FlagError is a usage mistake: exit 2, and the usage line is shown.
type FlagError struct{ err error }

func (e *FlagError) Error() string { return e.err.Error() }
func (e *FlagError) Unwrap() error { return e.err }

func flagErrorf(format string, a ...any) error {
	return &FlagError{fmt.Errorf(format, a...)}
}

// errSilent ends a command with exit 1 after it has already said why
// (a check that found problems).
var errSilent = errors.New("silent failure")

// hintError attaches advice a person can act on to an error.
type hintError struct {
	err  error
	hint string
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, format string, a ...any) error {
	return &hintError{err: err, hint: fmt.Sprintf(format, a...)}
}

// privilegeAnnotation on a command names what it needs to change things, so
// a permission error can say so.
const privilegeAnnotation = "loops/privilege"

// printError writes err and its hint for the command that failed, and
// returns the exit code.
func printError(io *IOStreams, cmd *cobra.Command, err error) int {
	if errors.Is(err, errSilent) {
		return exitFailure
	}
	var fe *FlagError
	if errors.As(err, &fe) {
		fmt.Fprintf(io.ErrOut, "loops: %v\n", err)
		if cmd != nil {
			fmt.Fprintf(io.ErrOut, "Usage: %s\nRun '%s --help' for more.\n", cmd.UseLine(), cmd.CommandPath())
		}
		return exitUsage
	}
	fmt.Fprintf(io.ErrOut, "loops: %v\n", err)
	var he *hintError
	switch {
	case errors.As(err, &he):
		fmt.Fprintln(io.ErrOut, he.hint)
	case netloop.IsPermission(err) && cmd != nil:
		priv := cmd.Annotations[privilegeAnnotation]
		if priv == "" {
			priv = "root"
		}
		fmt.Fprintf(io.ErrOut, "This needs %s. Run it as root: sudo %s\n", priv, commandLine())
	}
	return exitFailure
}

// invocation holds the arguments loops was run with, for hints.
var invocation = os.Args[1:]

// commandLine is the command as the user typed it, quoted for a shell.
func commandLine() string {
	args := append([]string{"loops"}, invocation...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

func shellQuote(a string) string {
	if a == "" || strings.ContainsAny(a, " \t'\"$\\;&|<>*?()[]{}`!#~") {
		return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return a
}
