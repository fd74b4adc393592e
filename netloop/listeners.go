package netloop

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink/nl"
	"golang.org/x/sys/unix"
)

// Listener is one socket that accepts traffic on loopback: a TCP socket in
// LISTEN or a bound, unconnected UDP socket (UNCONN), bound to a loopback
// address or a wildcard.
type Listener struct {
	Proto  string         // "tcp" or "udp"
	Addr   netip.AddrPort // local address as bound: 127.0.0.1:631, [::]:22, 0.0.0.0:53
	V6Only bool           // IPV6_V6ONLY on an IPv6 socket; for [::] it means no IPv4
	Dev    int            // SO_BINDTODEVICE interface index: 0 for none, 1 for lo
	UID    uint32
	Inode  uint64
	Owners []Process // processes holding the socket (may be empty: other user, other pid ns)
}

// Process is a process holding a socket.
type Process struct {
	PID  int
	Name string // /proc/PID/comm
}

// ListenerOptions selects what Listeners reports.
type ListenerOptions struct {
	Port   int  // 0 = all ports
	UDP    bool // include bound UDP sockets
	Owners bool // resolve owning processes via /proc/*/fd (costs ~10 ms)
}

// Reach tells whether a connection to Addr reaches a listener.
type Reach struct {
	Addr netip.Addr
	OK   bool
}

// loIndex is lo's interface index, the same in every namespace.
const loIndex = 1

// Kernel socket states (include/net/tcp_states.h) and inet_diag layout.
const (
	tcpClose  = 7  // TCP_CLOSE: what a bound, unconnected UDP socket reports
	tcpListen = 10 // TCP_LISTEN

	inetDiagSKV6Only = 11 // INET_DIAG_SKV6ONLY attribute, a u8
	inetDiagReqLen   = 56 // sizeof(struct inet_diag_req_v2)
	inetDiagMsgLen   = 72 // sizeof(struct inet_diag_msg)
)

var probeAddrs = []netip.Addr{
	netip.MustParseAddr("127.0.0.1"),
	netip.MustParseAddr("127.0.0.2"),
	netip.IPv6Loopback(),
}

// Listeners lists the TCP listeners (and with opts.UDP the bound UDP sockets)
// that loopback traffic can reach, like `ss -ltn` (`ss -ltnp` with
// opts.Owners), sorted by port, address and protocol. Unlike netlink's
// SocketDiagTCP it asks the kernel for LISTEN sockets only, which spares the
// walk of every established connection. Needs no privilege.
func (c *Client) Listeners(opts ListenerOptions) ([]Listener, error) {
	if opts.Port < 0 || opts.Port > 65535 {
		return nil, c.listenersErr(fmt.Errorf("port %d out of range", opts.Port))
	}
	if c.closed {
		return nil, c.listenersErr(ErrClosed)
	}
	// The socket must be made in the client's namespace: sock_diag answers
	// for the namespace a socket was created in.
	s, err := c.diagSocket()
	if err != nil {
		return nil, c.listenersErr(err)
	}

	queries := []inetDiagReq{
		{family: unix.AF_INET, proto: unix.IPPROTO_TCP, states: 1 << tcpListen},
		{family: unix.AF_INET6, proto: unix.IPPROTO_TCP, states: 1 << tcpListen},
	}
	if opts.UDP {
		queries = append(queries,
			inetDiagReq{family: unix.AF_INET, proto: unix.IPPROTO_UDP, states: 1 << tcpClose},
			inetDiagReq{family: unix.AF_INET6, proto: unix.IPPROTO_UDP, states: 1 << tcpClose})
	}
	var out []Listener
	for _, q := range queries {
		err := inetDiagDump(s, &q, func(m []byte) {
			l, ok := parseInetDiagMsg(m, q.proto)
			if !ok || (opts.Port != 0 && int(l.Addr.Port()) != opts.Port) {
				return
			}
			if (l.LoopbackOnly() || l.Wildcard()) && (l.Dev == 0 || l.Dev == loIndex) {
				out = append(out, l)
			}
		})
		if err != nil {
			return nil, c.listenersErr(err)
		}
	}
	if opts.Owners && len(out) > 0 {
		findOwners(c.host.proc(), out)
	}
	slices.SortFunc(out, func(a, b Listener) int {
		return cmp.Or(
			cmp.Compare(a.Addr.Port(), b.Addr.Port()),
			a.Addr.Addr().Compare(b.Addr.Addr()),
			cmp.Compare(a.Proto, b.Proto),
			cmp.Compare(a.Inode, b.Inode))
	})
	return out, nil
}

func (c *Client) listenersErr(err error) error {
	return &OpError{Op: "list listeners", Target: c.target, Err: err}
}

// LoopbackOnly reports whether l is bound to a loopback address (127.x or
// ::1), not a wildcard.
func (l Listener) LoopbackOnly() bool { return IsLoopback(l.Addr.Addr()) }

