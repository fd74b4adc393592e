package netloop

// Internal tests and benchmarks of the sock_diag code. They run in the
// caller's namespace and only read, so they need no root.

import (
	"errors"
	"testing"

	"golang.org/x/sys/unix"
)

func benchClient(b *testing.B) *Client {
	b.Helper()
	c, err := Open(Target{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { c.Close() })
	return c
}

// BenchmarkListeners is the LISTEN-only request Listeners makes, both
// families, including opening the netlink socket.
func BenchmarkListeners(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		if _, err := c.Listeners(ListenerOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkListenersUDPOwners(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		if _, err := c.Listeners(ListenerOptions{UDP: true, Owners: true}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSocketDiagAllStates is what netlink's SocketDiagTCP costs for the
// same answer: it asks for all states, so the kernel walks every connection.
func BenchmarkSocketDiagAllStates(b *testing.B) {
	c := benchClient(b)
	for b.Loop() {
		for _, fam := range []uint8{unix.AF_INET, unix.AF_INET6} {
			if _, err := c.h.SocketDiagTCP(fam); err != nil {
				b.Fatal(err)
			}
		}
	}
}

// TestInetDiagErrno: a request the kernel refuses comes back as an errno
// that errors.Is can match.
func TestInetDiagErrno(t *testing.T) {
	s, err := newDiagSocket()
	if err != nil {
		t.Fatal(err)
	}
	defer s.close()
	// No inet_diag handler exists for protocol 255.
	err = inetDiagDump(s, &inetDiagReq{family: unix.AF_INET, proto: 255, states: 1 << tcpListen}, func([]byte) {})
	var errno unix.Errno
	if !errors.As(err, &errno) {
		t.Fatalf("dump of protocol 255: err = %v, want an errno", err)
	}
	t.Logf("protocol 255: %v (%d)", err, int(errno))
	// The socket stays usable for the next request.
	n := 0
	err = inetDiagDump(s, &inetDiagReq{family: unix.AF_INET, proto: unix.IPPROTO_TCP, states: 1 << tcpListen}, func([]byte) { n++ })
	if err != nil {
		t.Fatalf("TCP dump after the error: %v", err)
	}
}

func TestParseSocketLink(t *testing.T) {
	for s, want := range map[string]uint64{"socket:[12345]": 12345, "socket:[0]": 0, "socket:[4294967296]": 4294967296} {
		if got, ok := parseSocketLink([]byte(s)); !ok || got != want {
			t.Errorf("parseSocketLink(%q) = %d, %v; want %d", s, got, ok, want)
		}
	}
	for _, s := range []string{"", "socket:[]", "socket:[12", "pipe:[12]", "socket:[1a]", "/dev/null", "anon_inode:[eventfd]"} {
		if _, ok := parseSocketLink([]byte(s)); ok {
			t.Errorf("parseSocketLink(%q) ok", s)
		}
	}
}
