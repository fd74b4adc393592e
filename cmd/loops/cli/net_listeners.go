package cli

import (
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netListenersOptions struct {
	IO    *IOStreams
	Net   func() (*netloop.Client, error)
	Port  int
	TCP   bool
	JSON  bool
	Watch time.Duration // --watch: refresh every Watch (0: once)
	Title string        // the command, for the --watch header
}

func newNetListenersCmd(f *Factory, nf *netFlags, runF func(*netListenersOptions) error) *cobra.Command {
	opts := &netListenersOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:     "listeners",
		Aliases: []string{"listen"},
		Short:   "Show the servers reachable over loopback, and on which addresses",
		Long: `Show every TCP and UDP socket that listens on a loopback address or on all
addresses, with its owning process, and which loopback addresses reach it.
A server bound to 127.0.0.1:631 answers on 127.0.0.1 only, not on 127.0.0.2
nor on ::1; one bound to 0.0.0.0 answers on every 127.x address, and a
dual-stack [::] on ::1 too. Like 'ss -ltnup', but asking the kernel for
listening sockets only. Owners of other users' sockets need root to see.
With --watch the list is shown live: servers appear and disappear as they
start and stop.`,
		Example: "  $ loops net listeners\n  $ loops net listeners --port 631 --json\n  $ loops net listeners --watch",
		Args:    watchArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Title = cmd.CommandPath()
			if opts.Port < 0 || opts.Port > 65535 {
				return flagErrorf("--port %d is not a port (1-65535)", opts.Port)
			}
			if runF != nil {
				return runF(opts)
			}
			return netListenersRun(opts)
		},
	}
	cmd.Flags().IntVar(&opts.Port, "port", 0, "only listeners on this port")
	cmd.Flags().BoolVar(&opts.TCP, "tcp", false, "TCP only (no UDP)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	addWatchFlag(cmd, &opts.Watch)
	return cmd
}

type listenersJSON struct {
	Schema    int            `json:"schema"`
	Time      string         `json:"time,omitempty"` // --watch only
	Netns     string         `json:"netns"`
	Listeners []listenerJSON `json:"listeners"`
}

type listenerJSON struct {
	Proto        string          `json:"proto"`
	Local        string          `json:"local"`
	Port         uint16          `json:"port"`
	V6Only       bool            `json:"v6only,omitempty"`
	LoopbackOnly bool            `json:"loopback_only"`
	UID          uint32          `json:"uid"`
	Inode        uint64          `json:"inode"`
	Processes    []processJSON   `json:"processes"`
	Reaches      map[string]bool `json:"reaches"`
}

type processJSON struct {
	PID  int    `json:"pid"`
	Name string `json:"name"`
}

func netListenersRun(opts *netListenersOptions) error {
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	frame := func(io *IOStreams, first bool) error { return netListenersFrame(io, c, opts) }
	if opts.Watch > 0 {
		return runWatch(opts.IO, watchSpec{Interval: opts.Watch, Title: opts.Title, JSON: opts.JSON}, frame)
	}
	return frame(opts.IO, true)
}

// netListenersFrame lists the listeners and prints them once; watching, as
// one JSON line with a "time".
func netListenersFrame(io *IOStreams, c *netloop.Client, opts *netListenersOptions) error {
	ls, err := c.Listeners(netloop.ListenerOptions{Port: opts.Port, UDP: !opts.TCP, Owners: true})
	if err != nil {
		return err
	}
	if opts.JSON {
		doc := listenersJSON{Schema: schemaVersion, Netns: netnsLabel(c.Target()), Listeners: []listenerJSON{}}
		for _, l := range ls {
			j := listenerJSON{
				Proto: l.Proto, Local: l.Addr.Addr().String(), Port: l.Addr.Port(), V6Only: l.V6Only,
				LoopbackOnly: l.LoopbackOnly(), UID: l.UID, Inode: l.Inode,
				Processes: []processJSON{}, Reaches: map[string]bool{},
			}
			for _, p := range l.Owners {
				j.Processes = append(j.Processes, processJSON{p.PID, p.Name})
			}
			for _, r := range l.Reachability() {
				j.Reaches[r.Addr.String()] = r.OK
			}
			doc.Listeners = append(doc.Listeners, j)
		}
		if opts.Watch > 0 {
			doc.Time = watchTime()
			return writeJSONLine(io.Out, doc)
		}
		return writeJSON(io.Out, doc)
	}
	if len(ls) == 0 {
		if io.IsTerminal() {
			fmt.Fprintf(io.ErrOut, "Nothing listens on loopback (%s).\n", netnsLabel(c.Target()))
		}
		return nil
	}
	t := newTable(io, "PROTO", "ADDRESS", "PORT", "PROCESS", "127.0.0.1", "127.0.0.2", "::1")
	for _, l := range ls {
		row := []string{l.Proto, l.Addr.Addr().String() + v6onlyNote(l), fmt.Sprint(l.Addr.Port()), owners(l)}
		for _, r := range l.Reachability() {
			row = append(row, yesNo(r.OK, io.IsTerminal()))
		}
		t.add(row...)
	}
	return t.render()
}

func v6onlyNote(l netloop.Listener) string {
	if l.Wildcard() && l.Addr.Addr().Is6() {
		if l.V6Only {
			return " (v6only)"
		}
		return " (dual-stack)"
	}
	return ""
}

func owners(l netloop.Listener) string {
	if len(l.Owners) == 0 {
		return fmt.Sprintf("? (uid %d)", l.UID)
	}
	var s []string
	for _, p := range l.Owners {
		s = append(s, fmt.Sprintf("%s[%d]", p.Name, p.PID))
	}
	return strings.Join(s, ",")
}

func yesNo(ok, tty bool) string {
	switch {
	case ok && tty:
		return "answers"
	case ok:
		return "yes"
	case tty:
		return "refused"
	}
	return "no"
}
