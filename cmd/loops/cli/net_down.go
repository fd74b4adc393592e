package cli

import (
	"errors"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netDownOptions struct {
	IO  *IOStreams
	Net func() (*netloop.Client, error)
	Yes bool
}

func newNetDownCmd(f *Factory, nf *netFlags, runF func(*netDownOptions) error) *cobra.Command {
	opts := &netDownOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:   "down",
		Short: "Take lo down, like `ip link set lo down`",
		Long: `Take the network loopback interface down, like 'ip link set lo down'.
Every local service breaks: connections to 127.0.0.1 hang until they time
out, and the kernel drops ::1 and every IPv6 address of lo ('loops net up'
brings ::1 back, not other IPv6 aliases). When sockets are listening, loops
says how many and asks for --yes. Needs CAP_NET_ADMIN.`,
		Example:     "  $ sudo loops net down --netns blue --yes",
		Args:        exactArgs(0, "no arguments"),
		Annotations: map[string]string{privilegeAnnotation: "CAP_NET_ADMIN"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return netDownRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "take lo down even though services listen on it")
	return cmd
}

func netDownRun(opts *netDownOptions) error {
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	if !st.Up {
		fmt.Fprintf(opts.IO.ErrOut, "lo is already down (%s); nothing changed.\n", netnsLabel(c.Target()))
		return nil
	}
	if !opts.Yes {
		ls, err := c.Listeners(netloop.ListenerOptions{UDP: true})
		if err != nil {
			return err
		}
		if len(ls) > 0 {
			n, where := len(ls), netnsLabel(c.Target())
			return withCommandHint(errors.New("refusing to take lo down"), func(cmdline string) string {
				return fmt.Sprintf("%d socket(s) listen on loopback in %s; taking lo down breaks every one of them\n"+
					"(connections to 127.0.0.1 hang, ::1 disappears). See them with 'loops net listeners';\n"+
					"to go ahead anyway: %s --yes", n, where, cmdline)
			})
		}
	}
	if err := c.Down(); err != nil {
		return err
	}
	fmt.Fprintf(opts.IO.ErrOut, "lo is down (%s): connections to 127.0.0.1 now hang and ::1 is gone. Undo: %s\n",
		netnsLabel(c.Target()), upCommand(c.Target()))
	return nil
}

func upCommand(t netloop.Target) string {
	return "sudo loops net up" + netnsFlags(t)
}
