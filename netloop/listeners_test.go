package netloop_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/netloop"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

func TestReachesTable(t *testing.T) {
	type tc struct {
		bound  string
		v6only bool
		dev    int
		dst    string
		want   bool
	}
	var cases []tc
	// Each row: listener, then the destinations it is reached on (all others
	// must not reach it).
	dsts := []string{"127.0.0.1", "127.0.0.2", "127.9.8.7", "::1", "::ffff:127.0.0.1", "0.0.0.0", "::", "10.1.2.3", "fd00::1"}
	for _, row := range []struct {
		bound  string
		v6only bool
		dev    int
		yes    []string
	}{
		{"127.0.0.1", false, 0, []string{"127.0.0.1", "::ffff:127.0.0.1", "0.0.0.0"}},
		{"127.0.0.2", false, 0, []string{"127.0.0.2"}},
		{"::1", false, 0, []string{"::1", "::"}},
		{"::1", true, 0, []string{"::1", "::"}},
		{"0.0.0.0", false, 0, []string{"127.0.0.1", "127.0.0.2", "127.9.8.7", "::ffff:127.0.0.1", "0.0.0.0", "10.1.2.3"}},
		{"0.0.0.0", false, 1, []string{"127.0.0.1", "127.0.0.2", "127.9.8.7", "::ffff:127.0.0.1", "0.0.0.0", "10.1.2.3"}},
		{"0.0.0.0", false, 2, nil}, // bound to a device other than lo
		{"::", false, 0, dsts},
		{"::", true, 0, []string{"::1", "::", "fd00::1"}},
		{"::ffff:127.0.0.1", false, 0, []string{"127.0.0.1", "::ffff:127.0.0.1", "0.0.0.0"}},
		{"::ffff:0.0.0.0", false, 0, []string{"127.0.0.1", "127.0.0.2", "127.9.8.7", "::ffff:127.0.0.1", "0.0.0.0", "10.1.2.3"}},
	} {
		yes := map[string]bool{}
		for _, y := range row.yes {
			yes[y] = true
		}
		for _, d := range dsts {
			cases = append(cases, tc{row.bound, row.v6only, row.dev, d, yes[d]})
		}
	}
	for _, c := range cases {
		l := netloop.Listener{Proto: "tcp", Addr: netip.AddrPortFrom(netip.MustParseAddr(c.bound), 80), V6Only: c.v6only, Dev: c.dev}
		if got := l.Reaches(netip.MustParseAddr(c.dst)); got != c.want {
			t.Errorf("listener %s v6only=%v dev=%d: Reaches(%s) = %v, want %v", l.Addr, c.v6only, c.dev, c.dst, got, c.want)
		}
	}
	if (netloop.Listener{Addr: netip.MustParseAddrPort("0.0.0.0:1")}).Reaches(netip.Addr{}) {
		t.Error("Reaches(invalid address) = true")
	}
	l := netloop.Listener{Addr: netip.MustParseAddrPort("0.0.0.0:1")}
	want := []netloop.Reach{{netip.MustParseAddr("127.0.0.1"), true}, {netip.MustParseAddr("127.0.0.2"), true}, {netip.IPv6Loopback(), false}}
	if got := l.Reachability(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Reachability() = %v, want %v", got, want)
	}
	for s, want := range map[string][2]bool{ // LoopbackOnly, Wildcard
		"127.0.0.1:1": {true, false}, "127.3.0.1:1": {true, false}, "[::1]:1": {true, false},
		"[::ffff:127.0.0.1]:1": {true, false}, "0.0.0.0:1": {false, true}, "[::]:1": {false, true},
		"10.0.0.1:1": {false, false}, "[fd00::1]:1": {false, false},
	} {
		l := netloop.Listener{Addr: netip.MustParseAddrPort(s)}
		if got := [2]bool{l.LoopbackOnly(), l.Wildcard()}; got != want {
			t.Errorf("%s: LoopbackOnly, Wildcard = %v, want %v", s, got, want)
		}
	}
}

