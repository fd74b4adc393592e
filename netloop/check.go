package netloop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"os"
	"os/exec"
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
// the command that fixes it.
type Finding struct {
	ID     string // "link.up", "conn.v4", ...
	Status string // StatusOK, StatusInfo, StatusWarn or StatusFail
	Reason string // one line
	Fix    string // a command, when there is one
}

// Report is the outcome of Check.
type Report struct {
	Target   Target
	Findings []Finding
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

// Check diagnoses loopback in the client's namespace, like a doctor that
// runs `ip addr show lo`, `ip route show table local`, `getent ahosts
// localhost` and `ss -ltn` and reads the answers together, then makes real
// round trips over 127.0.0.1, [::1] and 127.0.0.2. It needs no privilege in
// the caller's own namespace. An error means the check could not run; what
// it found is in the Report.
func (c *Client) Check() (*Report, error) {
	st, err := c.Status()
	if err != nil {
		return nil, err
	}
	r := &Report{Target: c.target}
	add := func(id, status, fix, format string, a ...any) {
		r.Findings = append(r.Findings, Finding{ID: id, Status: status, Reason: fmt.Sprintf(format, a...), Fix: fix})
	}
	nsFlag := c.nsFlag()

	// The link itself.
	switch {
	case !st.Up:
		add("link.up", StatusFail, "sudo loops net up"+nsFlag, "lo is DOWN: connections to 127.0.0.1 hang, ::1 is gone")
	case !st.LowerUp:
		add("link.up", StatusWarn, "sudo loops net down"+nsFlag+" --yes && sudo loops net up"+nsFlag, "lo is UP but not LOWER_UP")
	default:
		add("link.up", StatusOK, "", "lo is UP, LOWER_UP, mtu %d", st.MTU)
	}

	// 127.0.0.1/8 with host scope.
	v4, ok := st.FindAddr(netip.MustParseAddr("127.0.0.1"))
	switch {
	case !ok && !st.Up:
		add("addr.v4", StatusFail, "sudo loops net up"+nsFlag, "127.0.0.1 is missing; bringing lo up adds it")
	case !ok:
		add("addr.v4", StatusFail, "sudo loops net addr add 127.0.0.1/8"+nsFlag, "127.0.0.1 is missing: bind and connect fail with 'Cannot assign requested address'")
	case v4.Prefix.Bits() != 8 || v4.Scope != "host":
		add("addr.v4", StatusWarn, "sudo loops net addr del 127.0.0.1"+nsFlag+" --yes && sudo loops net addr add 127.0.0.1/8"+nsFlag,
			"127.0.0.1 is %s with scope %s; expected /8 with scope host", v4.Prefix, v4.Scope)
	default:
		add("addr.v4", StatusOK, "", "127.0.0.1/8 scope host%s", aliasNote(st))
	}

	// The local route that makes all of 127/8 local.
	switch {
	case st.HasLocalRoute127():
		add("route.local", StatusOK, "", "local 127.0.0.0/8 dev lo: any 127.x address is local")
	case !st.Up:
		add("route.local", StatusFail, "sudo loops net up"+nsFlag, "no local 127.0.0.0/8 route while lo is down")
	default:
		add("route.local", StatusWarn, "sudo ip route add local 127.0.0.0/8 dev lo table local", "no local 127.0.0.0/8 route: only the listed 127.x addresses are local")
	}

	// The hosts file, parsed by us (a static binary cannot see libc's view).
	hosts, hostsErr := ReadHostsFile(c.HostsFile)
	var fileOrder []netip.Addr
	if hostsErr == nil {
		fileOrder = hosts.Lookup("localhost")
	}
	_, has6 := st.FindAddr(netip.IPv6Loopback())
	maps6 := slices.Contains(fileOrder, netip.IPv6Loopback())

	// ::1, or IPv6 deliberately off.
	switch {
	case has6:
		add("addr.v6", StatusOK, "", "::1/128")
	case st.IPv6Disabled && maps6:
		add("addr.v6", StatusWarn, "remove '::1 localhost' from "+c.HostsFile+", or: sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0",
			"IPv6 is off on lo but %s maps localhost to ::1: clients get 'Cannot assign requested address'", c.HostsFile)
	case st.IPv6Disabled:
		add("addr.v6", StatusInfo, "", "IPv6 is disabled on lo (net.ipv6.conf.lo.disable_ipv6=1), and nothing maps localhost to ::1")
	case !st.Up:
		add("addr.v6", StatusFail, "sudo loops net up"+nsFlag, "::1 is gone because lo is down")
	default:
		add("addr.v6", StatusWarn, "sudo loops net addr add ::1"+nsFlag, "::1 is missing although IPv6 is on")
	}

	// Real round trips.
	for _, p := range []struct{ id, addr string }{
		{"conn.v4", "127.0.0.1"}, {"conn.v6", "::1"}, {"conn.127x", "127.0.0.2"},
	} {
		ip := netip.MustParseAddr(p.addr)
		switch {
		case !st.Up:
			add(p.id, StatusFail, "sudo loops net up"+nsFlag, "%s: not tried, lo is down (connections would hang)", p.addr)
			continue
		case ip.Is6() && !has6:
			add(p.id, StatusInfo, "", "%s: not tried, lo has no ::1", p.addr)
			continue
		}
		rtt, err := c.roundTrip(ip)
		switch {
		case err == nil:
			add(p.id, StatusOK, "", "%s: connected to our own listener in %s", p.addr, rtt.Round(10*time.Microsecond))
		case isTimeout(err):
			add(p.id, StatusFail, "sudo nft list ruleset; allow lo: sudo nft insert rule inet filter input iifname lo accept",
				"%s: no answer within %s while lo is up: a firewall drops loopback traffic", p.addr, c.DialTimeout)
		case errors.Is(err, syscall.ECONNREFUSED):
			add(p.id, StatusFail, "sudo nft list ruleset; allow lo: sudo nft insert rule inet filter input iifname lo accept",
				"%s: refused although loops was listening: a firewall rejects loopback traffic", p.addr)
		default:
			add(p.id, StatusFail, "", "%s: %v", p.addr, err)
		}
	}

	// localhost in the hosts file.
	nss := readNSSHosts(c.NSSwitch)
	synth := slices.Contains(nss, "myhostname") || slices.Contains(nss, "resolve")
	c.checkHosts(add, hosts, hostsErr, fileOrder, synth)
	if len(nss) > 0 {
		note := ""
		if synth {
			note = ": localhost is synthesized even without a hosts entry (for libc programs, not static binaries)"
		}
		add("nss", StatusInfo, "", "%s hosts: %s%s", c.NSSwitch, strings.Join(nss, " "), note)
	}

	// How libc orders localhost, beside the file order.
	libcOrder := c.libcOrder()
	if libcOrder != nil {
		add("resolve.order", StatusInfo, "", "localhost for libc programs: %s; in file order (Go, static binaries): %s",
			joinAddrs(libcOrder), joinAddrs(fileOrder))
	}
	first := firstOf(libcOrder, fileOrder)

	// Listeners whose family does not match what localhost resolves to first.
	if ls, err := c.Listeners(ListenerOptions{Owners: true}); err != nil {
		add("listeners", StatusInfo, "", "could not list listeners: %v", err)
	} else {
		c.checkListeners(add, ls, first, libcOrder, fileOrder)
	}

	// The hostname.
	c.checkHostname(add, hosts, synth)

	// Error and drop counters.
	k := st.Counters
	if n := k.RxErrors + k.TxErrors + k.RxDropped + k.TxDropped; n > 0 {
		add("counters", StatusWarn, "", "RX errors %d dropped %d, TX errors %d dropped %d (packets sent while lo was down, or a firewall drop)",
			k.RxErrors, k.RxDropped, k.TxErrors, k.TxDropped)
	} else {
		add("counters", StatusOK, "", "no errors, no drops")
	}
	return r, nil
}

func (c *Client) nsFlag() string {
	switch {
	case c.target.Name != "":
		return " --netns " + c.target.Name
	case c.target.Path != "":
		return " --netns-path " + c.target.Path
	}
	return ""
}

func (c *Client) hostsFlag() string {
	if c.HostsFile == "/etc/hosts" {
		return ""
	}
	return " --hosts-file " + c.HostsFile
}

func aliasNote(st *Status) string {
	var extra []string
	for _, a := range st.Addrs {
		if a.Prefix.Addr().Is4() && a.Prefix.Addr() != netip.MustParseAddr("127.0.0.1") {
			extra = append(extra, a.Prefix.String())
		}
	}
	if len(extra) == 0 {
		return ""
	}
	return " (+ " + strings.Join(extra, ", ") + ")"
}

// roundTrip listens on ip:0 inside the namespace and connects to it.
func (c *Client) roundTrip(ip netip.Addr) (time.Duration, error) {
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
		conn, err := net.DialTimeout(network, ln.Addr().String(), c.DialTimeout)
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

func (c *Client) checkHosts(add func(id, status, fix, format string, a ...any), hosts *HostsFile, err error, order []netip.Addr, synth bool) {
	const id = "hosts.localhost"
	path := c.HostsFile
	if err != nil {
		if synth && errors.Is(err, os.ErrNotExist) {
			add(id, StatusWarn, "sudo loops net hosts add localhost 127.0.0.1"+c.hostsFlag(), "%s is missing: only libc's nss modules resolve localhost (static binaries go to DNS)", path)
			return
		}
		add(id, StatusFail, "", "cannot read %s: %v", path, err)
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 == 0 {
		add("hosts.mode", StatusFail, "sudo chmod 644 "+path, "%s has mode %04o: programs that are not root cannot resolve localhost", path, fi.Mode().Perm())
	}
	var odd []string
	for _, a := range order {
		if !IsLoopback(a) {
			odd = append(odd, a.String())
		}
	}
	switch {
	case len(order) == 0 && synth:
		add(id, StatusWarn, "sudo loops net hosts add localhost 127.0.0.1"+c.hostsFlag(), "%s has no localhost: libc synthesizes it, but static binaries (Go, CGO_ENABLED=0) send it to DNS", path)
	case len(order) == 0:
		add(id, StatusFail, "sudo loops net hosts add localhost 127.0.0.1"+c.hostsFlag(), "%s has no localhost and nsswitch has no myhostname: lookups of localhost go to DNS and fail offline", path)
	case len(odd) > 0:
		add(id, StatusWarn, "sudo $EDITOR "+path, "%s maps localhost to %s, which is not loopback", path, strings.Join(odd, ", "))
	default:
		add(id, StatusOK, "", "%s maps localhost to %s", path, joinAddrs(order))
	}
}

func (c *Client) libcOrder() []netip.Addr {
	// getent sees the real /etc/hosts only; skip it for another file.
	if c.HostsFile != "/etc/hosts" {
		return nil
	}
	getent, err := exec.LookPath("getent")
	if err != nil {
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, getent, "ahosts", "localhost").Output()
	if err != nil {
		return []netip.Addr{}
	}
	return parseGetentAhosts(string(out))
}

// parseGetentAhosts reads `getent ahosts NAME` output: one line per address
// and socket type; the first occurrence of each address gives the order.
func parseGetentAhosts(out string) []netip.Addr {
	order := []netip.Addr{}
	for line := range strings.Lines(out) {
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		a, err := netip.ParseAddr(f[0])
		if err != nil {
			continue
		}
		a = a.Unmap()
		if !slices.Contains(order, a) {
			order = append(order, a)
		}
	}
	return order
}

func firstOf(lists ...[]netip.Addr) netip.Addr {
	for _, l := range lists {
		if len(l) > 0 {
			return l[0]
		}
	}
	return netip.Addr{}
}

func joinAddrs(as []netip.Addr) string {
	if len(as) == 0 {
		return "nothing"
	}
	s := make([]string, len(as))
	for i, a := range as {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

func (c *Client) checkListeners(add func(id, status, fix, format string, a ...any), ls []Listener, first netip.Addr, libc, file []netip.Addr) {
	const id = "listeners.family"
	all := slices.Concat(libc, file)
	var problems int
	for _, l := range ls {
		if l.Proto != "tcp" || !l.LoopbackOnly() {
			continue
		}
		who := l.ownerName()
		port := l.Addr.Port()
		switch {
		case l.Addr.Addr().Is4() && first.Is6():
			problems++
			add(id, StatusWarn, fmt.Sprintf("use http://%s:%d, or make the server listen on ::1 too", l.Addr.Addr(), port),
				"%s listens on %s only, but localhost resolves to ::1 first: clients that do not fall back (Node < 20) get ECONNREFUSED ::1:%d",
				who, l.Addr, port)
		case l.Addr.Addr().Is6() && !slices.Contains(all, netip.IPv6Loopback()):
			problems++
			add(id, StatusWarn, fmt.Sprintf("use http://[::1]:%d, or make the server listen on 127.0.0.1 too", port),
				"%s listens on [::1]:%d only, but localhost does not resolve to ::1: http://localhost:%d is refused", who, port, port)
		case l.Addr.Addr().Is6() && first.Is4():
			problems++
			add(id, StatusWarn, fmt.Sprintf("use http://[::1]:%d, or make the server listen on 127.0.0.1 too", port),
				"%s listens on [::1]:%d only, but localhost resolves to 127.0.0.1 first: clients that do not fall back get ECONNREFUSED 127.0.0.1:%d",
				who, port, port)
		}
	}
	if problems == 0 {
		add(id, StatusOK, "", "every loopback-only TCP listener matches what localhost resolves to first (%s)", addrOrNothing(first))
	}
}

func addrOrNothing(a netip.Addr) string {
	if !a.IsValid() {
		return "nothing"
	}
	return a.String()
}

func (l Listener) ownerName() string {
	if len(l.Owners) > 0 {
		return fmt.Sprintf("%s[%d]", l.Owners[0].Name, l.Owners[0].PID)
	}
	return fmt.Sprintf("a process of uid %d", l.UID)
}

func (c *Client) checkHostname(add func(id, status, fix, format string, a ...any), hosts *HostsFile, synth bool) {
	const id = "hostname"
	name, err := os.Hostname()
	if err != nil || name == "" {
		return
	}
	var addrs []netip.Addr
	if hosts != nil {
		addrs = hosts.Lookup(name)
		if len(addrs) == 0 {
			if short, _, ok := strings.Cut(name, "."); ok {
				addrs = hosts.Lookup(short)
			}
		}
	}
	switch {
	case len(addrs) == 0 && synth:
		add(id, StatusInfo, "", "%s is not in %s; libc's nss modules resolve it", name, c.HostsFile)
	case len(addrs) == 0:
		add(id, StatusWarn, "sudo loops net hosts add "+name+" 127.0.1.1"+c.hostsFlag(),
			"%s does not resolve from %s: sudo says 'unable to resolve host'", name, c.HostsFile)
	case addrs[0] != netip.MustParseAddr("127.0.0.1") && IsLoopback(addrs[0]):
		add(id, StatusInfo, "", "%s resolves to %s: servers bound to 127.0.0.1 only are not reachable as http://%s:PORT", name, addrs[0], name)
	default:
		add(id, StatusOK, "", "%s resolves to %s", name, joinAddrs(addrs))
	}
}

// readNSSHosts returns the sources of the hosts: line of nsswitch.conf.
func readNSSHosts(path string) []string {
	f, err := os.Open(path)
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line, _, _ := strings.Cut(sc.Text(), "#")
		key, rest, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(key) != "hosts" {
			continue
		}
		var out []string
		for _, w := range strings.Fields(rest) {
			if !strings.HasPrefix(w, "[") {
				out = append(out, w)
			}
		}
		return out
	}
	return nil
}
