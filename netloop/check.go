package netloop

import (
	"errors"
	"fmt"
	"net"
	"net/netip"
	"slices"
	"strings"
	"syscall"
	"time"
)

// Finding statuses, from best to worst.
const (
	StatusOK   = "ok"
	StatusInfo = "info"
	StatusWarn = "warn"
	StatusFail = "fail"
)

// Finding is one result of Check: what was checked, how it went, why, and
// what fixes it.
type Finding struct {
	ID     string // "link.up", "conn.v4", ...
	Status string // StatusOK, StatusInfo, StatusWarn or StatusFail
	Reason string // one line
	Fix    Fix    // what cures it; nil when nothing simple does
}

// Report is the outcome of Check.
type Report struct {
	Target    Target
	HostsFile string // the hosts file checked, which HostsAdd and the like edit
	Findings  []Finding
}

// Failed reports whether any finding failed.
func (r *Report) Failed() bool { return r.count(StatusFail) > 0 }

// Warnings counts the findings that warn.
func (r *Report) Warnings() int { return r.count(StatusWarn) }

// Failures counts the failed findings.
func (r *Report) Failures() int { return r.count(StatusFail) }

func (r *Report) count(status string) int {
	n := 0
	for _, f := range r.Findings {
		if f.Status == status {
			n++
		}
	}
	return n
}

// Find returns the finding with id.
func (r *Report) Find(id string) (Finding, bool) {
	for _, f := range r.Findings {
		if f.ID == id {
			return f, true
		}
	}
	return Finding{}, false
}

// DefaultDialTimeout bounds each round trip of Check when
// CheckOptions.DialTimeout is 0.
const DefaultDialTimeout = 500 * time.Millisecond

// CheckOptions tune Check.
type CheckOptions struct {
	// HostsFile is the hosts file to check; "" means the namespace's own
	// (Client.HostsFile).
	HostsFile string
	// DialTimeout bounds each round trip (DefaultDialTimeout if 0).
	DialTimeout time.Duration
}

// checker holds what the steps of Check read and what they found so far.
type checker struct {
	c         *Client
	opts      CheckOptions
	st        *Status
	r         *Report
	has6      bool         // lo has ::1
	hosts     *HostsFile   // nil when hostsErr
	hostsErr  error        // reading the hosts file
	fileOrder []netip.Addr // localhost in the hosts file, in file order
	nss       []string     // the hosts: sources of nsswitch.conf
	synth     bool         // an nss module synthesizes localhost
	libcOrder []netip.Addr // localhost as getent sees it; nil when not asked
}

