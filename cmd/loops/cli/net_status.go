package cli

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/netloop"
)

type netStatusOptions struct {
	IO    *IOStreams
	Net   func() (*netloop.Client, error)
	JSON  bool
	Watch time.Duration // --watch: refresh every Watch (0: once)
	Title string        // the command, for the --watch header
}

func newNetStatusCmd(f *Factory, nf *netFlags, runF func(*netStatusOptions) error) *cobra.Command {
	opts := &netStatusOptions{IO: f.IO, Net: nf.open}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show lo: flags, addresses, routes, counters and loopback-only services",
		Long: `Show the network loopback interface lo in one screen: what 'ifconfig lo'
and 'ip -s addr show lo' show together, plus its local routes and a count of
the services that listen on loopback only. Needs no privilege.

With --watch it is shown live, like 'watch -d ip -s link show lo': packets
and bytes per second in each direction, from the 64-bit counters, and the
loopback services that appeared or went away since the last interval.`,
		Example: `  $ loops net status
  $ loops net status --json
  $ sudo loops net status --netns blue
  $ loops net status --watch=1s
  $ loops net status --watch --json | jq -c .rates`,
		Args: watchArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Title = cmd.CommandPath()
			if runF != nil {
				return runF(opts)
			}
			return netStatusRun(opts)
		},
	}
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	addWatchFlag(cmd, &opts.Watch)
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

	// With --watch only: the time of the reading, the rates since the
	// previous one (from the second document on) and the loopback
	// listeners that appeared or went away since then.
	Time     string        `json:"time,omitempty"`
	Rates    *ratesJSON    `json:"rates,omitempty"`
	Appeared []listenerKey `json:"listeners_appeared,omitempty"`
	Gone     []listenerKey `json:"listeners_gone,omitempty"`
}

// ratesJSON are lo's traffic rates per second over the last interval.
type ratesJSON struct {
	Seconds float64  `json:"seconds"` // the interval they are measured over
	RX      rateJSON `json:"rx"`
	TX      rateJSON `json:"tx"`
}

type rateJSON struct {
	Packets float64 `json:"packets"` // per second
	Bytes   float64 `json:"bytes"`   // per second
}

// listenerKey names a listener across readings.
type listenerKey struct {
	Proto string `json:"proto"`
	Local string `json:"local"`
	Port  uint16 `json:"port"`
}

