package cli

import (
	"errors"
	"fmt"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

func newNetAddrCmd(f *Factory, nf *netFlags) *cobra.Command {
	cmd := groupCmd("addr <command>",
		"Add or delete loopback addresses such as 127.0.0.2",
		`Add or delete loopback aliases on lo, like 'ip addr add|del ADDR dev lo'.
Only 127.0.0.0/8 and ::1 belong on lo; anything else is refused.

Note that any 127.x address can be bound without an alias, because the
kernel routes all of 127.0.0.0/8 to lo; an alias makes it visible and
usable as a source address.`)
	cmd.AddCommand(newNetAddrAddCmd(f, nf, nil), newNetAddrDelCmd(f, nf, nil))
	return cmd
}

type netAddrOptions struct {
	IO    *IOStreams
	Net   func() (*netloop.Client, error)
	Addr  string
	Label string
	Yes   bool
}

func newNetAddrAddCmd(f *Factory, nf *netFlags, runF func(*netAddrOptions) error) *cobra.Command {
	opts := &netAddrOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:   "add <addr>[/<prefix>]",
		Short: "Add a loopback address, like `ip addr add 127.0.0.2/8 dev lo`",
		Long: `Add a loopback address to lo. Without a prefix, 127.x gets /8 (as
127.0.0.1 has) and ::1 gets /128. 127.x addresses get host scope, which
the kernel requires beside 127.0.0.1/8. Adding an address that is already
there changes nothing. Needs CAP_NET_ADMIN.`,
		Example:     "  $ sudo loops net addr add 127.0.0.2\n  $ sudo loops net addr add 127.0.0.3/8 --label lo:3",
		Args:        exactArgs(1, "one address"),
		Annotations: map[string]string{privilegeAnnotation: "CAP_NET_ADMIN"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if runF != nil {
				return runF(opts)
			}
			return netAddrAddRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Label, "label", "", "address label, lo or lo:N (as `ifconfig lo:N` shows)")
	return cmd
}

func netAddrAddRun(opts *netAddrOptions) error {
	p, err := netloop.ParseAlias(opts.Addr)
	if err != nil {
		return notLoopbackHint(err)
	}
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	added, err := c.AddAddr(p, opts.Label)
	if err != nil {
		return err
	}
	if !added {
		fmt.Fprintf(opts.IO.ErrOut, "%s is already on lo; nothing changed.\n", p)
		return nil
	}
	fmt.Fprintf(opts.IO.ErrOut, "Added %s to lo (%s).\n", p, netnsLabel(c.Target()))
	return nil
}

func newNetAddrDelCmd(f *Factory, nf *netFlags, runF func(*netAddrOptions) error) *cobra.Command {
	opts := &netAddrOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:     "del <addr>[/<prefix>]",
		Aliases: []string{"delete", "rm"},
		Short:   "Delete a loopback address, like `ip addr del 127.0.0.2/8 dev lo`",
		Long: `Delete a loopback address from lo. loops finds the prefix the address
really has, so 'del 127.0.0.2' works whatever it was added with.
Deleting 127.0.0.1/8 makes the kernel drop every other 127.x/8 address
with it; loops names them and asks for --yes. Needs CAP_NET_ADMIN.`,
		Example:     "  $ sudo loops net addr del 127.0.0.2",
		Args:        exactArgs(1, "one address"),
		Annotations: map[string]string{privilegeAnnotation: "CAP_NET_ADMIN"},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Addr = args[0]
			if runF != nil {
				return runF(opts)
			}
			return netAddrDelRun(opts)
		},
	}
	cmd.Flags().BoolVarP(&opts.Yes, "yes", "y", false, "delete even when other addresses go with it")
	return cmd
}

func netAddrDelRun(opts *netAddrOptions) error {
	p, err := netloop.ParseAlias(opts.Addr)
	if err != nil {
		return notLoopbackHint(err)
	}
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	a, ok := st.FindAddr(p.Addr())
	if !ok {
		return withHint(fmt.Errorf("%s is not on lo (%s): %w", p.Addr(), netnsLabel(c.Target()), netloop.ErrAddrNotFound),
			"'loops net status' lists lo's addresses.")
	}
	if strings.Contains(opts.Addr, "/") && a.Prefix != p {
		fmt.Fprintf(opts.IO.ErrOut, "Note: lo has %s, not %s; deleting %s.\n", a.Prefix, p, a.Prefix)
	}
	if with := netloop.Secondaries(st.Addrs, a); len(with) > 0 && !opts.Yes {
		var names []string
		for _, s := range with {
			names = append(names, s.Prefix.String())
		}
		return withCommandHint(fmt.Errorf("deleting %s would also delete %s", a.Prefix, strings.Join(names, ", ")), func(c string) string {
			return "The kernel drops the secondary addresses of a deleted primary. To go ahead: " + c + " --yes"
		})
	}
	removed, err := c.DelAddr(p.Addr())
	if err != nil {
		return err
	}
	for _, r := range removed {
		fmt.Fprintf(opts.IO.ErrOut, "Deleted %s from lo (%s).\n", r.Prefix, netnsLabel(c.Target()))
	}
	return nil
}

func notLoopbackHint(err error) error {
	if errors.Is(err, netloop.ErrNotLoopback) {
		return withHint(err, "lo carries 127.0.0.0/8 and ::1 only. For another address, add it to a real interface: sudo ip addr add ADDR dev IFACE")
	}
	return &FlagError{err}
}
