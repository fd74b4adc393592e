package netloop

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// readNames reads what the name checks share: the hosts file (parsed by us:
// a static binary cannot see libc's view), nsswitch.conf, and whether lo
// has ::1.
func (k *checker) readNames() {
	k.hosts, k.hostsErr = ReadHostsFile(k.opts.HostsFile)
	if k.hostsErr == nil {
		k.fileOrder = k.hosts.Lookup("localhost")
	}
	_, k.has6 = k.st.FindAddr(netip.IPv6Loopback())
	k.nss = readNSSHosts(k.c.host.nsswitch())
	k.synth = slices.Contains(k.nss, "myhostname") || slices.Contains(k.nss, "resolve")
}

// checkHosts: localhost in the hosts file, and the file readable by all.
func (k *checker) checkHosts() {
	const id = "hosts.localhost"
	path, localhost := k.opts.HostsFile, HostsAdd{"localhost", localhost4}
	if err := k.hostsErr; err != nil {
		if k.synth && errors.Is(err, os.ErrNotExist) {
			k.add(id, StatusWarn, localhost, "%s is missing: only libc's nss modules resolve localhost (static binaries go to DNS)", path)
			return
		}
		k.add(id, StatusFail, nil, "cannot read %s: %v", path, err)
		return
	}
	if fi, err := os.Stat(path); err == nil && fi.Mode().Perm()&0o004 == 0 {
		k.add("hosts.mode", StatusFail, HostsMode{0o644}, "%s has mode %04o: programs that are not root cannot resolve localhost", path, fi.Mode().Perm())
	}
	var odd []string
	for _, a := range k.fileOrder {
		if !IsLoopback(a) {
			odd = append(odd, a.String())
		}
	}
	switch {
	case len(k.fileOrder) == 0 && k.synth:
		k.add(id, StatusWarn, localhost, "%s has no localhost: libc synthesizes it, but static binaries (Go, CGO_ENABLED=0) send it to DNS", path)
	case len(k.fileOrder) == 0:
		k.add(id, StatusFail, localhost, "%s has no localhost and nsswitch has no myhostname: lookups of localhost go to DNS and fail offline", path)
	case len(odd) > 0:
		k.add(id, StatusWarn, HostsEdit{}, "%s maps localhost to %s, which is not loopback", path, strings.Join(odd, ", "))
	default:
		k.add(id, StatusOK, nil, "%s maps localhost to %s", path, joinAddrs(k.fileOrder))
	}
}

// checkNSS reports the hosts: line of nsswitch.conf.
func (k *checker) checkNSS() {
	if len(k.nss) == 0 {
		return
	}
	note := ""
	if k.synth {
		note = ": localhost is synthesized even without a hosts entry (for libc programs, not static binaries)"
	}
	k.add("nss", StatusInfo, nil, "%s hosts: %s%s", k.c.host.nsswitch(), strings.Join(k.nss, " "), note)
}

// checkResolveOrder: how libc orders localhost, beside the file order.
func (k *checker) checkResolveOrder() {
	k.libcOrder = k.getentOrder()
	if k.libcOrder != nil {
		k.add("resolve.order", StatusInfo, nil, "localhost for libc programs: %s; in file order (Go, static binaries): %s",
			joinAddrs(k.libcOrder), joinAddrs(k.fileOrder))
	}
}

// getentOrder is localhost as `getent ahosts localhost` orders it, nil when
// getent is missing or cannot see the file checked.
func (k *checker) getentOrder() []netip.Addr {
	// getent sees the real /etc/hosts only; skip it for another file.
	if k.opts.HostsFile != "/etc/hosts" {
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

// checkListeners: listeners whose family does not match what localhost
// resolves to first.
func (k *checker) checkListeners() {
	ls, err := k.c.Listeners(ListenerOptions{Owners: true})
	if err != nil {
		k.add("listeners", StatusInfo, nil, "could not list listeners: %v", err)
		return
	}
	const id = "listeners.family"
	first := firstOf(k.libcOrder, k.fileOrder)
	all := slices.Concat(k.libcOrder, k.fileOrder)
	problems := 0
	for _, l := range ls {
		if l.Proto != "tcp" || !l.LoopbackOnly() {
			continue
		}
		who, port := l.ownerName(), l.Addr.Port()
		at6 := UseAddr{netip.AddrPortFrom(netip.IPv6Loopback(), port), localhost4}
		switch {
		case l.Addr.Addr().Is4() && first.Is6():
			problems++
			k.add(id, StatusWarn, UseAddr{l.Addr, netip.IPv6Loopback()},
				"%s listens on %s only, but localhost resolves to ::1 first: clients that do not fall back (Node < 20) get ECONNREFUSED ::1:%d",
				who, l.Addr, port)
		case l.Addr.Addr().Is6() && !slices.Contains(all, netip.IPv6Loopback()):
			problems++
			k.add(id, StatusWarn, at6,
				"%s listens on [::1]:%d only, but localhost does not resolve to ::1: http://localhost:%d is refused", who, port, port)
		case l.Addr.Addr().Is6() && first.Is4():
			problems++
			k.add(id, StatusWarn, at6,
				"%s listens on [::1]:%d only, but localhost resolves to 127.0.0.1 first: clients that do not fall back get ECONNREFUSED 127.0.0.1:%d",
				who, port, port)
		}
	}
	if problems == 0 {
		k.add(id, StatusOK, nil, "every loopback-only TCP listener matches what localhost resolves to first (%s)", addrOrNothing(first))
	}
}

func (l Listener) ownerName() string {
	if len(l.Owners) > 0 {
		return fmt.Sprintf("%s[%d]", l.Owners[0].Name, l.Owners[0].PID)
	}
	return fmt.Sprintf("a process of uid %d", l.UID)
}

// checkHostname: the machine's name resolves from the hosts file.
func (k *checker) checkHostname() {
	const id = "hostname"
	name, err := os.Hostname()
	if err != nil || name == "" {
		return
	}
	var addrs []netip.Addr
	if k.hosts != nil {
		addrs = k.hosts.Lookup(name)
		if len(addrs) == 0 {
			if short, _, ok := strings.Cut(name, "."); ok {
				addrs = k.hosts.Lookup(short)
			}
		}
	}
	path := k.opts.HostsFile
	switch {
	case len(addrs) == 0 && k.synth:
		k.add(id, StatusInfo, nil, "%s is not in %s; libc's nss modules resolve it", name, path)
	case len(addrs) == 0:
		k.add(id, StatusWarn, HostsAdd{name, netip.MustParseAddr("127.0.1.1")},
			"%s does not resolve from %s: sudo says 'unable to resolve host'", name, path)
	case addrs[0] != localhost4 && IsLoopback(addrs[0]):
		k.add(id, StatusInfo, nil, "%s resolves to %s: servers bound to 127.0.0.1 only are not reachable as http://%s:PORT", name, addrs[0], name)
	default:
		k.add(id, StatusOK, nil, "%s resolves to %s", name, joinAddrs(addrs))
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

func addrOrNothing(a netip.Addr) string {
	if !a.IsValid() {
		return "nothing"
	}
	return a.String()
}
