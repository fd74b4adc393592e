package netloop_test

import (
	"errors"
	"fmt"
	"net/netip"
	"strings"
	"testing"

	"github.com/loops-cli/loops/netloop"
)

// TestAddRemoveRestoresBytes adds a name and removes it again, on the same
// HostsFile and on a re-parsed one (as two loops runs would), and wants the
// original bytes back, whatever the line endings.
func TestAddRemoveRestoresBytes(t *testing.T) {
	for _, tc := range []struct{ name, in, wantAdded string }{
		{"final newline", "127.0.0.1 localhost\n", "127.0.0.1 localhost\n127.0.0.2\tdev.test\t# added by loops\n"},
		{"no final newline", "127.0.0.1 localhost", "127.0.0.1 localhost\n127.0.0.2\tdev.test\t# added by loops"},
		{"crlf", "127.0.0.1 localhost\r\n", "127.0.0.1 localhost\r\n127.0.0.2\tdev.test\t# added by loops\r\n"},
		{"crlf no final newline", "# hosts\r\n127.0.0.1 localhost", "# hosts\r\n127.0.0.1 localhost\r\n127.0.0.2\tdev.test\t# added by loops"},
		{"lone cr at end", "127.0.0.1 localhost\r", "127.0.0.1 localhost\r\n127.0.0.2\tdev.test\t# added by loops"},
		{"empty", "", "127.0.0.2\tdev.test\t# added by loops\n"},
		{"debian", debianHosts, debianHosts + "127.0.0.2\tdev.test\t# added by loops\n"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := netloop.ParseHosts([]byte(tc.in))
			changed, err := f.Add("dev.test", hostsAddr("127.0.0.2"))
			if err != nil || !changed {
				t.Fatalf("Add = %v, %v; want true, nil", changed, err)
			}
			added := f.Bytes()
			if string(added) != tc.wantAdded {
				t.Fatalf("after Add:\n%q\nwant\n%q", added, tc.wantAdded)
			}
			again := netloop.ParseHosts(added)
			if got := again.Lookup("dev.test"); fmt.Sprint(got) != "[127.0.0.2]" {
				t.Fatalf("re-parsed Lookup(dev.test) = %v", got)
			}
			for _, g := range []*netloop.HostsFile{f, again} {
				if changed, err := g.Remove("dev.test"); err != nil || !changed {
					t.Fatalf("Remove = %v, %v; want true, nil", changed, err)
				}
				if got := g.Bytes(); string(got) != tc.in {
					t.Errorf("after Remove:\n%q\nwant the original\n%q", got, tc.in)
				}
			}
		})
	}
}

func TestAddTwiceRemoveInEitherOrder(t *testing.T) {
	for _, in := range []string{"127.0.0.1 localhost", "127.0.0.1 localhost\n", "a\r\nb"} {
		for _, order := range [][2]string{{"one.test", "two.test"}, {"two.test", "one.test"}} {
			f := netloop.ParseHosts([]byte(in))
			hostsMustAdd(t, f, "one.test", "127.0.0.2")
			hostsMustAdd(t, f, "two.test", "::1")
			f = netloop.ParseHosts(f.Bytes())
			for _, n := range order {
				if _, err := f.Remove(n); err != nil {
					t.Fatal(err)
				}
				f = netloop.ParseHosts(f.Bytes())
			}
			if got := string(f.Bytes()); got != in {
				t.Errorf("%q: add two, remove %v: got %q", in, order, got)
			}
		}
	}
}

func TestAddIdempotent(t *testing.T) {
	in := "127.0.0.1 localhost\n127.0.1.1 VM.example.org vm # mine\n"
	f := netloop.ParseHosts([]byte(in))
	for _, tc := range []struct{ name, addr string }{
		{"localhost", "127.0.0.1"},
		{"LOCALHOST", "127.0.0.1"},
		{"vm.example.org", "127.0.1.1"},
		{"localhost", "::ffff:127.0.0.1"}, // the same address, IPv4-mapped
	} {
		changed, err := f.Add(tc.name, hostsAddr(tc.addr))
		if err != nil || changed {
			t.Errorf("Add(%s, %s) = %v, %v; want false, nil (already there)", tc.name, tc.addr, changed, err)
		}
	}
	if got := string(f.Bytes()); got != in {
		t.Fatalf("idempotent Adds changed the file to %q", got)
	}
	hostsMustAdd(t, f, "loopy.test", "127.0.0.9")
	after := string(f.Bytes())
	if changed, err := f.Add("loopy.test", hostsAddr("127.0.0.9")); err != nil || changed {
		t.Fatalf("second Add = %v, %v; want false, nil", changed, err)
	}
	if string(f.Bytes()) != after {
		t.Fatal("second Add changed the file")
	}
	// The same name on another loopback address is a new mapping.
	hostsMustAdd(t, f, "localhost", "127.0.0.5")
}

