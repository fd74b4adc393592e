package cli

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

// hostsFlags choose the hosts file: --hosts-file, else the namespace's own
// /etc/netns/NAME/hosts (as `ip netns exec` uses), else /etc/hosts.
type hostsFlags struct {
	nf   *netFlags
	path string
}

func (h *hostsFlags) file() string {
	if h.path != "" {
		return h.path
	}
	return netloop.Host{}.HostsFile(h.nf.target)
}

func newNetHostsCmd(f *Factory, nf *netFlags) *cobra.Command {
	hf := &hostsFlags{nf: nf}
	cmd := groupCmd("hosts <command>",
		"List, add and remove names for loopback addresses in /etc/hosts",
		`Manage names for loopback addresses in /etc/hosts, such as
'127.0.0.1 myapp.localhost'. loops marks the lines it adds, keeps every
other line byte for byte, takes a lock against concurrent edits, and writes
through a temporary file and rename (in place where /etc/hosts is a bind
mount, as in containers), so a crash never leaves it half-written.
Changing /etc/hosts needs root.`)
	cmd.PersistentFlags().StringVar(&hf.path, "hosts-file", "", "edit this `file` instead of /etc/hosts")
	cmd.AddCommand(newNetHostsListCmd(f, hf, nil), newNetHostsAddCmd(f, hf, nil), newNetHostsRemoveCmd(f, hf, nil))
	return cmd
}

type netHostsOptions struct {
	IO    *IOStreams
	File  func() string
	Name  string
	Addr  string
	All   bool
	JSON  bool
	Force bool
}

