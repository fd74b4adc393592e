package netloop

import (
	"io/fs"
	"net/netip"
)

// Fix is what cures a Finding: an action for the caller to present (the
// loops CLI writes each as a command line). It is one of the types below;
// a nil Fix means nothing simple does.
type Fix interface{ fix() }

// LinkUp sets lo up, like `ip link set lo up`. Needs CAP_NET_ADMIN.
type LinkUp struct{}

// LinkDown sets lo down, like `ip link set lo down`, although services
// listen on it. Needs CAP_NET_ADMIN.
type LinkDown struct{}

// AddAddr adds Prefix to lo, like `ip addr add PREFIX dev lo`. Needs
// CAP_NET_ADMIN.
type AddAddr struct{ Prefix netip.Prefix }

// DelAddr removes Addr from lo, like `ip addr del ADDR dev lo`. Needs
// CAP_NET_ADMIN.
type DelAddr struct{ Addr netip.Addr }

// AddLocalRoute adds the route that makes all of Prefix local, like `ip
// route add local PREFIX dev lo table local`. Needs CAP_NET_ADMIN.
type AddLocalRoute struct{ Prefix netip.Prefix }

// EnableIPv6 turns IPv6 on for lo, like `sysctl -w
// net.ipv6.conf.lo.disable_ipv6=0`. Needs root.
type EnableIPv6 struct{}

// AllowLoopbackFirewall lets loopback traffic through the firewall, like
// `nft insert rule inet filter input iifname lo accept` after a look at
// `nft list ruleset`. Needs root.
type AllowLoopbackFirewall struct{}

// HostsAdd maps Name to Addr in the hosts file checked (Report.HostsFile),
// as HostsFile.Add does. Needs write access to the file.
type HostsAdd struct {
	Name string
	Addr netip.Addr
}

// HostsUnmap removes the mapping of Name to Addr from the hosts file
// checked, by hand: the line is not one loops added. Needs write access to
// the file.
type HostsUnmap struct {
	Name string
	Addr netip.Addr
}

// HostsEdit is a look at the hosts file checked, by hand, in an editor.
// Needs write access to the file.
type HostsEdit struct{}

// HostsMode gives the hosts file checked the permission bits Mode, like
// `chmod 644 /etc/hosts`. Needs root for /etc/hosts.
type HostsMode struct{ Mode fs.FileMode }

// UseAddr is advice to clients of a listener that localhost misses: connect
// to Addr directly, or make the server also listen on ListenOn.
type UseAddr struct {
	Addr     netip.AddrPort
	ListenOn netip.Addr
}

// Steps is First, then Then.
type Steps struct{ First, Then Fix }

// Either is two fixes, each enough by itself.
type Either struct{ One, Other Fix }

func (LinkUp) fix()                {}
func (LinkDown) fix()              {}
func (AddAddr) fix()               {}
func (DelAddr) fix()               {}
func (AddLocalRoute) fix()         {}
func (EnableIPv6) fix()            {}
func (AllowLoopbackFirewall) fix() {}
func (HostsAdd) fix()              {}
func (HostsUnmap) fix()            {}
func (HostsEdit) fix()             {}
func (HostsMode) fix()             {}
func (UseAddr) fix()               {}
func (Steps) fix()                 {}
func (Either) fix()                {}