// Check diagnoses loopback in the client's namespace, like a doctor that
// runs `ip addr show lo`, `ip route show table local`, `getent ahosts
// localhost` and `ss -ltn` and reads the answers together, then makes real
// round trips over 127.0.0.1, [::1] and 127.0.0.2. It needs no privilege in
// the caller's own namespace. An error means the check could not run; what
// it found is in the Report.
func (c *Client) Check(opts CheckOptions) (*Report, error) {
	st, err := c.Status()
	if err != nil {
		return nil, err
	}
	if opts.HostsFile == "" {
		opts.HostsFile = c.hosts
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	k := &checker{c: c, opts: opts, st: st, r: &Report{Target: c.target, HostsFile: opts.HostsFile}}
	k.checkLink()
	k.checkAddrV4()
	k.checkLocalRoute()
	k.readNames()
	k.checkAddrV6()
	k.checkRoundTrips()
	k.checkHosts()
	k.checkNSS()
	k.checkResolveOrder()
	k.checkListeners()
	k.checkHostname()
	k.checkCounters()
	return k.r, nil
}

func (k *checker) add(id, status string, fix Fix, format string, a ...any) {
	k.r.Findings = append(k.r.Findings, Finding{ID: id, Status: status, Reason: fmt.Sprintf(format, a...), Fix: fix})
}

var localhost4 = netip.MustParseAddr("127.0.0.1")

// checkLink: lo itself, up and LOWER_UP.
func (k *checker) checkLink() {
	switch st := k.st; {
	case !st.Up:
		k.add("link.up", StatusFail, LinkUp{}, "lo is DOWN: connections to 127.0.0.1 hang, ::1 is gone")
	case !st.LowerUp:
		k.add("link.up", StatusWarn, Steps{LinkDown{}, LinkUp{}}, "lo is UP but not LOWER_UP")
	default:
		k.add("link.up", StatusOK, nil, "lo is UP, LOWER_UP, mtu %d", st.MTU)
	}
}

// checkAddrV4: 127.0.0.1/8 with host scope.
func (k *checker) checkAddrV4() {
	st := k.st
	v4, ok := st.FindAddr(localhost4)
	want := netip.PrefixFrom(localhost4, 8)
	switch {
	case !ok && !st.Up:
		k.add("addr.v4", StatusFail, LinkUp{}, "127.0.0.1 is missing; bringing lo up adds it")
	case !ok:
		k.add("addr.v4", StatusFail, AddAddr{want}, "127.0.0.1 is missing: bind and connect fail with 'Cannot assign requested address'")
	case v4.Prefix.Bits() != 8 || v4.Scope != "host":
		k.add("addr.v4", StatusWarn, Steps{DelAddr{localhost4}, AddAddr{want}},
			"127.0.0.1 is %s with scope %s; expected /8 with scope host", v4.Prefix, v4.Scope)
	default:
		k.add("addr.v4", StatusOK, nil, "127.0.0.1/8 scope host%s", aliasNote(st))
	}
}

// checkLocalRoute: the local route that makes all of 127/8 local.
func (k *checker) checkLocalRoute() {
	switch {
	case k.st.HasLocalRoute127():
		k.add("route.local", StatusOK, nil, "local 127.0.0.0/8 dev lo: any 127.x address is local")
	case !k.st.Up:
		k.add("route.local", StatusFail, LinkUp{}, "no local 127.0.0.0/8 route while lo is down")
	default:
		k.add("route.local", StatusWarn, AddLocalRoute{loopback4}, "no local 127.0.0.0/8 route: only the listed 127.x addresses are local")
	}
}

// checkAddrV6: ::1, or IPv6 deliberately off.
func (k *checker) checkAddrV6() {
	st, path := k.st, k.opts.HostsFile
	maps6 := slices.Contains(k.fileOrder, netip.IPv6Loopback())
	switch {
	case k.has6:
		k.add("addr.v6", StatusOK, nil, "::1/128")
	case st.IPv6Disabled && maps6:
		k.add("addr.v6", StatusWarn, Either{HostsUnmap{"localhost", netip.IPv6Loopback()}, EnableIPv6{}},
			"IPv6 is off on lo but %s maps localhost to ::1: clients get 'Cannot assign requested address'", path)
	case st.IPv6Disabled:
		k.add("addr.v6", StatusInfo, nil, "IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6=1), and nothing maps localhost to ::1")
	case !st.Up:
		k.add("addr.v6", StatusFail, LinkUp{}, "::1 is gone because lo is down")
	default:
		k.add("addr.v6", StatusWarn, AddAddr{netip.PrefixFrom(netip.IPv6Loopback(), 128)}, "::1 is missing although IPv6 is on")
	}
}

// checkRoundTrips makes real connections over 127.0.0.1, ::1 and 127.0.0.2.
func (k *checker) checkRoundTrips() {
	for _, p := range []struct{ id, addr string }{
		{"conn.v4", "127.0.0.1"}, {"conn.v6", "::1"}, {"conn.127x", "127.0.0.2"},
	} {
		ip := netip.MustParseAddr(p.addr)
		switch {
		case !k.st.Up:
			k.add(p.id, StatusFail, LinkUp{}, "%s: not tried, lo is down (connections would hang)", p.addr)
			continue
		case ip.Is6() && !k.has6:
			k.add(p.id, StatusInfo, nil, "%s: not tried, lo has no ::1", p.addr)
			continue
		}
		rtt, err := k.c.roundTrip(ip, k.opts.DialTimeout)
		switch {
		case err == nil:
			k.add(p.id, StatusOK, nil, "%s: connected to our own listener in %s", p.addr, rtt.Round(10*time.Microsecond))
		case isTimeout(err):
			k.add(p.id, StatusFail, AllowLoopbackFirewall{},
				"%s: no answer within %s while lo is up: a firewall drops loopback traffic", p.addr, k.opts.DialTimeout)
		case errors.Is(err, syscall.ECONNREFUSED):
			k.add(p.id, StatusFail, AllowLoopbackFirewall{},
				"%s: refused although loops was listening: a firewall rejects loopback traffic", p.addr)
		default:
			k.add(p.id, StatusFail, nil, "%s: %v", p.addr, err)
		}
	}
}

// checkCounters: lo's error and drop counters.
func (k *checker) checkCounters() {
	n := k.st.Counters
	if n.RxErrors+n.TxErrors+n.RxDropped+n.TxDropped > 0 {
		k.add("counters", StatusWarn, nil, "RX errors %d dropped %d, TX errors %d dropped %d (packets sent while lo was down, or a firewall drop)",
			n.RxErrors, n.RxDropped, n.TxErrors, n.TxDropped)
		return
	}
	k.add("counters", StatusOK, nil, "no errors, no drops")
}

func aliasNote(st *Status) string {
	var extra []string
	for _, a := range st.Addrs {
		if a.Prefix.Addr().Is4() && a.Prefix.Addr() != localhost4 {
			extra = append(extra, a.Prefix.String())
		}
	}
	if len(extra) == 0 {
		return ""
	}
	return " (+ " + strings.Join(extra, ", ") + ")"
}

// roundTrip listens on ip:0 inside the namespace and connects to it.
func (c *Client) roundTrip(ip netip.Addr, timeout time.Duration) (time.Duration, error) {
	var rtt time.Duration
	err := c.Do(func() error {
		// One family per dial: "tcp" could race a second address on
		// another goroutine, whose thread is outside the namespace.
		network := "tcp4"
		if ip.Is6() {
			network = "tcp6"
		}
		ln, err := net.Listen(network, netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			return err
		}
		defer ln.Close()
		start := time.Now()
		conn, err := net.DialTimeout(network, ln.Addr().String(), timeout)
		if err != nil {
			return err
		}
		rtt = time.Since(start)
		return conn.Close()
	})
	return rtt, err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