// sock is a listening socket the test opened.
type sock struct {
	proto string
	conn  syscall.Conn
	udp   *net.UDPConn // for UDP sockets
	port  uint16
}

// listen opens a socket in the namespace (or, with ns nil, in the test's own)
// and closes it when t ends. control runs before bind.
func listen(t *testing.T, ns *netlooptest.Netns, network, addr string, control func(fd int) error) sock {
	t.Helper()
	lc := net.ListenConfig{}
	if control != nil {
		lc.Control = func(_, _ string, c syscall.RawConn) error {
			var serr error
			if err := c.Control(func(fd uintptr) { serr = control(int(fd)) }); err != nil {
				return err
			}
			return serr
		}
	}
	var s sock
	open := func() error {
		if network[:3] == "udp" {
			pc, err := lc.ListenPacket(context.Background(), network, addr)
			if err != nil {
				return err
			}
			u := pc.(*net.UDPConn)
			s = sock{proto: "udp", conn: u, udp: u, port: uint16(u.LocalAddr().(*net.UDPAddr).Port)}
			return nil
		}
		ln, err := lc.Listen(context.Background(), network, addr)
		if err != nil {
			return err
		}
		s = sock{proto: "tcp", conn: ln.(*net.TCPListener), port: uint16(ln.Addr().(*net.TCPAddr).Port)}
		return nil
	}
	if ns != nil {
		ns.Do(t, open)
	} else if err := open(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.conn.(io.Closer).Close() })
	return s
}

// inode is the socket's inode number, from fstat: what sock_diag reports.
func (s sock) inode(t *testing.T) uint64 {
	t.Helper()
	rc, err := s.conn.SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var st unix.Stat_t
	var serr error
	if err := rc.Control(func(fd uintptr) { serr = unix.Fstat(int(fd), &st) }); err != nil {
		t.Fatal(err)
	}
	if serr != nil {
		t.Fatal(serr)
	}
	return st.Ino
}

func findInode(ls []netloop.Listener, ino uint64) (netloop.Listener, bool) {
	for _, l := range ls {
		if l.Inode == ino {
			return l, true
		}
	}
	return netloop.Listener{}, false
}

func v6only(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IPV6, unix.IPV6_V6ONLY, 1) }

// reached really connects to dst on s's port (for UDP: sends a datagram and
// waits for it). Run it inside the socket's namespace.
func reached(s sock, dst netip.Addr) (bool, error) {
	target := netip.AddrPortFrom(dst, s.port).String()
	// Name the family: for "tcp" and [::], Go races [::] against 0.0.0.0 on
	// new goroutines, whose threads are in the test's namespace, not ns.
	network := s.proto + "6"
	if dst.Unmap().Is4() {
		network = s.proto + "4"
	}
	if s.proto == "tcp" {
		c, err := net.DialTimeout(network, target, time.Second)
		if err != nil {
			return false, nil
		}
		return true, c.Close()
	}
	c, err := net.DialTimeout(network, target, time.Second)
	if err != nil {
		return false, nil
	}
	defer c.Close()
	if _, err := c.Write([]byte(target)); err != nil {
		return false, nil
	}
	buf := make([]byte, 64)
	for {
		s.udp.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		n, _, err := s.udp.ReadFrom(buf)
		if err != nil {
			return false, nil // timeout: not delivered
		}
		if string(buf[:n]) == target {
			return true, nil
		}
	}
}