func newNetHostsListCmd(f *Factory, hf *hostsFlags, runF func(*netHostsOptions) error) *cobra.Command {
	opts := &netHostsOptions{IO: f.IO, File: hf.file}
	cmd := &cobra.Command{
		Use:     "list",
		Aliases: []string{"ls"},
		Short:   "List the names of loopback addresses in /etc/hosts",
		Long: `List the names /etc/hosts gives to loopback addresses (127.0.0.0/8, ::1),
marking those loops added. --all lists every address. Needs no privilege.`,
		Example: "  $ loops net hosts list\n  $ loops net hosts list --all --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return netHostsListRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.All, "all", false, "list non-loopback entries too")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

type hostsListJSON struct {
	Schema  int             `json:"schema"`
	File    string          `json:"file"`
	Entries []hostEntryJSON `json:"entries"`
	Invalid []int           `json:"invalid_lines,omitempty"`
}

type hostEntryJSON struct {
	Line    int      `json:"line"`
	Addr    string   `json:"addr"`
	Names   []string `json:"names"`
	ByLoops bool     `json:"added_by_loops"`
}

func netHostsListRun(opts *netHostsOptions) error {
	path := opts.File()
	hosts, err := netloop.ReadHostsFile(path)
	if err != nil {
		return hostsError(err, path)
	}
	var entries []hostEntryJSON
	for _, e := range hosts.Entries() {
		if !opts.All && !netloop.IsLoopback(e.Addr) {
			continue
		}
		entries = append(entries, hostEntryJSON{Line: e.Line, Addr: e.Addr.String(), Names: e.Names, ByLoops: e.ByLoops})
	}
	if opts.JSON {
		doc := hostsListJSON{Schema: schemaVersion, File: path, Entries: entries}
		if doc.Entries == nil {
			doc.Entries = []hostEntryJSON{}
		}
		for _, inv := range hosts.Invalid() {
			doc.Invalid = append(doc.Invalid, inv.Line)
		}
		return writeJSON(opts.IO.Out, doc)
	}
	t := newTable(opts.IO, "LINE", "ADDRESS", "NAMES", "ADDED BY")
	for _, e := range entries {
		by := "-"
		if e.ByLoops {
			by = "loops"
		}
		t.add(fmt.Sprint(e.Line), e.Addr, strings.Join(e.Names, " "), by)
	}
	if err := t.render(); err != nil {
		return err
	}
	for _, inv := range hosts.Invalid() {
		fmt.Fprintf(opts.IO.ErrOut, "%s:%d: not a valid hosts line (kept as it is)\n", path, inv.Line)
	}
	return nil
}

func newNetHostsAddCmd(f *Factory, hf *hostsFlags, runF func(*netHostsOptions) error) *cobra.Command {
	opts := &netHostsOptions{IO: f.IO, File: hf.file}
	cmd := &cobra.Command{
		Use:   "add <name> [<addr>]",
		Short: "Give a loopback address a name in /etc/hosts",
		Long: `Add NAME for a loopback address (default 127.0.0.1) to /etc/hosts, on a
line marked as added by loops. Adding a name that already maps to that
address changes nothing. Only loopback addresses are accepted.
Needs write access to the file: root for /etc/hosts.`,
		Example:     "  $ sudo loops net hosts add myapp.localhost\n  $ sudo loops net hosts add db.test 127.0.0.2",
		Annotations: map[string]string{privilegeAnnotation: "write access to the hosts file"},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return flagErrorf("%s takes a name and an optional address (got %d argument(s))", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name, opts.Addr = args[0], "127.0.0.1"
			if len(args) == 2 {
				opts.Addr = args[1]
			}
			if runF != nil {
				return runF(opts)
			}
			return netHostsAddRun(opts)
		},
	}
	return cmd
}

func netHostsAddRun(opts *netHostsOptions) error {
	addr, err := netip.ParseAddr(opts.Addr)
	if err != nil {
		return flagErrorf("%q is not an IP address", opts.Addr)
	}
	if !netloop.IsLoopback(addr) {
		return withHint(fmt.Errorf("%s: %w", addr, netloop.ErrNotLoopback), "loops names loopback addresses only (127.0.0.0/8, ::1).")
	}
	path := opts.File()
	changed, err := netloop.EditHostsFile(path, func(h *netloop.HostsFile) (bool, error) {
		return h.Add(opts.Name, addr)
	})
	if err != nil {
		if errors.Is(err, netloop.ErrNotLoopback) {
			return withHint(err, "loops names loopback addresses only (127.0.0.0/8, ::1).")
		}
		return hostsError(err, path)
	}
	if !changed {
		fmt.Fprintf(opts.IO.ErrOut, "%s already maps %s to %s; nothing changed.\n", path, opts.Name, addr)
		return nil
	}
	fmt.Fprintf(opts.IO.ErrOut, "Added %s → %s to %s.\n", opts.Name, addr, path)
	return nil
}

func newNetHostsRemoveCmd(f *Factory, hf *hostsFlags, runF func(*netHostsOptions) error) *cobra.Command {
	opts := &netHostsOptions{IO: f.IO, File: hf.file}
	cmd := &cobra.Command{
		Use:     "remove <name>",
		Aliases: []string{"rm", "del"},
		Short:   "Remove a name from /etc/hosts",
		Long: `Remove NAME from /etc/hosts. A line loops added goes away entirely, which
restores the file exactly; on a line loops did not write, only the name is
removed and the rest of the line kept. Needs write access to the file:
root for /etc/hosts.`,
		Example:     "  $ sudo loops net hosts remove myapp.localhost",
		Annotations: map[string]string{privilegeAnnotation: "write access to the hosts file"},
		Args:        exactArgs(1, "one name"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Name = args[0]
			if runF != nil {
				return runF(opts)
			}
			return netHostsRemoveRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.Force, "force", false, "also delete a line loops did not write when the name is its only one")
	return cmd
}

func netHostsRemoveRun(opts *netHostsOptions) error {
	path := opts.File()
	_, err := netloop.EditHostsFile(path, func(h *netloop.HostsFile) (bool, error) {
		if opts.Force {
			return h.RemoveForce(opts.Name)
		}
		return h.Remove(opts.Name)
	})
	if err != nil {
		switch {
		case errors.Is(err, netloop.ErrNameNotFound):
			return withHint(err, "'loops net hosts list --all' shows the names in %s.", path)
		case errors.Is(err, netloop.ErrForeignEntry):
			return withCommandHint(err, func(c string) string { return "loops did not write that line. To delete it anyway: " + c + " --force" })
		}
		return hostsError(err, path)
	}
	fmt.Fprintf(opts.IO.ErrOut, "Removed %s from %s.\n", opts.Name, path)
	return nil
}
