// Package cli is the loops command line: one file per subcommand, each with
// an options struct, a constructor that binds flags, and a run function that
// calls the libraries and renders what they return.
package cli

import (
	"fmt"
	"os"
	"slices"
	"strings"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/internal/serveproto"
	"github.com/loops-cli/loops/netloop"
	"github.com/spf13/cobra"
)

// Factory holds what commands need, as functions so that a command opens
// only what it uses (loops audio never opens netlink).
type Factory struct {
	IO *IOStreams
	// Args are the arguments loops was run with, for hints that repeat
	// the command (with sudo, with --yes).
	Args []string
	// Block, Net and Audio open the three libraries; a test points them
	// elsewhere. Each is called only by the commands that need it.
	Block func() *blockloop.Host
	Net   func(netloop.Target) (*netloop.Client, error)
	Audio func(audioloop.Options) (*audioloop.Client, error)
}

// NewFactory is the Factory of a real run: the libraries on this machine
// (LOOPS_MEDIA_DIR replaces /media as the base of automatic mount points,
// LOOPS_RUN_DIR /run/loops as where VM disk images are served).
func NewFactory(io *IOStreams, args []string) *Factory {
	return &Factory{
		IO:   io,
		Args: args,
		Block: func() *blockloop.Host {
			return &blockloop.Host{Media: os.Getenv("LOOPS_MEDIA_DIR"), RunDir: os.Getenv("LOOPS_RUN_DIR"), OpenVirtualDisk: openVirtualDisk}
		},
		Net:   netloop.Open,
		Audio: audioloop.Connect,
	}
}

// CommandLine is the command as the user typed it, quoted for a shell.
func (f *Factory) CommandLine() string {
	args := append([]string{"loops"}, f.Args...)
	for i, a := range args {
		args[i] = shellQuote(a)
	}
	return strings.Join(args, " ")
}

// Main runs loops with os.Args and returns the exit code.
func Main() int { return run(os.Args[1:], System()) }

// run executes loops with args and returns the exit code.
func run(args []string, io *IOStreams) int {
	f := NewFactory(io, args)
	root := newRootCmd(f, branchNamed(args))
	root.SetArgs(args)
	cmd, err := root.ExecuteC()
	if err != nil {
		return printError(f, cmd, err)
	}
	return exitOK
}

// NewRootCmd builds the whole command tree (for help, completion, the man
// pages and the docs).
func NewRootCmd(f *Factory) *cobra.Command { return newRootCmd(f, nil) }

// branch is one of the root's subcommands: the names it answers to and
// how to build it.
type branch struct {
	names []string // Name() first, then the aliases (a test checks both)
	build func(*Factory) *cobra.Command
}

// branches are the root's subcommands, in the order help lists them.
var branches = []branch{
	{[]string{"net"}, newNetCmd},
	{[]string{"mount"}, newMountCmd},
	{[]string{"umount", "unmount"}, newUmountCmd},
	{[]string{"block"}, newBlockCmd},
	{[]string{"audio"}, newAudioCmd},
	{[]string{serveproto.ServeCommand}, newServeCmd},
	{[]string{"explain"}, func(f *Factory) *cobra.Command { return newExplainCmd(f, nil) }},
	{[]string{"exit-codes"}, func(*Factory) *cobra.Command { return newExitCodesTopic() }},
	{[]string{"status"}, func(f *Factory) *cobra.Command { return newStatusCmd(f, nil) }},
}

// branchNamed is the branch a run's arguments go to when their first word
// names one (`loops net status ...`): a one-shot command builds that branch
// only, not the ~60 commands and their flags of the whole tree, a
// noticeable part of a short run (docs/benchmarks.md). Anything else (flags first, help,
// completion, a typo that needs suggestions) gets the whole tree.
func branchNamed(args []string) *branch {
	if len(args) == 0 {
		return nil
	}
	for i := range branches {
		if slices.Contains(branches[i].names, args[0]) {
			return &branches[i]
		}
	}
	return nil
}

// newRootCmd builds the root with only branch under it, or with every
// branch when branch is nil.
func newRootCmd(f *Factory, only *branch) *cobra.Command {
	root := &cobra.Command{
		Use:   "loops <command>",
		Short: "Inspect and use the three Linux loopbacks: network, block, audio",
		Long: `loops puts three unrelated things called "loopback" behind one command:

  net    the network loopback interface lo (127.0.0.1, ::1, localhost)
  block  loop devices: a file (.iso, disk image) shown as a block device
  audio  the sound server's loopback, echoing a source to a sink

'loops explain' tells them apart and names the classic command each loops
command replaces.

Exit status: 0 on success; 1 on failure (for check commands: a problem was
found); 2 on a usage error. See 'loops help exit-codes'.`,
		Example: `  $ loops net status
  $ sudo loops mount image.iso /media/label
  $ loops audio on`,
		SilenceErrors: true,
		SilenceUsage:  true,
		Args:          noUnknownSubcommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return overviewRun(f)
		},
	}
	root.SetOut(f.IO.Out)
	root.SetErr(f.IO.ErrOut)
	root.SetFlagErrorFunc(func(c *cobra.Command, err error) error { return &FlagError{err} })
	if only != nil {
		// Not the target of this run: cobra's completion command (added
		// at Execute, four subcommands with flags) is left out too.
		root.CompletionOptions.DisableDefaultCmd = true
		root.AddCommand(only.build(f))
		return root
	}
	// --version: the build info is read only when it is printed.
	root.Version = "see --version"
	root.SetVersionTemplate("{{loopsVersion}}")
	for _, b := range branches {
		root.AddCommand(b.build(f))
	}
	addCompletions(root, f)
	return root
}

func init() { cobra.AddTemplateFunc("loopsVersion", versionText) }

// noUnknownSubcommand rejects arguments to a group command, suggesting the
// subcommand that was probably meant.
func noUnknownSubcommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return nil
	}
	if r, ok := misdirected(cmd.CommandPath(), args[0]); ok {
		return &FlagError{fmt.Errorf("%q is not a command of %q: %s.\nDid you mean: %s", args[0], cmd.CommandPath(), r.why, r.meant)}
	}
	msg := fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf("; did you mean %q?", s[0])
	}
	return &FlagError{fmt.Errorf("%s", msg)}
}

// groupCmd is a command that only holds subcommands.
func groupCmd(use, short, long string) *cobra.Command {
	return &cobra.Command{
		Use:   use,
		Short: short,
		Long:  long,
		Args:  noUnknownSubcommand,
		RunE: func(cmd *cobra.Command, args []string) error {
			return cmd.Help()
		},
	}
}

func exactArgs(n int, what string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return flagErrorf("%s takes %s (got %d argument(s))", cmd.CommandPath(), what, len(args))
		}
		return nil
	}
}

// newExitCodesTopic is `loops help exit-codes`: a help topic, not a command.
func newExitCodesTopic() *cobra.Command {
	return &cobra.Command{
		Use:   "exit-codes",
		Short: "What loops' exit status means",
		Long: `loops exits with:

  0  success
  1  failure: the command could not do what was asked (the message says why
     and, where there is one, the fix); for check commands (loops net
     check), a problem was found
  2  usage error: an unknown command or flag, or wrong arguments (the
     usage line is printed)

Messages go to stderr, data to stdout.`,
	}
}