// Wildcard reports whether l is bound to 0.0.0.0 or [::].
func (l Listener) Wildcard() bool { return l.Addr.Addr().Unmap().IsUnspecified() }

// Reaches reports whether a connection to dst on l's port, made in l's
// namespace, reaches l. dst is taken to be an address of that namespace.
// As in the kernel, 0.0.0.0 stands for 127.0.0.1 and :: for ::1, and a
// v4-mapped address is IPv4.
func (l Listener) Reaches(dst netip.Addr) bool {
	if !dst.IsValid() || (l.Dev != 0 && l.Dev != loIndex) {
		return false
	}
	dst = dst.WithZone("").Unmap()
	switch dst {
	case netip.IPv4Unspecified():
		dst = netip.AddrFrom4([4]byte{127, 0, 0, 1})
	case netip.IPv6Unspecified():
		dst = netip.IPv6Loopback()
	}
	a := l.Addr.Addr().WithZone("")
	switch {
	case a == netip.IPv6Unspecified():
		return dst.Is6() || !l.V6Only
	case a.Unmap() == netip.IPv4Unspecified():
		return dst.Is4()
	}
	return a.Unmap() == dst
}

// Reachability tells, for 127.0.0.1, 127.0.0.2 and ::1, whether a connection
// reaches l.
func (l Listener) Reachability() []Reach {
	out := make([]Reach, len(probeAddrs))
	for i, a := range probeAddrs {
		out[i] = Reach{Addr: a, OK: l.Reaches(a)}
	}
	return out
}

// inetDiagReq is struct inet_diag_req_v2 with a zero socket id, which a dump
// ignores.
type inetDiagReq struct {
	family, proto uint8
	states        uint32
}

func (r *inetDiagReq) Len() int { return inetDiagReqLen }

func (r *inetDiagReq) Serialize() []byte {
	b := make([]byte, inetDiagReqLen)
	b[0], b[1] = r.family, r.proto
	// b[2] idiag_ext = 0: INET_DIAG_SKV6ONLY comes for AF_INET6 LISTEN and
	// CLOSE sockets without asking.
	binary.NativeEndian.PutUint32(b[4:], r.states)
	return b
}

// diagSocket is a blocking NETLINK_INET_DIAG socket. Blocking reads skip
// the runtime poller, which matters for a command that lives 2 ms.
type diagSocket struct {
	fd  int
	seq uint32
	buf []byte
}

// diagSocket is the client's sock_diag socket, made inside its namespace
// on first need (sock_diag answers for the namespace a socket was created
// in) and kept until Close.
func (c *Client) diagSocket() (*diagSocket, error) {
	if c.diag != nil {
		return c.diag, nil
	}
	err := c.Do(func() (err error) {
		c.diag, err = newDiagSocket()
		return err
	})
	if err != nil {
		return nil, err
	}
	return c.diag, nil
}

// newDiagSocket makes a sock_diag socket in the calling thread's namespace.
func newDiagSocket() (*diagSocket, error) {
	fd, err := unix.Socket(unix.AF_NETLINK, unix.SOCK_RAW|unix.SOCK_CLOEXEC, unix.NETLINK_INET_DIAG)
	if err != nil {
		return nil, fmt.Errorf("open sock_diag socket: %w", err)
	}
	return &diagSocket{fd: fd, buf: make([]byte, 32<<10)}, nil
}

func (s *diagSocket) close() { unix.Close(s.fd) }

// inetDiagDump sends one SOCK_DIAG_BY_FAMILY dump request and calls f with
// each inet_diag_msg until NLMSG_DONE.
func inetDiagDump(s *diagSocket, r *inetDiagReq, f func([]byte)) error {
	s.seq++
	msg := make([]byte, unix.NLMSG_HDRLEN+inetDiagReqLen)
	binary.NativeEndian.PutUint32(msg[0:], uint32(len(msg)))
	binary.NativeEndian.PutUint16(msg[4:], nl.SOCK_DIAG_BY_FAMILY)
	binary.NativeEndian.PutUint16(msg[6:], unix.NLM_F_REQUEST|unix.NLM_F_DUMP)
	binary.NativeEndian.PutUint32(msg[8:], s.seq)
	copy(msg[unix.NLMSG_HDRLEN:], r.Serialize())
	if err := unix.Sendto(s.fd, msg, 0, &unix.SockaddrNetlink{Family: unix.AF_NETLINK}); err != nil {
		return err
	}
	for {
		n, from, err := unix.Recvfrom(s.fd, s.buf, 0)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return err
		}
		if sa, ok := from.(*unix.SockaddrNetlink); !ok || sa.Pid != 0 { // not from the kernel
			continue
		}
		msgs, err := syscall.ParseNetlinkMessage(s.buf[:n])
		if err != nil {
			return err
		}
		for _, m := range msgs {
			if m.Header.Seq != s.seq {
				continue
			}
			switch m.Header.Type {
			case unix.NLMSG_DONE:
				// A dump that fails midway reports -errno here.
				return netlinkErrno(m.Data, false)
			case unix.NLMSG_ERROR:
				return netlinkErrno(m.Data, true)
			default:
				f(m.Data)
			}
		}
	}
}

