package cli

import (
	"fmt"
	"net/netip"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netStatusOptions struct {
	IO   *IOStreams
	Net  func() (*netloop.Client, error)
	JSON bool
}

func newNetStatusCmd(f *Factory, nf *netFlags, runF func(*netStatusOptions) error) *cobra.Command {
	opts := &netStatusOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show lo: flags, addresses, routes, counters and loopback-only services",
		Long: `Show the network loopback interface lo in one screen: what 'ifconfig lo'
and 'ip -s addr show lo' show together, plus its local routes and a count of
the services that listen on loopback only. Needs no privilege.`,
		Example: `  $ loops net status
  $ loops net status --json
  $ sudo loops net status --netns blue`,
		Args: exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return netStatusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

// netStatusJSON is the --json document of `loops net status`. Field names
// follow `ip -j` where it has one.
type netStatusJSON struct {
	Schema    int           `json:"schema,omitempty"` // 0 only inside loops status
	Netns     string        `json:"netns"`
	Ifname    string        `json:"ifname"`
	Ifindex   int           `json:"ifindex"`
	Flags     []string      `json:"flags"`
	Up        bool          `json:"up"`
	OperState string        `json:"operstate"`
	MTU       int           `json:"mtu"`
	TxQLen    int           `json:"txqlen"`
	IPv6      bool          `json:"ipv6"`
	AddrInfo  []addrJSON    `json:"addr_info"`
	Routes    []routeJSON   `json:"routes"`
	Stats64   stats64JSON   `json:"stats64"`
	Listeners listenSummary `json:"listeners"`
}

type addrJSON struct {
	Family    string `json:"family"`
	Local     string `json:"local"`
	PrefixLen int    `json:"prefixlen"`
	Scope     string `json:"scope"`
	Label     string `json:"label,omitempty"`
	Secondary bool   `json:"secondary,omitempty"`
}

type routeJSON struct {
	Type    string `json:"type"`
	Dst     string `json:"dst"`
	Scope   string `json:"scope"`
	PrefSrc string `json:"prefsrc,omitempty"`
}

type stats64JSON struct {
	RX counterJSON `json:"rx"`
	TX counterJSON `json:"tx"`
}

type counterJSON struct {
	Bytes   uint64 `json:"bytes"`
	Packets uint64 `json:"packets"`
	Errors  uint64 `json:"errors"`
	Dropped uint64 `json:"dropped"`
}

type listenSummary struct {
	LoopbackOnly int    `json:"loopback_only"`
	Wildcard     int    `json:"wildcard"`
	Error        string `json:"error,omitempty"`
}

func netStatusRun(opts *netStatusOptions) error {
	c, err := opts.Net()
	if err != nil {
		return err
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return err
	}
	sum := summarizeListeners(c)
	doc := netStatusDoc(c.Target(), st, sum)
	if opts.JSON {
		return writeJSON(opts.IO.Out, doc)
	}
	return renderNetStatus(opts.IO, doc)
}

// summarizeListeners counts the listeners reachable over loopback: those
// bound to loopback only, and those bound to all addresses.
func summarizeListeners(c *netloop.Client) listenSummary {
	var sum listenSummary
	ls, err := c.Listeners(netloop.ListenerOptions{UDP: true})
	if err != nil {
		sum.Error = err.Error()
		return sum
	}
	for _, l := range ls {
		if l.LoopbackOnly() {
			sum.LoopbackOnly++
		} else {
			sum.Wildcard++
		}
	}
	return sum
}

func netStatusDoc(t netloop.Target, st *netloop.Status, sum listenSummary) netStatusJSON {
	doc := netStatusJSON{
		Schema: schemaVersion, Netns: netnsLabel(t),
		Ifname: st.Name, Ifindex: st.Index, Flags: st.Flags, Up: st.Up,
		OperState: strings.ToUpper(st.OperState), MTU: st.MTU, TxQLen: st.TxQueue,
		IPv6: !st.IPv6Disabled, Listeners: sum,
		AddrInfo: []addrJSON{}, Routes: []routeJSON{},
		Stats64: stats64JSON{
			RX: counterJSON{st.Counters.RxBytes, st.Counters.RxPackets, st.Counters.RxErrors, st.Counters.RxDropped},
			TX: counterJSON{st.Counters.TxBytes, st.Counters.TxPackets, st.Counters.TxErrors, st.Counters.TxDropped},
		},
	}
	if doc.Flags == nil {
		doc.Flags = []string{}
	}
	for _, a := range st.Addrs {
		doc.AddrInfo = append(doc.AddrInfo, addrJSON{
			Family: family(a.Prefix.Addr()), Local: a.Prefix.Addr().String(), PrefixLen: a.Prefix.Bits(),
			Scope: a.Scope, Label: a.Label, Secondary: a.Secondary,
		})
	}
	for _, r := range st.Routes {
		rj := routeJSON{Type: r.Type, Dst: routeDst(r.Dst), Scope: r.Scope}
		if r.Src.IsValid() {
			rj.PrefSrc = r.Src.String()
		}
		doc.Routes = append(doc.Routes, rj)
	}
	return doc
}

func renderNetStatus(io *IOStreams, d netStatusJSON) error {
	header := "Network loopback interface lo (" + d.Netns + "). Loop devices are 'loops block'; the audio loopback is 'loops audio'."
	if !io.IsTerminal() {
		fmt.Fprintln(io.ErrOut, header)
		t := newTable(io)
		state := "DOWN"
		if d.Up {
			state = "UP"
		}
		t.add("link", d.Ifname, fmt.Sprint(d.Ifindex), state, strings.Join(d.Flags, ","), fmt.Sprint(d.MTU))
		for _, a := range d.AddrInfo {
			t.add("addr", fmt.Sprintf("%s/%d", a.Local, a.PrefixLen), a.Scope, dash(a.Label), secondaryWord(a.Secondary))
		}
		for _, r := range d.Routes {
			t.add("route", r.Type, r.Dst, r.Scope)
		}
		t.add("rx", fmt.Sprint(d.Stats64.RX.Packets), fmt.Sprint(d.Stats64.RX.Bytes), fmt.Sprint(d.Stats64.RX.Errors), fmt.Sprint(d.Stats64.RX.Dropped))
		t.add("tx", fmt.Sprint(d.Stats64.TX.Packets), fmt.Sprint(d.Stats64.TX.Bytes), fmt.Sprint(d.Stats64.TX.Errors), fmt.Sprint(d.Stats64.TX.Dropped))
		t.add("listeners", fmt.Sprint(d.Listeners.LoopbackOnly), fmt.Sprint(d.Listeners.Wildcard))
		return t.render()
	}
	w := io.Out
	fmt.Fprintln(w, header)
	fmt.Fprintln(w)
	state := "DOWN: connections to 127.0.0.1 hang, ::1 is gone (fix: sudo loops net up)"
	if d.Up {
		state = "UP"
	}
	fmt.Fprintf(w, "lo  index %d  <%s>  mtu %d  qlen %d\n", d.Ifindex, strings.Join(d.Flags, ","), d.MTU, d.TxQLen)
	fmt.Fprintf(w, "state  %s\n\n", state)
	if len(d.AddrInfo) == 0 {
		fmt.Fprintln(w, "no addresses (a fresh namespace's lo has none until it is up)")
	} else {
		t := newTable(io, "ADDRESS", "SCOPE", "LABEL", "")
		for _, a := range d.AddrInfo {
			t.add(fmt.Sprintf("%s/%d", a.Local, a.PrefixLen), a.Scope, dash(a.Label), secondaryWord(a.Secondary))
		}
		t.render()
	}
	fmt.Fprintln(w)
	local := "no local 127.0.0.0/8 route: only the listed addresses are local"
	for _, r := range d.Routes {
		if r.Type == "local" && r.Dst == "127.0.0.0/8" {
			local = "local 127.0.0.0/8: any 127.x address is local, alias or not"
		}
	}
	fmt.Fprintf(w, "route  %s\n", local)
	if !d.IPv6 {
		fmt.Fprintln(w, "ipv6   disabled on lo (net.ipv6.conf.lo.disable_ipv6=1)")
	}
	fmt.Fprintln(w)
	rx, tx := d.Stats64.RX, d.Stats64.TX
	fmt.Fprintf(w, "RX  packets %d  bytes %d  errors %d  dropped %d\n", rx.Packets, rx.Bytes, rx.Errors, rx.Dropped)
	fmt.Fprintf(w, "TX  packets %d  bytes %d  errors %d  dropped %d\n\n", tx.Packets, tx.Bytes, tx.Errors, tx.Dropped)
	if d.Listeners.Error != "" {
		fmt.Fprintf(w, "listeners  unknown: %s\n", d.Listeners.Error)
	} else {
		fmt.Fprintf(w, "listeners  %d on loopback only, %d on all addresses (details: loops net listeners)\n",
			d.Listeners.LoopbackOnly, d.Listeners.Wildcard)
	}
	return nil
}

func netnsLabel(t netloop.Target) string {
	switch {
	case t.Name != "":
		return t.Name
	case t.Path != "":
		return t.Path
	}
	return "current"
}

func family(a netip.Addr) string {
	if a.Is4() {
		return "inet"
	}
	return "inet6"
}

func routeDst(p netip.Prefix) string {
	if p.IsSingleIP() {
		return p.Addr().String()
	}
	return p.String()
}

func secondaryWord(b bool) string {
	if b {
		return "secondary"
	}
	return "primary"
}