func TestListenersReachability(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	// want: reached on 127.0.0.1, 127.0.0.2, ::1.
	cases := []struct {
		network, addr string
		control       func(int) error
		bound         string
		v6only        bool
		want          [3]bool
	}{
		{"tcp4", "127.0.0.1:0", nil, "127.0.0.1", false, [3]bool{true, false, false}},
		{"tcp4", "127.0.0.2:0", nil, "127.0.0.2", false, [3]bool{false, true, false}},
		// Go sets IPV6_V6ONLY on every "tcp6" socket.
		{"tcp6", "[::1]:0", nil, "::1", true, [3]bool{false, false, true}},
		// "tcp" with 0.0.0.0 would make Go open a dual-stack [::] socket.
		{"tcp4", "0.0.0.0:0", nil, "0.0.0.0", false, [3]bool{true, true, false}},
		{"tcp", "[::]:0", nil, "::", false, [3]bool{true, true, true}},
		{"tcp", "[::]:0", v6only, "::", true, [3]bool{false, false, true}},
		{"udp4", "127.0.0.1:0", nil, "127.0.0.1", false, [3]bool{true, false, false}},
		{"udp", "[::]:0", nil, "::", false, [3]bool{true, true, true}},
		{"udp6", "[::1]:0", nil, "::1", true, [3]bool{false, false, true}},
	}
	socks := make([]sock, len(cases))
	for i, c := range cases {
		socks[i] = listen(t, ns, c.network, c.addr, c.control)
	}
	ls, err := ns.Client.Listeners(netloop.ListenerOptions{UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != len(cases) {
		t.Errorf("Listeners() = %d sockets, want %d: %+v", len(ls), len(cases), ls)
	}
	// Beyond the three probes, dial other addresses the kernel treats
	// specially: another 127.x, 0.0.0.0 (means 127.0.0.1), :: (means ::1).
	extra := []netip.Addr{netip.MustParseAddr("127.1.2.3"), netip.IPv4Unspecified(), netip.IPv6Unspecified()}
	for i, c := range cases {
		s := socks[i]
		name := c.network + " " + c.addr
		if c.v6only {
			name += " v6only"
		}
		l, ok := findInode(ls, s.inode(t))
		if !ok {
			t.Errorf("%s: inode %d not listed in %+v", name, s.inode(t), ls)
			continue
		}
		if want := netip.AddrPortFrom(netip.MustParseAddr(c.bound), s.port); l.Addr != want || l.Proto != s.proto || l.V6Only != c.v6only {
			t.Errorf("%s: got %s %s v6only=%v, want %s %s v6only=%v", name, l.Proto, l.Addr, l.V6Only, s.proto, want, c.v6only)
		}
		if l.UID != 0 || l.Dev != 0 {
			t.Errorf("%s: uid %d dev %d, want 0 0", name, l.UID, l.Dev)
		}
		reach := l.Reachability()
		if len(reach) != 3 {
			t.Fatalf("Reachability() = %v, want 3 probes", reach)
		}
		for j, r := range reach {
			var got bool
			ns.Do(t, func() (err error) { got, err = reached(s, r.Addr); return err })
			if got != r.OK || got != c.want[j] || l.Reaches(r.Addr) != r.OK {
				t.Errorf("%s: connecting to %s: reached=%v, Reachability says %v, Reaches says %v, want %v",
					name, r.Addr, got, r.OK, l.Reaches(r.Addr), c.want[j])
			}
		}
		for _, dst := range extra {
			var got bool
			ns.Do(t, func() (err error) { got, err = reached(s, dst); return err })
			if got != l.Reaches(dst) {
				t.Errorf("%s: connecting to %s: reached=%v, Reaches says %v", name, dst, got, l.Reaches(dst))
			}
		}
	}
}

func TestListenersStayInNamespace(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	in := listen(t, ns, "tcp4", "127.0.0.1:0", nil).inode(t)
	host := listen(t, nil, "tcp4", "127.0.0.1:0", nil).inode(t)

	ls, err := ns.Client.Listeners(netloop.ListenerOptions{UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	// A fresh namespace holds only what the test opened in it.
	if len(ls) != 1 || ls[0].Inode != in {
		t.Fatalf("netns listeners = %+v, want only inode %d (host's is %d)", ls, in, host)
	}

	hc, err := netloop.Open(netloop.Target{})
	if err != nil {
		t.Fatal(err)
	}
	defer hc.Close()
	hl, err := hc.Listeners(netloop.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := findInode(hl, host); !ok {
		t.Errorf("host listeners lack the test's own inode %d: %+v", host, hl)
	}
	if _, ok := findInode(hl, in); ok {
		t.Errorf("host listeners include the netns socket %d", in)
	}
}

func TestListenersOwners(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	ino := listen(t, ns, "tcp6", "[::1]:0", nil).inode(t)
	comm := filepath.Base(os.Args[0])
	if len(comm) > 15 { // TASK_COMM_LEN - 1
		comm = comm[:15]
	}

	ls, err := ns.Client.Listeners(netloop.ListenerOptions{Owners: true})
	if err != nil {
		t.Fatal(err)
	}
	l, ok := findInode(ls, ino)
	if !ok {
		t.Fatalf("inode %d not in %+v", ino, ls)
	}
	want := netloop.Process{PID: os.Getpid(), Name: comm}
	if len(l.Owners) != 1 || l.Owners[0] != want {
		t.Errorf("Owners = %+v, want [%+v]", l.Owners, want)
	}

	ls, err = ns.Client.Listeners(netloop.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Owners != nil {
		t.Errorf("without Owners: %+v, want one listener and no owners", ls)
	}
}

// TestListenersOwnersFakeProc points Host.Proc at a made-up /proc: owners come
// from fd links naming the socket, duplicates collapse, other entries are
// skipped. It runs in the caller's namespace and needs no root.
func TestListenersOwnersFakeProc(t *testing.T) {
	s := listen(t, nil, "tcp4", "127.0.0.1:0", nil)
	ino := s.inode(t)
	sockLink := "socket:[" + strconv.FormatUint(ino, 10) + "]"

	proc := t.TempDir()
	mk := func(pid, comm string, links map[string]string) {
		fd := filepath.Join(proc, pid, "fd")
		if err := os.MkdirAll(fd, 0o755); err != nil {
			t.Fatal(err)
		}
		if comm != "" {
			if err := os.WriteFile(filepath.Join(proc, pid, "comm"), []byte(comm+"\n"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		for n, target := range links {
			if err := os.Symlink(target, filepath.Join(fd, n)); err != nil {
				t.Fatal(err)
			}
		}
	}
	mk("400", "", map[string]string{"5": sockLink}) // no comm: exited meanwhile
	mk("100", "fakesrv", map[string]string{"3": sockLink, "4": sockLink, "0": "/dev/null"})
	mk("200", "other", map[string]string{"0": "/dev/null", "1": "socket:[1]", "2": "socket:[x]", "3": "pipe:[" + strconv.FormatUint(ino, 10) + "]"})
	mk("self", "notapid", map[string]string{"3": sockLink})
	if err := os.MkdirAll(filepath.Join(proc, "300"), 0o755); err != nil { // no fd dir
		t.Fatal(err)
	}
	c, err := netloop.Host{Proc: proc}.Open(netloop.Target{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()

	ls, err := c.Listeners(netloop.ListenerOptions{Port: int(s.port), Owners: true})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprint([]netloop.Process{{PID: 100, Name: "fakesrv"}, {PID: 400}})
	if len(ls) != 1 || ls[0].Inode != ino || fmt.Sprint(ls[0].Owners) != want {
		t.Fatalf("Listeners = %+v, want inode %d with owners %s", ls, ino, want)
	}
}

func TestListenersPortFilterAndOrder(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	p := listen(t, ns, "tcp4", "127.0.0.2:0", nil).port
	at := func(a string) string { return net.JoinHostPort(a, strconv.Itoa(int(p))) }
	listen(t, ns, "tcp6", at("::1"), nil)
	listen(t, ns, "udp4", at("127.0.0.1"), nil)
	listen(t, ns, "tcp4", at("127.0.0.1"), nil)
	other := listen(t, ns, "tcp4", "127.0.0.1:0", nil)

	show := func(ls []netloop.Listener) string {
		s := ""
		for _, l := range ls {
			s += l.Proto + " " + l.Addr.String() + "; "
		}
		return s
	}
	ls, err := ns.Client.Listeners(netloop.ListenerOptions{Port: int(p), UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf("tcp 127.0.0.1:%d; udp 127.0.0.1:%[1]d; tcp 127.0.0.2:%[1]d; tcp [::1]:%[1]d; ", p)
	if got := show(ls); got != want {
		t.Errorf("Port %d, UDP:\n got %s\nwant %s", p, got, want)
	}
	ls, err = ns.Client.Listeners(netloop.ListenerOptions{Port: int(p)})
	if err != nil {
		t.Fatal(err)
	}
	want = fmt.Sprintf("tcp 127.0.0.1:%d; tcp 127.0.0.2:%[1]d; tcp [::1]:%[1]d; ", p)
	if got := show(ls); got != want {
		t.Errorf("Port %d, no UDP:\n got %s\nwant %s", p, got, want)
	}
	ls, err = ns.Client.Listeners(netloop.ListenerOptions{UDP: true})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 5 {
		t.Errorf("all ports: %s, want 5 listeners", show(ls))
	}
	for i := 1; i < len(ls); i++ {
		if ls[i-1].Addr.Port() > ls[i].Addr.Port() {
			t.Errorf("not sorted by port: %s", show(ls))
		}
	}
	ls, err = ns.Client.Listeners(netloop.ListenerOptions{Port: int(other.port)})
	if err != nil || len(ls) != 1 || ls[0].Inode != other.inode(t) {
		t.Errorf("Port %d: %+v, %v; want the one listener", other.port, ls, err)
	}

	_, err = ns.Client.Listeners(netloop.ListenerOptions{Port: 70000})
	var oe *netloop.OpError
	if !errors.As(err, &oe) || oe.Op != "list listeners" || oe.Target.Name != ns.Name {
		t.Errorf("Port 70000: err = %v, want an OpError for %s", err, ns.Name)
	}
}

// TestListenersSkipsUnreachable: sockets loopback traffic cannot reach are
// left out: bound to a non-loopback address, or to a device other than lo.
func TestListenersSkipsUnreachable(t *testing.T) {
	ns := netlooptest.New(t)
	ns.Up(t)
	ns.Do(t, func() error {
		// A bridge: this kernel may lack the dummy driver.
		return netlink.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}})
	})
	freebind := func(fd int) error { return unix.SetsockoptInt(fd, unix.IPPROTO_IP, unix.IP_FREEBIND, 1) }
	bindTo := func(dev string) func(int) error {
		return func(fd int) error { return unix.BindToDevice(fd, dev) }
	}
	listen(t, ns, "tcp4", "10.0.0.1:0", freebind)
	onBridge := listen(t, ns, "tcp4", "0.0.0.0:0", bindTo("br0"))
	onLo := listen(t, ns, "tcp4", "0.0.0.0:0", bindTo("lo"))

	ls, err := ns.Client.Listeners(netloop.ListenerOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ls) != 1 || ls[0].Inode != onLo.inode(t) || ls[0].Dev != 1 {
		t.Fatalf("Listeners = %+v, want only the lo-bound one (inode %d, dev 1)", ls, onLo.inode(t))
	}
	for _, s := range []sock{onBridge, onLo} {
		var got bool
		ns.Do(t, func() (err error) { got, err = reached(s, netip.MustParseAddr("127.0.0.1")); return err })
		if want := s.port == onLo.port; got != want {
			t.Errorf("port %d: reached over loopback = %v, want %v", s.port, got, want)
		}
	}
}
