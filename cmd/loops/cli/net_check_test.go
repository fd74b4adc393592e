package cli

import (
	"net/netip"
	"testing"

	"github.com/loops-cli/loops/netloop"
)

// TestFixCommand: every fix netloop.Check gives, as the command line net
// check has always printed for it.
func TestFixCommand(t *testing.T) {
	a := netip.MustParseAddr
	blue := &netloop.Report{Target: netloop.Target{Name: "blue"}, HostsFile: "/etc/netns/blue/hosts"}
	pid := &netloop.Report{Target: netloop.Target{Path: "/proc/1/ns/net"}, HostsFile: "/etc/hosts"}
	host := &netloop.Report{HostsFile: "/etc/hosts"}
	for _, tc := range []struct {
		r    *netloop.Report
		fix  netloop.Fix
		want string
	}{
		{host, nil, ""},
		{host, netloop.LinkUp{}, "sudo loops net up"},
		{blue, netloop.LinkUp{}, "sudo loops net up --netns blue"},
		{pid, netloop.LinkUp{}, "sudo loops net up --netns-path /proc/1/ns/net"},
		{blue, netloop.Steps{First: netloop.LinkDown{}, Then: netloop.LinkUp{}},
			"sudo loops net down --netns blue --yes && sudo loops net up --netns blue"},
		{blue, netloop.AddAddr{Prefix: netip.MustParsePrefix("127.0.0.1/8")}, "sudo loops net addr add 127.0.0.1/8 --netns blue"},
		{blue, netloop.Steps{First: netloop.DelAddr{Addr: a("127.0.0.1")}, Then: netloop.AddAddr{Prefix: netip.MustParsePrefix("127.0.0.1/8")}},
			"sudo loops net addr del 127.0.0.1 --netns blue --yes && sudo loops net addr add 127.0.0.1/8 --netns blue"},
		{host, netloop.AddAddr{Prefix: netip.MustParsePrefix("::1/128")}, "sudo loops net addr add ::1"},
		{blue, netloop.AddLocalRoute{Prefix: netip.MustParsePrefix("127.0.0.0/8")}, "sudo ip route add local 127.0.0.0/8 dev lo table local"},
		{blue, netloop.Either{One: netloop.HostsUnmap{Name: "localhost", Addr: a("::1")}, Other: netloop.EnableIPv6{}},
			"remove '::1 localhost' from /etc/netns/blue/hosts, or: sudo sysctl -w net.ipv6.conf.lo.disable_ipv6=0"},
		{host, netloop.AllowLoopbackFirewall{}, "sudo nft list ruleset; allow lo: sudo nft insert rule inet filter input iifname lo accept"},
		{host, netloop.HostsAdd{Name: "localhost", Addr: a("127.0.0.1")}, "sudo loops net hosts add localhost 127.0.0.1"},
		{blue, netloop.HostsAdd{Name: "vm", Addr: a("127.0.1.1")}, "sudo loops net hosts add vm 127.0.1.1 --hosts-file /etc/netns/blue/hosts"},
		{blue, netloop.HostsMode{Mode: 0o644}, "sudo chmod 644 /etc/netns/blue/hosts"},
		{host, netloop.HostsEdit{}, "sudo $EDITOR /etc/hosts"},
		{host, netloop.UseAddr{Addr: netip.MustParseAddrPort("127.0.0.1:8080"), ListenOn: a("::1")},
			"use http://127.0.0.1:8080, or make the server listen on ::1 too"},
		{host, netloop.UseAddr{Addr: netip.MustParseAddrPort("[::1]:8080"), ListenOn: a("127.0.0.1")},
			"use http://[::1]:8080, or make the server listen on 127.0.0.1 too"},
	} {
		if got := fixCommand(tc.r, tc.fix); got != tc.want {
			t.Errorf("fixCommand(%+v) = %q, want %q", tc.fix, got, tc.want)
		}
	}
	if got := upCommand(netloop.Target{Name: "blue"}); got != "sudo loops net up --netns blue" {
		t.Errorf("upCommand = %q", got)
	}
}
