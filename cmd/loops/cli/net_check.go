package cli

import (
	"fmt"
	"net/netip"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netCheckOptions struct {
	IO        *IOStreams
	Net       func() (*netloop.Client, error)
	HostsFile string
	JSON      bool
}

func newNetCheckCmd(f *Factory, nf *netFlags, runF func(*netCheckOptions) error) *cobra.Command {
	opts := &netCheckOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:     "check",
		Aliases: []string{"doctor"},
		Short:   "Diagnose loopback: is lo up, does localhost work, who is unreachable",
		Long: `Check the network loopback end to end: lo up, 127.0.0.1/8 with host scope,
the local route, ::1 (or IPv6 deliberately off), real round trips over
127.0.0.1, [::1] and 127.0.0.2, the hosts file and nsswitch, how libc
orders localhost beside the file order, listeners that localhost misses
(a server on 127.0.0.1 only while localhost resolves to ::1 first), the
hostname, and error counters. Each finding names the command that fixes it.

Exit status: 0 when nothing failed (warnings allowed), 1 when a check
failed, 2 on a usage error.`,
		Example: "  $ loops net check\n  $ sudo loops net check --netns blue --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return netCheckRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.HostsFile, "hosts-file", "", "check this hosts `file` instead of /etc/hosts")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type checkJSON struct {
	Schema   int           `json:"schema"`
	Netns    string        `json:"netns"`
	OK       bool          `json:"ok"`
	Warnings int           `json:"warnings"`
	Failures int           `json:"failures"`
	Findings []findingJSON `json:"findings"`
}

type findingJSON struct {
	ID     string `json:"id"`
	Status string `json:"status"`
	Reason string `json:"reason"`
	Fix    string `json:"fix,omitempty"`
}

func netCheckRun(opts *netCheckOptions) error {
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	r, err := c.Check(netloop.CheckOptions{HostsFile: opts.HostsFile})
	if err != nil {
		return err
	}
	if opts.JSON {
		doc := checkJSON{Schema: schemaVersion, Netns: netnsLabel(c.Target()), OK: !r.Failed(),
			Warnings: r.Warnings(), Failures: r.Failures(), Findings: []findingJSON{}}
		for _, f := range r.Findings {
			doc.Findings = append(doc.Findings, findingJSON{f.ID, f.Status, f.Reason, fixCommand(r, f.Fix)})
		}
		if err := writeJSON(opts.IO.Out, doc); err != nil {
			return err
		}
	} else {
		renderCheck(opts.IO, r)
	}
	if r.Failed() {
		return errSilent
	}
	return nil
}

func renderCheck(io *IOStreams, r *netloop.Report) {
	tty := io.IsTerminal()
	if tty {
		fmt.Fprintf(io.Out, "Network loopback lo (%s)\n", netnsLabel(r.Target))
	}
	t := newTable(io)
	for _, f := range r.Findings {
		fix := fixCommand(r, f.Fix)
		if tty {
			t.add("  "+statusMark(f.Status), f.ID, f.Reason)
			if fix != "" {
				t.add("", "", "fix: "+fix)
			}
		} else {
			t.add(f.Status, f.ID, f.Reason, fix)
		}
	}
	t.render()
	fmt.Fprintf(io.ErrOut, "%d failure(s), %d warning(s)\n", r.Failures(), r.Warnings())
}

func statusMark(s string) string {
	switch s {
	case netloop.StatusOK:
		return "ok"
	case netloop.StatusInfo:
		return "i"
	case netloop.StatusWarn:
		return "WARN"
	}
	return "FAIL"
}

// fixCommand writes a finding's fix as the command line (or advice) a
// person runs, with the namespace flags and the hosts file of the report.
func fixCommand(r *netloop.Report, fix netloop.Fix) string {
	ns := netnsFlags(r.Target)
	switch f := fix.(type) {
	case nil:
		return ""
	case netloop.LinkUp:
		return "sudo loops net up" + ns
	case netloop.LinkDown:
		return "sudo loops net down" + ns + " --yes"
	case netloop.AddAddr:
		return "sudo loops net addr add " + aliasArg(f.Prefix) + ns
	case netloop.DelAddr:
		return "sudo loops net addr del " + f.Addr.String() + ns + " --yes"
	case netloop.AddLocalRoute:
		return "sudo ip route add local " + f.Prefix.String() + " dev lo table local"
	case netloop.EnableIPv6:
		return "sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0"
	case netloop.AllowLoopbackFirewall:
		return "sudo nft list ruleset; allow lo: sudo nft insert rule inet filter input iifname lo accept"
	case netloop.HostsAdd:
		return "sudo loops net hosts add " + f.Name + " " + f.Addr.String() + hostsFileFlag(r.HostsFile)
	case netloop.HostsUnmap:
		return fmt.Sprintf("remove '%s %s' from %s", f.Addr, f.Name, r.HostsFile)
	case netloop.HostsEdit:
		return "sudo $EDITOR " + r.HostsFile
	case netloop.HostsMode:
		return fmt.Sprintf("sudo chmod %o %s", f.Mode.Perm(), r.HostsFile)
	case netloop.UseAddr:
		return fmt.Sprintf("use http://%s, or make the server listen on %s too", f.Addr, f.ListenOn)
	case netloop.Steps:
		return fixCommand(r, f.First) + " && " + fixCommand(r, f.Then)
	case netloop.Either:
		return fixCommand(r, f.One) + ", or: " + fixCommand(r, f.Other)
	}
	return fmt.Sprintf("%+v", fix)
}

// netnsFlags are the flags that choose t, as a command line suffix.
func netnsFlags(t netloop.Target) string {
	switch {
	case t.Name != "":
		return " --netns " + t.Name
	case t.Path != "":
		return " --netns-path " + t.Path
	}
	return ""
}

// hostsFileFlag is --hosts-file for any file but /etc/hosts.
func hostsFileFlag(path string) string {
	if path == "/etc/hosts" {
		return ""
	}
	return " --hosts-file " + path
}

// aliasArg writes p as 'loops net addr add' takes it: ::1/128 bare, as
// a bare IPv6 address gets /128.
func aliasArg(p netip.Prefix) string {
	if p.Addr().Is6() && p.Bits() == 128 {
		return p.Addr().String()
	}
	return p.String()
}