func (k listenerKey) String() string {
	return fmt.Sprintf("%s %s", k.Proto, netip.AddrPortFrom(netip.MustParseAddr(k.Local), k.Port))
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
	if opts.Watch > 0 {
		w := &netWatch{c: c}
		return runWatch(opts.IO, watchSpec{Interval: opts.Watch, Title: opts.Title, JSON: opts.JSON},
			func(io *IOStreams, first bool) error { return w.frame(io, opts.JSON) })
	}
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

// netWatch is `loops net status --watch`: each reading is compared with
// the previous one.
type netWatch struct {
	c      *netloop.Client
	last   *netloop.Counters
	lastT  time.Time
	known  map[listenerKey]bool // nil before the first reading
	recent []string             // the last listener changes, for the terminal
}

// maxRecentChanges is how many listener changes the terminal view keeps.
const maxRecentChanges = 6

func (w *netWatch) frame(io *IOStreams, asJSON bool) error {
	st, err := w.c.Status()
	if err != nil {
		return err
	}
	now := time.Now()
	ls, lerr := w.c.Listeners(netloop.ListenerOptions{UDP: true})
	doc := netStatusDoc(w.c.Target(), st, summarize(ls, lerr))
	doc.Time = now.UTC().Format(time.RFC3339Nano)
	if w.last != nil {
		doc.Rates = counterRates(*w.last, st.Counters, now.Sub(w.lastT))
	}
	w.last, w.lastT = &st.Counters, now
	if lerr == nil {
		cur := map[listenerKey]bool{}
		for _, l := range ls {
			cur[listenerKey{l.Proto, l.Addr.Addr().String(), l.Addr.Port()}] = true
		}
		if w.known != nil {
			doc.Appeared, doc.Gone = diffListeners(w.known, cur)
			stamp := now.Format("15:04:05")
			for _, k := range doc.Appeared {
				w.recent = append(w.recent, stamp+"  + "+k.String()+" appeared")
			}
			for _, k := range doc.Gone {
				w.recent = append(w.recent, stamp+"  - "+k.String()+" went away")
			}
			if len(w.recent) > maxRecentChanges {
				w.recent = w.recent[len(w.recent)-maxRecentChanges:]
			}
		}
		w.known = cur
	}
	if asJSON {
		doc.Schema = schemaVersion
		return writeJSONLine(io.Out, doc)
	}
	if err := renderNetStatus(io, doc); err != nil {
		return err
	}
	if io.IsTerminal() && len(w.recent) > 0 {
		fmt.Fprintln(io.Out)
		for _, e := range w.recent {
			fmt.Fprintln(io.Out, e)
		}
	}
	return nil
}

// counterRates is the traffic per second between two readings of the 64-bit
// counters. A counter that went back (the namespace was made anew) gives 0.
func counterRates(a, b netloop.Counters, d time.Duration) *ratesJSON {
	if d <= 0 {
		return nil
	}
	s := d.Seconds()
	per := func(x, y uint64) float64 {
		if y < x {
			return 0
		}
		return float64(y-x) / s
	}
	return &ratesJSON{Seconds: s,
		RX: rateJSON{per(a.RxPackets, b.RxPackets), per(a.RxBytes, b.RxBytes)},
		TX: rateJSON{per(a.TxPackets, b.TxPackets), per(a.TxBytes, b.TxBytes)}}
}

// diffListeners returns the listeners in cur but not in old, and those in
// old but not in cur, each sorted.
func diffListeners(old, cur map[listenerKey]bool) (appeared, gone []listenerKey) {
	for k := range cur {
		if !old[k] {
			appeared = append(appeared, k)
		}
	}
	for k := range old {
		if !cur[k] {
			gone = append(gone, k)
		}
	}
	less := func(a, b listenerKey) int {
		return cmp.Or(cmp.Compare(a.Proto, b.Proto), cmp.Compare(a.Local, b.Local), cmp.Compare(a.Port, b.Port))
	}
	slices.SortFunc(appeared, less)
	slices.SortFunc(gone, less)
	return appeared, gone
}

// summarizeListeners counts the listeners reachable over loopback: those
// bound to loopback only, and those bound to all addresses.
func summarizeListeners(c *netloop.Client) listenSummary {
	return summarize(c.Listeners(netloop.ListenerOptions{UDP: true}))
}

func summarize(ls []netloop.Listener, err error) listenSummary {
	var sum listenSummary
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
		if r := d.Rates; r != nil {
			t.add("rate", "rx", rateNum(r.RX.Packets), rateNum(r.RX.Bytes))
			t.add("rate", "tx", rateNum(r.TX.Packets), rateNum(r.TX.Bytes))
		}
		for _, k := range d.Appeared {
			t.add("appeared", k.Proto, k.Local, fmt.Sprint(k.Port))
		}
		for _, k := range d.Gone {
			t.add("gone", k.Proto, k.Local, fmt.Sprint(k.Port))
		}
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
	fmt.Fprintf(w, "TX  packets %d  bytes %d  errors %d  dropped %d\n", tx.Packets, tx.Bytes, tx.Errors, tx.Dropped)
	if r := d.Rates; r != nil {
		fmt.Fprintf(w, "RX  %s pkt/s  %s\n", rateNum(r.RX.Packets), byteRate(r.RX.Bytes))
		fmt.Fprintf(w, "TX  %s pkt/s  %s\n", rateNum(r.TX.Packets), byteRate(r.TX.Bytes))
	} else if d.Time != "" {
		fmt.Fprintln(w, "rates from the next reading on")
	}
	fmt.Fprintln(w)
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

// rateNum prints a rate with one decimal.
func rateNum(v float64) string { return strconv.FormatFloat(v, 'f', 1, 64) }

// byteRate prints bytes per second in binary units.
func byteRate(v float64) string {
	units := []string{"B/s", "KiB/s", "MiB/s", "GiB/s"}
	i := 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}
