package netloop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LoopbackName is the loopback interface's name in every namespace.
const LoopbackName = "lo"

// Status is lo as `ifconfig lo` and `ip -s addr show lo` show it together.
type Status struct {
	Name      string
	Index     int
	Up        bool     // IFF_UP: administratively up
	Running   bool     // IFF_RUNNING
	LowerUp   bool     // IFF_LOWER_UP
	Flags     []string // "UP", "LOOPBACK", "RUNNING", "LOWER_UP", in ip's order
	OperState string   // "unknown" on a healthy lo; do not judge by it
	MTU       int
	TxQueue   int
	Addrs     []Addr
	Routes    []Route // lo's routes in the local table
	Counters  Counters
	// IPv6Disabled is net.ipv6.conf.lo.disable_ipv6 (or IPv6 absent).
	IPv6Disabled bool
}

// Addr is one address on lo.
type Addr struct {
	Prefix    netip.Prefix
	Scope     string // "host", "link", "global", ...
	Label     string // "lo", "lo:1"; IPv4 only
	Secondary bool
	Permanent bool
}

// Route is one route through lo in the local routing table.
type Route struct {
	Type  string // "local", "broadcast"
	Dst   netip.Prefix
	Scope string
	Src   netip.Addr // preferred source, if any
}

// Counters are lo's 64-bit interface statistics (IFLA_STATS64), the numbers
// in /sys/class/net/lo/statistics.
type Counters struct {
	RxPackets, RxBytes, RxErrors, RxDropped uint64
	TxPackets, TxBytes, TxErrors, TxDropped uint64
}

// HasLocalRoute127 reports whether the local table routes all of 127.0.0.0/8
// to lo, which makes every 127.x address bindable without an alias.
func (s *Status) HasLocalRoute127() bool {
	want := netip.MustParsePrefix("127.0.0.0/8")
	for _, r := range s.Routes {
		if r.Type == "local" && r.Dst == want {
			return true
		}
	}
	return false
}

// FindAddr returns lo's address equal to ip, whatever its prefix length.
func (s *Status) FindAddr(ip netip.Addr) (Addr, bool) {
	for _, a := range s.Addrs {
		if a.Prefix.Addr() == ip.Unmap() {
			return a, true
		}
	}
	return Addr{}, false
}

// Status reads lo: flags, MTU, addresses, local routes and counters, like
// `ip -s addr show lo` plus `ip route show table local dev lo`. It needs no
// privilege.
func (c *Client) Status() (*Status, error) {
	link, err := c.link()
	if err != nil {
		return nil, err
	}
	a := link.Attrs()
	st := &Status{
		Name:      a.Name,
		Index:     a.Index,
		Up:        a.Flags&net.FlagUp != 0,
		Running:   a.RawFlags&unix.IFF_RUNNING != 0,
		LowerUp:   a.RawFlags&unix.IFF_LOWER_UP != 0,
		OperState: a.OperState.String(),
		MTU:       a.MTU,
		TxQueue:   a.TxQLen,
	}
	st.Flags = flagNames(a.RawFlags)
	if s := a.Statistics; s != nil {
		st.Counters = Counters{
			RxPackets: s.RxPackets, RxBytes: s.RxBytes, RxErrors: s.RxErrors, RxDropped: s.RxDropped,
			TxPackets: s.TxPackets, TxBytes: s.TxBytes, TxErrors: s.TxErrors, TxDropped: s.TxDropped,
		}
	}
	if st.Addrs, err = c.addrs(link); err != nil {
		return nil, err
	}
	if st.Routes, err = c.localRoutes(a.Index); err != nil {
		return nil, err
	}
	// ::1 on lo means IPv6 is on; only without it is the sysctl worth a read.
	if _, has6 := st.FindAddr(netip.IPv6Loopback()); !has6 {
		st.IPv6Disabled = c.ipv6Disabled()
	}
	return st, nil
}

func (c *Client) link() (netlink.Link, error) {
	if c.closed {
		return nil, ErrClosed
	}
	link, err := c.h.LinkByName(LoopbackName)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil, &OpError{Op: "find lo", Target: c.target, Err: ErrNoLoopback}
		}
		return nil, &OpError{Op: "read lo", Target: c.target, Err: err}
	}
	return link, nil
}

