package netloop

import (
	"fmt"
	"net"
	"net/netip"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

var (
	loopback4 = netip.MustParsePrefix("127.0.0.0/8")
	loopback6 = netip.IPv6Loopback()
)

// IsLoopback reports whether ip belongs on lo: 127.0.0.0/8 or ::1.
func IsLoopback(ip netip.Addr) bool {
	ip = ip.Unmap()
	return loopback4.Contains(ip) || ip == loopback6
}

// ParseAlias parses ADDR or ADDR/PREFIX for lo. Without a prefix, 127.x gets
// /8 (as the kernel gives 127.0.0.1) and ::1 gets /128.
func ParseAlias(s string) (netip.Prefix, error) {
	var p netip.Prefix
	if strings.Contains(s, "/") {
		var err error
		if p, err = netip.ParsePrefix(s); err != nil {
			return p, fmt.Errorf("parse %q: %w", s, err)
		}
	} else {
		ip, err := netip.ParseAddr(s)
		if err != nil {
			return p, fmt.Errorf("parse %q: %w", s, err)
		}
		bits := 8
		if ip.Is6() && !ip.Is4In6() {
			bits = 128
		}
		p = netip.PrefixFrom(ip.Unmap(), bits)
	}
	p = netip.PrefixFrom(p.Addr().Unmap(), p.Bits())
	if !IsLoopback(p.Addr()) {
		return p, fmt.Errorf("%s: %w", p.Addr(), ErrNotLoopback)
	}
	if p.Addr().Is4() && p.Bits() < 8 {
		return p, fmt.Errorf("%s: prefix shorter than /8 would leave 127.0.0.0/8: %w", p, ErrNotLoopback)
	}
	return p, nil
}

// AddAddr adds a loopback address such as 127.0.0.2/8 to lo, like
// `ip addr add 127.0.0.2/8 dev lo [label lo:1]`. 127.x addresses get host
// scope, as the kernel requires beside 127.0.0.1/8. It reports false when the
// address was already there. Needs CAP_NET_ADMIN.
func (c *Client) AddAddr(p netip.Prefix, label string) (added bool, err error) {
	if !IsLoopback(p.Addr()) {
		return false, &OpError{Op: "add " + p.String(), Target: c.target, Err: ErrNotLoopback}
	}
	if label != "" && label != LoopbackName && !strings.HasPrefix(label, LoopbackName+":") {
		return false, &OpError{Op: "add " + p.String(), Target: c.target,
			Err: fmt.Errorf("label %q must be lo or start with lo: (lo:1)", label)}
	}
	link, err := c.link()
	if err != nil {
		return false, err
	}
	cur, err := c.addrs(link)
	if err != nil {
		return false, err
	}
	for _, a := range cur {
		if a.Prefix == p {
			return false, nil
		}
	}
	nla := &netlink.Addr{IPNet: ipNet(p), Scope: unix.RT_SCOPE_HOST, Label: label}
	if err := c.h.AddrAdd(link, nla); err != nil {
		return false, &OpError{Op: "add " + p.String(), Target: c.target, Err: err}
	}
	return true, nil
}

// DelAddr removes ip from lo, like `ip addr del ADDR/PREFIX dev lo`, finding
// the prefix length lo really has. Deleting a primary such as 127.0.0.1/8
// makes the kernel drop every secondary of that subnet too; the addresses
// that disappeared are returned. Needs CAP_NET_ADMIN.
func (c *Client) DelAddr(ip netip.Addr) (removed []Addr, err error) {
	op := "delete " + ip.String()
	if !IsLoopback(ip) {
		return nil, &OpError{Op: op, Target: c.target, Err: ErrNotLoopback}
	}
	link, err := c.link()
	if err != nil {
		return nil, err
	}
	before, err := c.addrs(link)
	if err != nil {
		return nil, err
	}
	var found *Addr
	for i := range before {
		if before[i].Prefix.Addr() == ip.Unmap() {
			found = &before[i]
		}
	}
	if found == nil {
		return nil, &OpError{Op: op, Target: c.target, Err: ErrAddrNotFound}
	}
	if err := c.h.AddrDel(link, &netlink.Addr{IPNet: ipNet(found.Prefix)}); err != nil {
		return nil, &OpError{Op: "delete " + found.Prefix.String(), Target: c.target, Err: err}
	}
	after, err := c.addrs(link)
	if err != nil {
		return []Addr{*found}, nil
	}
	return missingFrom(before, after), nil
}

// Secondaries returns the addresses the kernel would drop with a, a primary
// IPv4 address: the secondaries in the same subnet.
func Secondaries(addrs []Addr, a Addr) []Addr {
	if a.Secondary || !a.Prefix.Addr().Is4() {
		return nil
	}
	var out []Addr
	for _, b := range addrs {
		if b.Secondary && b.Prefix.Bits() == a.Prefix.Bits() && a.Prefix.Masked().Contains(b.Prefix.Addr()) {
			out = append(out, b)
		}
	}
	return out
}

func missingFrom(before, after []Addr) []Addr {
	var out []Addr
	for _, b := range before {
		gone := true
		for _, a := range after {
			if a.Prefix == b.Prefix {
				gone = false
				break
			}
		}
		if gone {
			out = append(out, b)
		}
	}
	return out
}

func ipNet(p netip.Prefix) *net.IPNet {
	bits := 32
	if p.Addr().Is6() {
		bits = 128
	}
	return &net.IPNet{IP: p.Addr().AsSlice(), Mask: net.CIDRMask(p.Bits(), bits)}
}