// netlinkErrno decodes the int32 -errno that starts NLMSG_ERROR and
// NLMSG_DONE payloads.
func netlinkErrno(b []byte, isError bool) error {
	if len(b) < 4 {
		if isError {
			return errors.New("truncated netlink error message")
		}
		return nil
	}
	e := int32(binary.NativeEndian.Uint32(b))
	if e == 0 {
		return nil
	}
	if e < 0 {
		e = -e
	}
	return syscall.Errno(e)
}

// parseInetDiagMsg decodes struct inet_diag_msg and its attributes.
func parseInetDiagMsg(b []byte, proto uint8) (Listener, bool) {
	if len(b) < inetDiagMsgLen {
		return Listener{}, false
	}
	var ip netip.Addr
	switch b[0] {
	case unix.AF_INET:
		ip = netip.AddrFrom4([4]byte(b[8:12]))
	case unix.AF_INET6:
		ip = netip.AddrFrom16([16]byte(b[8:24]))
	default:
		return Listener{}, false
	}
	l := Listener{
		Proto: "tcp",
		Addr:  netip.AddrPortFrom(ip, binary.BigEndian.Uint16(b[4:6])),
		Dev:   int(binary.NativeEndian.Uint32(b[40:44])),
		UID:   binary.NativeEndian.Uint32(b[64:68]),
		Inode: uint64(binary.NativeEndian.Uint32(b[68:72])),
	}
	if proto == unix.IPPROTO_UDP {
		l.Proto = "udp"
	}
	attrs, _ := nl.ParseRouteAttr(b[inetDiagMsgLen:])
	for _, a := range attrs {
		if a.Attr.Type == inetDiagSKV6Only && len(a.Value) >= 1 {
			l.V6Only = a.Value[0] != 0
		}
	}
	return l, true
}

// findOwners fills in Owners the way `ss -p` does: it reads every
// procDir/PID/fd/* link and matches "socket:[INODE]". Entries it cannot read
// (other users' processes, processes that exited) are skipped.
func findOwners(procDir string, ls []Listener) {
	byInode := make(map[uint64][]int, len(ls))
	for i := range ls {
		byInode[ls[i].Inode] = append(byInode[ls[i].Inode], i)
	}
	d, err := os.Open(procDir)
	if err != nil {
		return
	}
	names, _ := d.Readdirnames(-1)
	d.Close()
	buf := make([]byte, 64)
	for _, name := range names {
		pid, err := strconv.Atoi(name)
		if err != nil || pid <= 0 {
			continue
		}
		var found map[uint64]bool
		for _, ino := range socketInodes(filepath.Join(procDir, name, "fd"), buf) {
			if _, ok := byInode[ino]; ok {
				if found == nil {
					found = map[uint64]bool{}
				}
				found[ino] = true
			}
		}
		if found == nil {
			continue
		}
		p := Process{PID: pid}
		if b, err := os.ReadFile(filepath.Join(procDir, name, "comm")); err == nil {
			p.Name = strings.TrimSuffix(string(b), "\n")
		}
		for ino := range found {
			for _, i := range byInode[ino] {
				ls[i].Owners = append(ls[i].Owners, p)
			}
		}
	}
	for i := range ls {
		slices.SortFunc(ls[i].Owners, func(a, b Process) int { return cmp.Compare(a.PID, b.PID) })
	}
}

// socketInodes returns the inodes of the sockets a /proc/PID/fd directory
// links to.
func socketInodes(fdDir string, buf []byte) []uint64 {
	fd, err := unix.Open(fdDir, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil
	}
	dir := os.NewFile(uintptr(fd), fdDir)
	defer dir.Close()
	names, _ := dir.Readdirnames(-1)
	var out []uint64
	for _, n := range names {
		k, err := unix.Readlinkat(fd, n, buf)
		if err != nil {
			continue
		}
		if ino, ok := parseSocketLink(buf[:k]); ok {
			out = append(out, ino)
		}
	}
	return out
}

// parseSocketLink parses "socket:[12345]".
func parseSocketLink(b []byte) (uint64, bool) {
	rest, ok := bytes.CutPrefix(b, []byte("socket:["))
	if !ok {
		return 0, false
	}
	rest, ok = bytes.CutSuffix(rest, []byte("]"))
	if !ok || len(rest) == 0 {
		return 0, false
	}
	var n uint64
	for _, ch := range rest {
		if ch < '0' || ch > '9' {
			return 0, false
		}
		n = n*10 + uint64(ch-'0')
	}
	return n, true
}
