package netloop_test

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/loops-cli/loops/netloop"
)

const debianHosts = "127.0.0.1\tlocalhost\n" +
	"127.0.1.1\tvm.example.org\tvm\n" +
	"\n" +
	"# The following lines are desirable for IPv6 capable hosts\n" +
	"::1     localhost ip6-localhost ip6-loopback\n" +
	"ff02::1 ip6-allnodes\n" +
	"ff02::2 ip6-allrouters\n"

// hostsSamples are hosts files as found in the wild, and odd ones.
var hostsSamples = map[string]string{
	"debian":     debianHosts,
	"empty":      "",
	"crlf":       "127.0.0.1 localhost\r\n::1 localhost\r\n",
	"crlf-no-nl": "127.0.0.1 localhost\r\n::1 localhost",
	"no-nl":      "127.0.0.1 localhost\n127.0.1.1 vm",
	"comment":    "# only a comment",
	"docker": "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n" +
		"fe00::0\tip6-localnet\nff00::0\tip6-mcastprefix\n172.17.0.2\t3f2a9c1b7e5d\n",
	"odd": "  \t127.0.0.1  LocalHost\tlocalhost.localdomain  # trailing comment \n" +
		"not-an-ip foo\n" +
		"10.0.0.1\n" +
		"fe80::1%eth0 router.lan\n" +
		"127.0.0.3 a#b c\n" +
		"\t\n" +
		"127.0.0.1\tmarked\t# added by loops\n" +
		"\r\n" +
		"127.0.0.4 lone-cr\r",
	"binary": "\x00\xff\xfe 127.0.0.1\n\x80x\r\r\n",
}

func TestParseHostsRoundTrip(t *testing.T) {
	for name, in := range hostsSamples {
		f := netloop.ParseHosts([]byte(in))
		if got := f.Bytes(); !bytes.Equal(got, []byte(in)) {
			t.Errorf("%s: Bytes() = %q, want the input %q", name, got, in)
		}
	}
}

func TestParseHostsDebian(t *testing.T) {
	f := netloop.ParseHosts([]byte(debianHosts))
	want := []netloop.HostsEntry{
		{Line: 1, Addr: hostsAddr("127.0.0.1"), Names: []string{"localhost"}},
		{Line: 2, Addr: hostsAddr("127.0.1.1"), Names: []string{"vm.example.org", "vm"}},
		{Line: 5, Addr: hostsAddr("::1"), Names: []string{"localhost", "ip6-localhost", "ip6-loopback"}},
		{Line: 6, Addr: hostsAddr("ff02::1"), Names: []string{"ip6-allnodes"}},
		{Line: 7, Addr: hostsAddr("ff02::2"), Names: []string{"ip6-allrouters"}},
	}
	if got := f.Entries(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Entries() =\n%v\nwant\n%v", got, want)
	}
	if got := f.Lookup("localhost"); fmt.Sprint(got) != "[127.0.0.1 ::1]" {
		t.Errorf("Lookup(localhost) = %v, want [127.0.0.1 ::1] (file order)", got)
	}
	if got := f.Invalid(); len(got) != 0 {
		t.Errorf("Invalid() = %v, want none", got)
	}
}

func TestParseHostsOddLines(t *testing.T) {
	f := netloop.ParseHosts([]byte(hostsSamples["odd"]))
	want := []netloop.HostsEntry{
		{Line: 1, Addr: hostsAddr("127.0.0.1"), Names: []string{"LocalHost", "localhost.localdomain"}, Comment: "trailing comment"},
		{Line: 4, Addr: hostsAddr("fe80::1%eth0"), Names: []string{"router.lan"}},
		{Line: 5, Addr: hostsAddr("127.0.0.3"), Names: []string{"a"}, Comment: "b c"}, // '#' ends the names, as in glibc
		{Line: 7, Addr: hostsAddr("127.0.0.1"), Names: []string{"marked"}, Comment: "added by loops", ByLoops: true},
		{Line: 9, Addr: hostsAddr("127.0.0.4"), Names: []string{"lone-cr"}},
	}
	if got := f.Entries(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Entries() =\n%v\nwant\n%v", got, want)
	}
	wantInvalid := []netloop.InvalidLine{
		{Line: 2, Text: "not-an-ip foo", Reason: `"not-an-ip" is not an IP address`},
		{Line: 3, Text: "10.0.0.1", Reason: "address without a host name"},
	}
	if got := f.Invalid(); fmt.Sprint(got) != fmt.Sprint(wantInvalid) {
		t.Errorf("Invalid() = %v, want %v", got, wantInvalid)
	}
}

func TestLookupAndNames(t *testing.T) {
	f := netloop.ParseHosts([]byte("127.0.0.1 LocalHost\n::1 localhost ip6-localhost\n127.0.0.2 other LOCALHOST\nbad localhost\n"))
	if got := f.Lookup("localhost"); fmt.Sprint(got) != "[127.0.0.1 ::1 127.0.0.2]" {
		t.Errorf("Lookup(localhost) = %v, want all three in file order, case ignored", got)
	}
	if got := f.Lookup("LOCALhost"); len(got) != 3 {
		t.Errorf("Lookup(LOCALhost) = %v, want 3 addresses", got)
	}
	if got := f.Lookup("nowhere"); got != nil {
		t.Errorf("Lookup(nowhere) = %v, want nil", got)
	}
	// Only ASCII case is folded, as glibc's strcasecmp in the C locale.
	if got := f.Lookup("locaꓡhost"); got != nil {
		t.Errorf("Lookup(non-ASCII) = %v, want nil", got)
	}
	if got := f.Names(hostsAddr("::1")); fmt.Sprint(got) != "[localhost ip6-localhost]" {
		t.Errorf("Names(::1) = %v", got)
	}
}
