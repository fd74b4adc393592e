package netloop_test

import (
	"errors"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, netlooptest.Namespaces)) }

func TestFreshNamespaceUp(t *testing.T) {
	ns := netlooptest.New(t)
	st, err := ns.Client.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Up || len(st.Addrs) != 0 {
		t.Fatalf("fresh netns: Up=%v addrs=%v, want down with no address", st.Up, st.Addrs)
	}
	ns.Up(t)
	st, err = ns.Client.Status()
	if err != nil {
		t.Fatal(err)
	}
	if !st.Up || !st.LowerUp || !st.Running {
		t.Fatalf("after Up: Up=%v LowerUp=%v Running=%v flags=%v", st.Up, st.LowerUp, st.Running, st.Flags)
	}
	for _, want := range []string{"127.0.0.1/8", "::1/128"} {
		a, ok := st.FindAddr(netip.MustParsePrefix(want).Addr())
		if !ok || a.Prefix.String() != want || a.Scope != "host" {
			t.Errorf("after Up: %s = %+v, %v; want present with host scope", want, a, ok)
		}
	}
	if !st.HasLocalRoute127() {
		t.Errorf("after Up: no local 127.0.0.0/8 route in %+v", st.Routes)
	}
	if st.MTU != 65536 || st.Name != "lo" || st.Index != 1 {
		t.Errorf("lo = %s index %d mtu %d, want lo 1 65536", st.Name, st.Index, st.MTU)
	}
}

func TestDownDropsIPv6UpRestoresIt(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	if err := ns.Client.Down(); err != nil {
		t.Fatal(err)
	}
	st, _ := ns.Client.Status()
	if st.Up {
		t.Fatal("still up after Down")
	}
	if _, ok := st.FindAddr(netip.IPv6Loopback()); ok {
		t.Error("::1 survived Down; the kernel should drop it")
	}
	ns.Up(t)
	st, _ = ns.Client.Status()
	if _, ok := st.FindAddr(netip.IPv6Loopback()); !ok {
		t.Error("::1 not back after Up")
	}
}

func TestAddDelAlias(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	p := netip.MustParsePrefix("127.0.0.2/8")
	added, err := ns.Client.AddAddr(p, "lo:1")
	if err != nil || !added {
		t.Fatalf("AddAddr(%s) = %v, %v; want true, nil", p, added, err)
	}
	added, err = ns.Client.AddAddr(p, "lo:1")
	if err != nil || added {
		t.Fatalf("second AddAddr(%s) = %v, %v; want false, nil", p, added, err)
	}
	st, _ := ns.Client.Status()
	a, ok := st.FindAddr(p.Addr())
	if !ok || a.Scope != "host" || a.Label != "lo:1" || !a.Secondary {
		t.Fatalf("alias = %+v, %v; want host scope, label lo:1, secondary", a, ok)
	}
	// del finds the real prefix (/8) from the bare address.
	removed, err := ns.Client.DelAddr(p.Addr())
	if err != nil || len(removed) != 1 || removed[0].Prefix != p {
		t.Fatalf("DelAddr = %v, %v; want [%s]", removed, err, p)
	}
	if _, err := ns.Client.DelAddr(p.Addr()); !errors.Is(err, netloop.ErrAddrNotFound) {
		t.Fatalf("second DelAddr err = %v, want ErrAddrNotFound", err)
	}
}

func TestDeletePrimaryTakesSecondaries(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	for _, s := range []string{"127.0.0.2/8", "127.0.0.3/8"} {
		if _, err := ns.Client.AddAddr(netip.MustParsePrefix(s), ""); err != nil {
			t.Fatal(err)
		}
	}
	st, _ := ns.Client.Status()
	primary, _ := st.FindAddr(netip.MustParseAddr("127.0.0.1"))
	if got := netloop.Secondaries(st.Addrs, primary); len(got) != 2 {
		t.Fatalf("Secondaries = %v, want 2", got)
	}
	removed, err := ns.Client.DelAddr(netip.MustParseAddr("127.0.0.1"))
	if err != nil {
		t.Fatal(err)
	}
	if len(removed) != 3 {
		t.Fatalf("removed %v, want 127.0.0.1, .2 and .3", removed)
	}
}

func TestAddRefusesNonLoopback(t *testing.T) {
	for _, s := range []string{"10.0.0.1", "192.168.1.1/24", "::2", "fe80::1", "127.0.0.1/7", "nonsense"} {
		if _, err := netloop.ParseAlias(s); err == nil {
			t.Errorf("ParseAlias(%q) = nil error, want refusal", s)
		}
	}
	for s, want := range map[string]string{"127.0.0.2": "127.0.0.2/8", "127.1.2.3/32": "127.1.2.3/32", "::1": "::1/128", "::ffff:127.0.0.5": "127.0.0.5/8"} {
		p, err := netloop.ParseAlias(s)
		if err != nil || p.String() != want {
			t.Errorf("ParseAlias(%q) = %v, %v; want %s", s, p, err, want)
		}
	}
}

func TestCountersMatchSysfs(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	// Make some traffic, then compare with the namespace's own sysfs view.
	ns.Do(t, func() error { return pingTCP("127.0.0.1:0") })
	st, err := ns.Client.Status()
	if err != nil {
		t.Fatal(err)
	}
	if st.Counters.RxPackets == 0 || st.Counters.TxBytes == 0 {
		t.Fatalf("counters %+v after traffic; want non-zero", st.Counters)
	}
	sys := readSysStats(t, ns)
	got := map[string]uint64{
		"rx_packets": st.Counters.RxPackets, "rx_bytes": st.Counters.RxBytes,
		"tx_packets": st.Counters.TxPackets, "tx_bytes": st.Counters.TxBytes,
		"rx_errors": st.Counters.RxErrors, "tx_dropped": st.Counters.TxDropped,
	}
	for k, v := range got {
		if sys[k] != v {
			t.Errorf("%s = %d, /sys/class/net/lo/statistics says %d", k, v, sys[k])
		}
	}
}

func TestOpenMissingNamespace(t *testing.T) {
	_, err := netloop.Open(netloop.Target{Name: "loopstest-does-not-exist"})
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) err = %v, want ErrNotExist", err)
	}
	if _, err := netloop.Open(netloop.Target{Name: "../etc"}); err == nil {
		t.Fatal("Open(../etc) succeeded")
	}
}

// readSysStats reads lo's counters from sysfs as mounted in the namespace:
// /sys shows the namespace of the process that mounted it, so mount a fresh
// sysfs in a private mount namespace via `ip netns exec`.
func readSysStats(t *testing.T, ns *netlooptest.Netns) map[string]uint64 {
	t.Helper()
	out := map[string]uint64{}
	for _, k := range []string{"rx_packets", "rx_bytes", "tx_packets", "tx_bytes", "rx_errors", "tx_dropped"} {
		b, err := runIn(ns.Name, "cat", "/sys/class/net/lo/statistics/"+k)
		if err != nil {
			t.Fatalf("read %s in %s: %v", k, ns.Name, err)
		}
		v, err := strconv.ParseUint(strings.TrimSpace(b), 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		out[k] = v
	}
	return out
}
