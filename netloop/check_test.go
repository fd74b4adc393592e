package netloop_test

import (
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

const stockHosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n"

// checkNetns is a namespace with lo up and private hosts and nsswitch
// files.
type checkNetns struct {
	*netlooptest.Netns
	hosts, nsswitch string
}

// checkNS makes a namespace with lo up and private hosts and nsswitch files.
func checkNS(t *testing.T, hosts string) *checkNetns {
	dir := t.TempDir()
	h := netloop.Host{Hosts: filepath.Join(dir, "hosts"), NSSwitch: filepath.Join(dir, "nsswitch.conf"), EtcNetns: dir}
	writeTestFile(t, h.Hosts, hosts, 0o644)
	writeTestFile(t, h.NSSwitch, "hosts: files dns\n", 0o644)
	ns := netlooptest.NewOn(t, h)
	ns.Up(t)
	if got := ns.Client.HostsFile(); got != h.Hosts {
		t.Fatalf("HostsFile() = %s, want %s", got, h.Hosts)
	}
	return &checkNetns{ns, h.Hosts, h.NSSwitch}
}

func writeTestFile(t *testing.T, path, data string, mode os.FileMode) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil {
		t.Fatal(err)
	}
}

func runCheck(t *testing.T, ns *netlooptest.Netns) *netloop.Report {
	t.Helper()
	r, err := ns.Client.Check(netloop.CheckOptions{DialTimeout: 300 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func wantFinding(t *testing.T, r *netloop.Report, id, status, reason string) {
	t.Helper()
	f, ok := r.Find(id)
	if !ok {
		t.Fatalf("no finding %s in %+v", id, r.Findings)
	}
	if f.Status != status || !strings.Contains(f.Reason, reason) {
		t.Errorf("%s = %s %q, want %s containing %q", id, f.Status, f.Reason, status, reason)
	}
}

func TestCheckHealthy(t *testing.T) {
	ns := checkNS(t, stockHosts)
	r := runCheck(t, ns.Netns)
	if r.Failed() {
		t.Fatalf("healthy namespace failed: %+v", r.Findings)
	}
	for _, id := range []string{"link.up", "addr.v4", "route.local", "addr.v6", "conn.v4", "conn.v6", "conn.127x", "hosts.localhost", "counters"} {
		wantFinding(t, r, id, netloop.StatusOK, "")
	}
}

func TestCheckLoDown(t *testing.T) {
	hosts := filepath.Join(t.TempDir(), "hosts")
	writeTestFile(t, hosts, stockHosts, 0o644)
	ns := netlooptest.NewOn(t, netloop.Host{Hosts: hosts}) // fresh: lo down
	r := runCheck(t, ns)
	if !r.Failed() {
		t.Fatal("a down lo passed the check")
	}
	wantFinding(t, r, "link.up", netloop.StatusFail, "lo is DOWN")
	f, _ := r.Find("link.up")
	if f.Fix != (netloop.LinkUp{}) || r.Target.Name != ns.Name || r.HostsFile != hosts {
		t.Errorf("fix = %#v for %v and %s, want LinkUp for %s and %s", f.Fix, r.Target, r.HostsFile, ns.Name, hosts)
	}
	wantFinding(t, r, "conn.v4", netloop.StatusFail, "lo is down")
}

func TestCheckFirewallDrop(t *testing.T) {
	ns := checkNS(t, stockHosts)
	nft(t, ns.Name, "meta l4proto tcp drop")
	r := runCheck(t, ns.Netns)
	wantFinding(t, r, "conn.v4", netloop.StatusFail, "a firewall drops loopback traffic")
	wantFinding(t, r, "conn.v6", netloop.StatusFail, "a firewall drops loopback traffic")
	if f, _ := r.Find("conn.v4"); f.Fix != (netloop.AllowLoopbackFirewall{}) {
		t.Errorf("conn.v4 fix = %#v, want AllowLoopbackFirewall", f.Fix)
	}
	if !r.Failed() {
		t.Fatal("check passed with a drop rule on lo")
	}
}

func TestCheckFirewallReject(t *testing.T) {
	ns := checkNS(t, stockHosts)
	nft(t, ns.Name, "tcp flags & (syn | ack) == syn reject with tcp reset")
	r := runCheck(t, ns.Netns)
	wantFinding(t, r, "conn.127x", netloop.StatusFail, "a firewall rejects loopback traffic")
}

// nft installs an input rule on lo inside the namespace.
func nft(t *testing.T, ns, rule string) {
	t.Helper()
	if testkit.LookTool("nft") == "" {
		t.Fatal("nft not installed (make deps installs nftables)")
	}
	rules := "table inet loopstest {\n chain input {\n  type filter hook input priority 0; policy accept;\n  iifname \"lo\" " + rule + "\n }\n}\n"
	cmd := testkit.Command("ip", "netns", "exec", ns, "nft", "-f", "-")
	cmd.Stdin = strings.NewReader(rules)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("nft in %s: %v\n%s", ns, err, out)
	}
}

func TestCheckHostsWithoutLocalhost(t *testing.T) {
	ns := checkNS(t, "# nothing here\n10.0.0.5\tfileserver\n")
	r := runCheck(t, ns.Netns)
	wantFinding(t, r, "hosts.localhost", netloop.StatusFail, "has no localhost and nsswitch has no myhostname")
	if f, _ := r.Find("hosts.localhost"); f.Fix != (netloop.HostsAdd{Name: "localhost", Addr: netip.MustParseAddr("127.0.0.1")}) {
		t.Errorf("hosts.localhost fix = %#v, want HostsAdd localhost 127.0.0.1", f.Fix)
	}
	if !r.Failed() {
		t.Fatal("missing localhost passed")
	}
	// With myhostname, libc programs still resolve it: a warning only.
	writeTestFile(t, ns.nsswitch, "hosts: files myhostname dns\n", 0o644)
	r = runCheck(t, ns.Netns)
	wantFinding(t, r, "hosts.localhost", netloop.StatusWarn, "static binaries")
}

func TestCheckHostsUnreadable(t *testing.T) {
	ns := checkNS(t, stockHosts)
	if err := os.Chmod(ns.hosts, 0o600); err != nil {
		t.Fatal(err)
	}
	r := runCheck(t, ns.Netns)
	wantFinding(t, r, "hosts.mode", netloop.StatusFail, "mode 0600")
}

func TestCheckListenerFamilyMismatch(t *testing.T) {
	// localhost resolves to ::1 first; a server listens on 127.0.0.1 only.
	ns := checkNS(t, "::1\tlocalhost\n127.0.0.1\tlocalhost\n")
	var ln net.Listener
	ns.Do(t, func() (err error) { ln, err = net.Listen("tcp", "127.0.0.1:0"); return err })
	defer ln.Close()
	r := runCheck(t, ns.Netns)
	port := ln.Addr().(*net.TCPAddr).Port
	wantFinding(t, r, "listeners.family", netloop.StatusWarn, "ECONNREFUSED ::1:"+strconv.Itoa(port))
	// Prove the finding: ::1 really is refused, 127.0.0.1 answers.
	ns.Do(t, func() error {
		if c, err := net.DialTimeout("tcp", netip.AddrPortFrom(netip.IPv6Loopback(), uint16(port)).String(), time.Second); err == nil {
			c.Close()
			t.Error("::1 reached a 127.0.0.1-only listener")
		}
		c, err := net.DialTimeout("tcp", ln.Addr().String(), time.Second)
		if err != nil {
			t.Errorf("127.0.0.1: %v", err)
			return nil
		}
		return c.Close()
	})
}

func TestCheckIPv6OffButHostsMapsIt(t *testing.T) {
	ns := checkNS(t, stockHosts)
	testkit.Run(t, "ip", "netns", "exec", ns.Name, "sysctl", "-qw", "net.ipv6.conf.lo.disable_ipv6=1")
	r := runCheck(t, ns.Netns)
	wantFinding(t, r, "addr.v6", netloop.StatusWarn, "maps localhost to ::1")
	wantFinding(t, r, "conn.v6", netloop.StatusInfo, "no ::1")
}