func (c *Client) addrs(link netlink.Link) ([]Addr, error) {
	var list []netlink.Addr
	err := retryDump(func() (err error) {
		list, err = c.h.AddrList(link, netlink.FAMILY_ALL)
		return err
	})
	if err != nil {
		return nil, &OpError{Op: "list lo addresses", Target: c.target, Err: err}
	}
	out := make([]Addr, 0, len(list))
	for _, a := range list {
		p, ok := prefixOf(a.IPNet)
		if !ok {
			continue
		}
		out = append(out, Addr{
			Prefix:    p,
			Scope:     scopeName(a.Scope),
			Label:     a.Label,
			Secondary: a.Flags&unix.IFA_F_SECONDARY != 0,
			Permanent: a.Flags&unix.IFA_F_PERMANENT != 0,
		})
	}
	return out, nil
}

func (c *Client) localRoutes(index int) ([]Route, error) {
	var list []netlink.Route
	filter := &netlink.Route{Table: unix.RT_TABLE_LOCAL, LinkIndex: index}
	err := retryDump(func() (err error) {
		list, err = c.h.RouteListFiltered(netlink.FAMILY_ALL, filter, netlink.RT_FILTER_TABLE|netlink.RT_FILTER_OIF)
		return err
	})
	if err != nil {
		return nil, &OpError{Op: "list local routes", Target: c.target, Err: err}
	}
	out := make([]Route, 0, len(list))
	for _, r := range list {
		dst, ok := prefixOf(r.Dst)
		if !ok {
			continue
		}
		rt := Route{Type: routeTypeName(r.Type), Dst: dst, Scope: scopeName(int(r.Scope))}
		if src, ok := netip.AddrFromSlice(r.Src); ok {
			rt.Src = src.Unmap()
		}
		out = append(out, rt)
	}
	return out, nil
}

func (c *Client) ipv6Disabled() bool {
	// /proc/sys/net reflects the namespace of the process, so read it there.
	var disabled bool
	_ = c.Do(func() error {
		b, err := os.ReadFile(filepath.Join(c.host.proc(), "sys/net/ipv6/conf/lo/disable_ipv6"))
		if err != nil {
			disabled = errors.Is(err, os.ErrNotExist) // no IPv6 in this kernel
			return nil
		}
		disabled = strings.TrimSpace(string(b)) == "1"
		return nil
	})
	return disabled
}

// retryDump retries a netlink dump the kernel flagged as interrupted, then
// accepts the last result, as moby and nebula do.
func retryDump(f func() error) error {
	var err error
	for range 5 {
		if err = f(); !errors.Is(err, netlink.ErrDumpInterrupted) {
			return err
		}
	}
	return nil
}

func prefixOf(n *net.IPNet) (netip.Prefix, bool) {
	if n == nil {
		return netip.Prefix{}, false
	}
	ip, ok := netip.AddrFromSlice(n.IP)
	if !ok {
		return netip.Prefix{}, false
	}
	ones, _ := n.Mask.Size()
	return netip.PrefixFrom(ip.Unmap(), ones), true
}

func flagNames(raw uint32) []string {
	var out []string
	for _, f := range []struct {
		bit  uint32
		name string
	}{
		{unix.IFF_LOOPBACK, "LOOPBACK"},
		{unix.IFF_UP, "UP"},
		{unix.IFF_RUNNING, "RUNNING"},
		{unix.IFF_LOWER_UP, "LOWER_UP"},
	} {
		if raw&f.bit != 0 {
			out = append(out, f.name)
		}
	}
	return out
}

func scopeName(s int) string {
	switch s {
	case unix.RT_SCOPE_UNIVERSE:
		return "global"
	case unix.RT_SCOPE_SITE:
		return "site"
	case unix.RT_SCOPE_LINK:
		return "link"
	case unix.RT_SCOPE_HOST:
		return "host"
	case unix.RT_SCOPE_NOWHERE:
		return "nowhere"
	}
	return fmt.Sprint(s)
}

func routeTypeName(t int) string {
	switch t {
	case unix.RTN_UNICAST:
		return "unicast"
	case unix.RTN_LOCAL:
		return "local"
	case unix.RTN_BROADCAST:
		return "broadcast"
	case unix.RTN_ANYCAST:
		return "anycast"
	case unix.RTN_MULTICAST:
		return "multicast"
	}
	return fmt.Sprint(t)
}
