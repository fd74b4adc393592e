package cli

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netUpOptions struct {
	IO  *IOStreams
	Net func() (*netloop.Client, error)
}

func newNetUpCmd(f *Factory, nf *netFlags, runF func(*netUpOptions) error) *cobra.Command {
	opts := &netUpOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:   "up",
		Short: "Bring lo up, like `ip link set lo up`",
		Long: `Bring the network loopback interface up, like 'ip link set lo up'.
The kernel then restores 127.0.0.1/8, ::1 and the local routes.
A new network namespace starts with lo down. Needs CAP_NET_ADMIN.`,
		Example:     "  $ sudo loops net up\n  $ sudo loops net up --netns blue",
		Args:        exactArgs(0, "no arguments"),
		Annotations: map[string]string{privilegeAnnotation: "CAP_NET_ADMIN"},
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return netUpRun(opts)
		},
	}
	return cmd
}

func netUpRun(opts *netUpOptions) error {
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	if st.Up {
		fmt.Fprintf(opts.IO.ErrOut, "lo is already up (%s); nothing changed.\n", netnsLabel(c.Target()))
		return nil
	}
	if err := c.Up(); err != nil {
		return err
	}
	st, err = c.Status()
	if err != nil {
		return err
	}
	msg := "lo is up"
	if _, ok := st.FindAddr(netip.IPv6Loopback()); ok {
		msg += "; 127.0.0.1 and ::1 answer again"
	} else if st.IPv6Disabled {
		msg += "; IPv6 is disabled on lo, so there is no ::1"
	}
	fmt.Fprintf(opts.IO.ErrOut, "%s (%s).\n", msg, netnsLabel(c.Target()))
	return nil
}
