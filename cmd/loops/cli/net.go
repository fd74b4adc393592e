package cli

import (
	"errors"
	"io/fs"
	"os"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

// netFlags are the namespace flags every `loops net` command takes.
type netFlags struct {
	target netloop.Target
	openF  func(netloop.Target) (*netloop.Client, error)
}

func newNetCmd(f *Factory) *cobra.Command {
	nf := &netFlags{openF: f.Net}
	cmd := groupCmd("net <command>",
		"Inspect and change the network loopback interface lo",
		`The network loopback interface lo carries 127.0.0.0/8, ::1 and the name
localhost: the way a machine talks to its own servers.

This is not a loop device (see 'loops block') nor the audio loopback
(see 'loops audio').

Every command works on the caller's network namespace, or on another one:
--netns NAME for a namespace under /run/netns (like 'ip -n NAME'), or
--netns-path PATH (/proc/PID/ns/net) for a container's.`)
	cmd.PersistentFlags().StringVar(&nf.target.Name, "netns", "", "work in the network namespace `NAME` under /run/netns, like ip -n NAME")
	cmd.PersistentFlags().StringVar(&nf.target.Path, "netns-path", "", "work in the network namespace at `PATH` (/proc/PID/ns/net)")
	cmd.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		if nf.target.Name != "" && nf.target.Path != "" {
			return flagErrorf("give --netns or --netns-path, not both")
		}
		return nil
	}
	cmd.AddCommand(
		newNetStatusCmd(f, nf, nil),
		newNetUpCmd(f, nf, nil),
		newNetDownCmd(f, nf, nil),
		newNetAddrCmd(f, nf),
		newNetListenersCmd(f, nf, nil),
		newNetCheckCmd(f, nf, nil),
		newNetHostsCmd(f, nf),
	)
	return cmd
}

// open returns a client for the chosen namespace, with errors a person can
// act on.
func (nf *netFlags) open() (*netloop.Client, error) {
	c, err := nf.openF(nf.target)
	if err == nil {
		return c, nil
	}
	switch {
	case errors.Is(err, os.ErrNotExist) && nf.target.Name != "":
		return nil, withHint(err, "No network namespace %q: 'ip netns list' shows the named ones.", nf.target.Name)
	case errors.Is(err, os.ErrNotExist):
		return nil, withHint(err, "No such namespace file: give /proc/PID/ns/net of a running process.")
	case errors.Is(err, fs.ErrPermission):
		return nil, sudoHint(err, "Entering another network namespace needs CAP_SYS_ADMIN.")
	}
	return nil, err
}
