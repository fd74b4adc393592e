package cli

import (
	"fmt"

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
	if opts.HostsFile != "" {
		c.HostsFile = opts.HostsFile
	}
	r, err := c.Check()
	if err != nil {
		return err
	}
	if opts.JSON {
		doc := checkJSON{Schema: schemaVersion, Netns: netnsLabel(c.Target()), OK: !r.Failed(),
			Warnings: r.Warnings(), Failures: r.Failures(), Findings: []findingJSON{}}
		for _, f := range r.Findings {
			doc.Findings = append(doc.Findings, findingJSON{f.ID, f.Status, f.Reason, f.Fix})
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
		if tty {
			t.add("  "+statusMark(f.Status), f.ID, f.Reason)
			if f.Fix != "" {
				t.add("", "", "fix: "+f.Fix)
			}
		} else {
			t.add(f.Status, f.ID, f.Reason, f.Fix)
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