func TestAddRefusals(t *testing.T) {
	in := "127.0.0.1 localhost\n"
	f := netloop.ParseHosts([]byte(in))
	for _, a := range []string{"10.0.0.1", "192.168.1.10", "0.0.0.0", "::", "::2", "fe80::1%lo", "::1%lo", "ff02::1"} {
		_, err := f.Add("dev.test", hostsAddr(a))
		if !errors.Is(err, netloop.ErrNotLoopback) {
			t.Errorf("Add(dev.test, %s) err = %v, want ErrNotLoopback", a, err)
		}
	}
	if _, err := f.Add("dev.test", netip.Addr{}); !errors.Is(err, netloop.ErrNotLoopback) {
		t.Errorf("Add with the zero Addr: err = %v, want ErrNotLoopback", err)
	}
	for _, n := range []string{"", "two words", "tab\there", "new\nline", "hash#tag", "#", "-lead.test",
		"trail-.test", ".dot", "dot.", "a..b", "127.0.0.1", "::1", "é.test", "a/b", "a,b",
		strings.Repeat("a", 64) + ".test", strings.Repeat("abcdefgh.", 28) + "xy"} {
		_, err := f.Add(n, hostsAddr("127.0.0.1"))
		if !errors.Is(err, netloop.ErrInvalidHostname) {
			t.Errorf("Add(%q) err = %v, want ErrInvalidHostname", n, err)
			continue
		}
		if n != "" && !strings.Contains(err.Error(), n) && !strings.Contains(err.Error(), fmt.Sprintf("%q", n)) {
			t.Errorf("Add(%q) err = %q does not name the name", n, err)
		}
	}
	if got := string(f.Bytes()); got != in {
		t.Fatalf("refused Adds changed the file to %q", got)
	}
	for _, n := range []string{"a", "dev.test", "my_service", "x-1.example.org", "123", strings.Repeat("a", 63) + ".test"} {
		if err := netloop.ValidHostname(n); err != nil {
			t.Errorf("ValidHostname(%q) = %v, want nil", n, err)
		}
	}
}

// TestRemoveAliasKeepsForeignLine removes one name from lines loops did not
// write and wants every other byte of them kept: spacing, case, comments,
// line endings (hostctl#87, txeh's reformatting).
func TestRemoveAliasKeepsForeignLine(t *testing.T) {
	for _, tc := range []struct{ in, name, want string }{
		{"127.0.1.1\tVM.Example.org   vm\t# mine\r\n", "vm", "127.0.1.1\tVM.Example.org\t# mine\r\n"},
		{"127.0.1.1\tVM.Example.org   vm\t# mine\r\n", "vm.example.org", "127.0.1.1\tvm\t# mine\r\n"},
		{"  127.0.0.1  a   b  c  \n", "b", "  127.0.0.1  a  c  \n"},
		{"127.0.0.1 a b#c", "b", "127.0.0.1 a#c"},
		{"127.0.0.1 a B b c", "b", "127.0.0.1 a c"},
		{"127.0.0.1 b a b\n", "b", "127.0.0.1 a\n"},
	} {
		rest := "# before\n::1   localhost   ip6-localhost\n"
		f := netloop.ParseHosts([]byte(rest + tc.in))
		changed, err := f.Remove(tc.name)
		if err != nil || !changed {
			t.Errorf("Remove(%s) from %q = %v, %v", tc.name, tc.in, changed, err)
			continue
		}
		if got := string(f.Bytes()); got != rest+tc.want {
			t.Errorf("Remove(%s) from %q:\ngot  %q\nwant %q", tc.name, tc.in, got, rest+tc.want)
		}
	}
}

func TestRemoveRefusesForeignOnlyName(t *testing.T) {
	in := "127.0.0.1 localhost\n127.0.1.1\tvm\t# the host name\n"
	f := netloop.ParseHosts([]byte(in))
	changed, err := f.Remove("VM")
	if !errors.Is(err, netloop.ErrForeignEntry) || changed {
		t.Fatalf("Remove(VM) = %v, %v; want false, ErrForeignEntry", changed, err)
	}
	if !strings.Contains(err.Error(), "line 2") {
		t.Errorf("error %q does not give the line", err)
	}
	if string(f.Bytes()) != in {
		t.Fatal("refused Remove changed the file")
	}
	if changed, err := f.RemoveForce("vm"); err != nil || !changed {
		t.Fatalf("RemoveForce(vm) = %v, %v", changed, err)
	}
	if got := string(f.Bytes()); got != "127.0.0.1 localhost\n" {
		t.Fatalf("after RemoveForce: %q", got)
	}
	if _, err := f.Remove("vm"); !errors.Is(err, netloop.ErrNameNotFound) {
		t.Fatalf("Remove of a missing name: err = %v, want ErrNameNotFound", err)
	}
	// A name only on an invalid line is not an entry.
	g := netloop.ParseHosts([]byte("999.1.1.1 ghost\n"))
	if _, err := g.Remove("ghost"); !errors.Is(err, netloop.ErrNameNotFound) {
		t.Fatalf("Remove(ghost) err = %v, want ErrNameNotFound", err)
	}
}

// TestRemoveEverywhere removes a name from loops lines (deleted) and a
// foreign alias line (token removed) in one call, and refuses atomically
// when one foreign line would be deleted.
func TestRemoveEverywhere(t *testing.T) {
	in := "127.0.0.1 localhost dev.test\n127.0.0.2\tdev.test\t# added by loops\n# keep\n::1\tDEV.test\t# added by loops\n"
	f := netloop.ParseHosts([]byte(in))
	if changed, err := f.Remove("dev.test"); err != nil || !changed {
		t.Fatalf("Remove = %v, %v", changed, err)
	}
	if got := string(f.Bytes()); got != "127.0.0.1 localhost\n# keep\n" {
		t.Fatalf("got %q", got)
	}
	in2 := in + "127.0.0.3 dev.test\n"
	g := netloop.ParseHosts([]byte(in2))
	if _, err := g.Remove("dev.test"); !errors.Is(err, netloop.ErrForeignEntry) {
		t.Fatalf("err = %v, want ErrForeignEntry", err)
	}
	if string(g.Bytes()) != in2 {
		t.Fatal("refused Remove changed some lines")
	}
}

func hostsAddr(s string) netip.Addr { return netip.MustParseAddr(s) }

func hostsMustAdd(t *testing.T, f *netloop.HostsFile, name, a string) {
	t.Helper()
	if changed, err := f.Add(name, hostsAddr(a)); err != nil || !changed {
		t.Fatalf("Add(%s, %s) = %v, %v; want true, nil", name, a, changed, err)
	}
}
