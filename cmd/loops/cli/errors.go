package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
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
	// withCmd, when set, makes the hint from the user's command line.
	withCmd func(cmdline string) string
}

// text is the hint, with cmdline where it repeats the command.
func (e *hintError) text(cmdline string) string {
	if e.withCmd != nil {
		return e.withCmd(cmdline)
	}
	return e.hint
}

// withCommandHint adds advice that repeats the user's command line (with
// sudo before it, --yes after it); printError fills the line in.
func withCommandHint(err error, hint func(cmdline string) string) error {
	return &hintError{err: err, withCmd: hint}
}

// sudoHint says what is needed and to run the command again as root.
func sudoHint(err error, format string, a ...any) error {
	what := fmt.Sprintf(format, a...)
	return withCommandHint(err, func(c string) string { return what + " Run it as root: sudo " + c })
}

func (e *hintError) Error() string { return e.err.Error() }
func (e *hintError) Unwrap() error { return e.err }

func withHint(err error, format string, a ...any) error {
	return &hintError{err: err, hint: fmt.Sprintf(format, a...)}
}

// suffixError adds words to an error's message, keeping the error.
type suffixError struct {
	err    error
	suffix string
}

func (e *suffixError) Error() string { return e.err.Error() + e.suffix }
func (e *suffixError) Unwrap() error { return e.err }

// privilegeAnnotation on a command names what it needs to change things, so
// a permission error can say so.
const privilegeAnnotation = "loops/privilege"

// printError writes err and its hint for the command that failed, and
// returns the exit code.
func printError(f *Factory, cmd *cobra.Command, err error) int {
	io := f.IO
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
		fmt.Fprintln(io.ErrOut, he.text(f.CommandLine()))
	case errors.Is(err, fs.ErrPermission) && cmd != nil:
		priv := cmd.Annotations[privilegeAnnotation]
		if priv == "" {
			priv = "root"
		}
		fmt.Fprintf(io.ErrOut, "This needs %s. Run it as root: sudo %s\n", priv, f.CommandLine())
	}
	return exitFailure
}

func shellQuote(a string) string {
	if a == "" || strings.ContainsAny(a, " \t'\"$\\;&|<>*?()[]{}`!#~") {
		return "'" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	return a
}

// audioHint adds advice to the errors of the audio commands.
func audioHint(err error, o audioloop.Options) error {
	var de *audioloop.DeviceError
	var ns *audioloop.NoSignalError
	var mf *audioloop.MicFromError
	switch {
	case errors.Is(err, audioloop.ErrServerGone):
		return withHint(err, "The sound server stopped or hung during the command. Check it ('loops audio status') and run the command again.")
	case errors.Is(err, audioloop.ErrNoServer):
		var b strings.Builder
		procs := soundServers()
		if len(procs) > 0 {
			fmt.Fprintf(&b, "A sound server is running (%s) but not at the addresses tried: give its socket with --server or PULSE_SERVER.", strings.Join(procs, ", "))
		} else {
			b.WriteString("No sound server is running. Start one: 'systemctl --user start pipewire-pulse' (PipeWire) or 'pulseaudio --start' (PulseAudio).")
		}
		if os.Geteuid() == 0 && os.Getenv("SUDO_UID") == "" {
			b.WriteString("\nThe sound server is per user: run loops audio as that user, not as root.")
		}
		return withHint(err, "%s", b.String())
	case errors.Is(err, audioloop.ErrAccessDenied):
		return withHint(err, "The server refused loops' credentials and cookie. Set PULSE_COOKIE to the server's cookie (usually ~/.config/pulse/cookie of the user running it).")
	case errors.As(err, new(*audioloop.MicFeedbackError)):
		return withHint(err, "Feed the mic from another sink (--from), or mix in another microphone (--with-mic); 'loops audio status' shows the loopbacks.")
	case errors.As(err, &mf):
		var b strings.Builder
		if len(mf.Sinks) > 0 {
			b.WriteString("The sinks are ('loops audio sinks'):")
			for _, d := range mf.Sinks {
				fmt.Fprintf(&b, "\n  %d  %s  (%s)", d.Index, d.Name, d.Description)
			}
		}
		if mf.Kind != "sink" {
			if b.Len() > 0 {
				b.WriteString("\n")
			}
			if len(mf.Apps) == 0 {
				b.WriteString("No application is playing now: start it playing, then run the command again.")
			} else {
				b.WriteString("The applications playing now (application.name, binary):")
				for _, st := range mf.Apps {
					fmt.Fprintf(&b, "\n  %s  %s", dash(st.App), dash(st.Binary))
				}
			}
		}
		return withHint(err, "%s", b.String())
	case errors.Is(err, audioloop.ErrBadMicName):
		return withHint(err, "Give --name a plain device name, such as loops-mic or call_mic.")
	case errors.Is(err, audioloop.ErrModuleFailed):
		return withHint(err, "The server gives the reason in its log only: 'journalctl --user -u pulseaudio -u pipewire-pulse -n 20'.")
	case errors.Is(err, audioloop.ErrFeedback):
		return withHint(err, "Choose another source ('loops audio sources') or sink ('loops audio sinks'), or add --force if you really want it (keep the volume low).")
	case errors.As(err, &de) && de.Kind == "mic":
		return withHint(err, "'loops audio mic status' lists loops' mics; 'loops audio mic on' makes one.")
	case errors.As(err, &de):
		var b strings.Builder
		if de.Ambiguous {
			fmt.Fprintf(&b, "Candidates for %q; give the name or index of one:", de.Query)
		} else {
			fmt.Fprintf(&b, "The %ss are ('loops audio %ss'):", de.Kind, de.Kind)
		}
		for _, d := range de.Candidates {
			fmt.Fprintf(&b, "\n  %d  %s  (%s)", d.Index, d.Name, d.Description)
		}
		return withHint(err, "%s", b.String())
	case errors.Is(err, audioloop.ErrModuleMissing):
		return withHint(err, "The server gives the reason in its log only: 'journalctl --user -u pulseaudio -u pipewire-pulse -n 20'.")
	case errors.As(err, &ns) && !ns.Ref:
		return &suffixError{err, " (is a loopback on? 'loops audio status')"}
	}
	return err
}

// hostsError adds advice to the errors of reading and editing a hosts file.
func hostsError(err error, path string) error {
	switch {
	case errors.Is(err, fs.ErrPermission):
		return sudoHint(err, "Changing %s needs write access to it (root for /etc/hosts).", path)
	case errors.Is(err, fs.ErrNotExist):
		return withHint(err, "No file %s; give another with --hosts-file.", path)
	}
	return err
}
