package audioloop

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

// DefaultTimeout bounds connecting and each request when Options.Timeout is 0.
const DefaultTimeout = 1500 * time.Millisecond

// Options say how to reach the server. The zero value finds it like libpulse.
type Options struct {
	// Server overrides discovery, in PULSE_SERVER syntax: a socket path,
	// unix:PATH, tcp:HOST[:PORT]; several separated by spaces are tried in turn.
	Server string
	// Cookie is the path of the authentication cookie; "" looks in
	// $PULSE_COOKIE, ~/.config/pulse/cookie and ~/.pulse-cookie.
	Cookie string
	// Timeout bounds the connection and each request (DefaultTimeout if 0).
	Timeout time.Duration
	// AppName is the client name the server shows (default "loops").
	AppName string
	// Properties are more client properties the server shows (as `pactl
	// list clients` does); FollowMic marks its client with them.
	Properties map[string]string
	// Env replaces os.Getenv for discovery, for tests. Nil uses the process
	// environment. It is audioloop's counterpart of blockloop.Host and
	// netloop.Host: like libpulse, audioloop finds the server, the cookie
	// and the startup configuration from the environment (PULSE_SERVER,
	// XDG_RUNTIME_DIR, HOME, PULSE_COOKIE, XDG_CONFIG_HOME, SUDO_UID), not
	// from fixed system paths, so a test points it elsewhere by giving
	// another environment, as it would to pactl.
	Env func(string) string
}

// Client is a connection to the sound server. Its methods are safe to call
// from one goroutine at a time.
type Client struct {
	pc      *proto.Client
	conn    net.Conn
	addr    string
	timeout time.Duration

	mu     sync.Mutex
	closed bool
	// Handlers of stream messages by stream index; record and playback
	// streams are numbered separately.
	records, playbacks map[uint32]func(any)
	gone               chan struct{}
	// events is signalled (never blocking) on each subscription event.
	events chan struct{}
}

// Addr is the address the client is connected to (a socket path or host:port).
func (c *Client) Addr() string { return c.addr }

// Close closes the connection.
func (c *Client) Close() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.closed {
		return nil
	}
	c.closed = true
	return c.conn.Close()
}

type serverAddr struct {
	network, addr string
}

func (a serverAddr) String() string {
	if a.network == "unix" {
		return a.addr
	}
	return a.network + ":" + a.addr
}

// env returns the environment lookup of opts.
func (o Options) env(k string) string {
	if o.Env != nil {
		return o.Env(k)
	}
	return os.Getenv(k)
}

// invokingUser is the user whose server and cookie loops uses: under sudo
// (euid 0 and SUDO_UID set) the user who ran sudo, otherwise the caller.
func (o Options) invokingUser() (uid int, home string) {
	uid = os.Geteuid()
	home = o.env("HOME")
	if uid == 0 {
		if s := o.env("SUDO_UID"); s != "" {
			if n, err := strconv.Atoi(s); err == nil && n != 0 {
				uid = n
				home = ""
				if u, err := user.LookupId(s); err == nil {
					home = u.HomeDir
				}
			}
		}
	}
	return uid, home
}

// Candidates lists the server addresses Connect tries, in order, without
// dialling: PULSE_SERVER (or Options.Server), $XDG_RUNTIME_DIR/pulse/native,
// /run/user/UID/pulse/native. Under sudo, the invoking user's runtime dir
// comes before root's.
func (o Options) Candidates() []string {
	var out []string
	for _, a := range o.candidates() {
		out = append(out, a.String())
	}
	return out
}

func (o Options) candidates() []serverAddr {
	if o.Server != "" {
		return parseServerString(o.Server)
	}
	if s := o.env("PULSE_SERVER"); s != "" {
		return parseServerString(s)
	}
	var out []serverAddr
	seen := map[string]bool{}
	add := func(p string) {
		if !seen[p] {
			seen[p] = true
			out = append(out, serverAddr{"unix", p})
		}
	}
	uid, _ := o.invokingUser()
	if uid != os.Geteuid() {
		add(fmt.Sprintf("/run/user/%d/pulse/native", uid))
	}
	if d := o.env("XDG_RUNTIME_DIR"); d != "" && filepath.IsAbs(d) {
		add(filepath.Join(d, "pulse", "native"))
	}
	add(fmt.Sprintf("/run/user/%d/pulse/native", os.Geteuid()))
	return out
}

// parseServerString parses PULSE_SERVER: space-separated entries, each
// optionally prefixed {machine-id-or-hostname} (entries for another host are
// skipped), then a path, unix:PATH, tcp:HOST[:PORT], tcp4: or tcp6:.
func parseServerString(s string) []serverAddr {
	host, _ := os.Hostname()
	machineID, _ := os.ReadFile("/etc/machine-id")
	var out []serverAddr
	for _, f := range strings.Fields(s) {
		if strings.HasPrefix(f, "{") {
			end := strings.IndexByte(f, '}')
			if end < 0 {
				continue
			}
			m := f[1:end]
			if m != host && m != strings.TrimSpace(string(machineID)) {
				continue
			}
			f = f[end+1:]
		}
		switch {
		case f == "":
		case strings.HasPrefix(f, "/"):
			out = append(out, serverAddr{"unix", f})
		case strings.HasPrefix(f, "unix:"):
			out = append(out, serverAddr{"unix", f[5:]})
		case strings.HasPrefix(f, "tcp:"), strings.HasPrefix(f, "tcp4:"), strings.HasPrefix(f, "tcp6:"):
			i := strings.IndexByte(f, ':')
			hp := f[i+1:]
			if _, _, err := net.SplitHostPort(hp); err != nil {
				hp = net.JoinHostPort(strings.Trim(hp, "[]"), "4713")
			}
			out = append(out, serverAddr{f[:i], hp})
		default: // a bare host name means TCP, as in libpulse
			out = append(out, serverAddr{"tcp", net.JoinHostPort(f, "4713")})
		}
	}
	return out
}

// cookiePaths lists where the cookie is looked for, in order.
func (o Options) cookiePaths() []string {
	if o.Cookie != "" {
		return []string{o.Cookie}
	}
	var out []string
	uid, home := o.invokingUser()
	if p := o.env("PULSE_COOKIE"); p != "" {
		out = append(out, p)
	}
	if uid == os.Geteuid() {
		if x := o.env("XDG_CONFIG_HOME"); x != "" && filepath.IsAbs(x) {
			out = append(out, filepath.Join(x, "pulse", "cookie"))
		}
	}
	if home != "" {
		out = append(out, filepath.Join(home, ".config", "pulse", "cookie"), filepath.Join(home, ".pulse-cookie"))
	}
	return out
}

// cookie returns the first readable 256-byte cookie, or zeros: a server
// that checks credentials accepts the same user without one.
func (o Options) cookie() []byte {
	for _, p := range o.cookiePaths() {
		b, err := os.ReadFile(p)
		if err == nil && len(b) >= 256 {
			return b[:256]
		}
	}
	return make([]byte, 256)
}

// Connect finds the sound server and connects to it: like libpulse's
// pa_context_connect. It needs no privilege. It fails within about
// Options.Timeout per address tried, with a NoServerError (ErrNoServer)
// naming every address and its error.
func Connect(opts Options) (*Client, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = DefaultTimeout
	}
	if opts.AppName == "" {
		opts.AppName = "loops"
	}
	nse := &NoServerError{}
	cookie := opts.cookie()
	for _, a := range opts.candidates() {
		c, err := dial(a, cookie, &opts)
		if err == nil {
			return c, nil
		}
		if errors.Is(err, ErrAccessDenied) {
			return nil, fmt.Errorf("connect to %s: %w", a, err)
		}
		nse.Tried = append(nse.Tried, a.String())
		nse.Errs = append(nse.Errs, err)
	}
	return nil, nse
}

func dial(a serverAddr, cookie []byte, opts *Options) (*Client, error) {
	d := net.Dialer{Timeout: opts.Timeout}
	if a.network == "unix" {
		// Send our credentials with every message, so that a server that
		// checks them (PulseAudio: same uid) does not depend on the cookie.
		// Without this the kernel attaches them only if the server already
		// set SO_PASSCRED, which is racy: connections fail at random.
		d.Control = func(network, address string, rc syscall.RawConn) error {
			var serr error
			err := rc.Control(func(fd uintptr) {
				serr = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_PASSCRED, 1)
			})
			if err != nil {
				return err
			}
			return serr
		}
	}
	conn, err := d.Dial(a.network, a.addr)
	if err != nil {
		return nil, err
	}
	c := &Client{conn: conn, addr: a.String(), timeout: opts.Timeout,
		records: map[uint32]func(any){}, playbacks: map[uint32]func(any){}, gone: make(chan struct{}), events: make(chan struct{}, 1)}
	c.pc = &proto.Client{}
	c.pc.Callback = c.callback
	c.pc.Open(conn)
	c.pc.SetTimeout(opts.Timeout)
	var ar proto.AuthReply
	if err := c.pc.Request(&proto.Auth{Version: c.pc.Version(), Cookie: cookie}, &ar); err != nil {
		conn.Close()
		return nil, c.wrap("authenticate", err)
	}
	c.pc.SetVersion(ar.Version)
	props := proto.PropList{
		"application.name":           proto.PropListString(opts.AppName),
		"application.process.id":     proto.PropListString(strconv.Itoa(os.Getpid())),
		"application.process.binary": proto.PropListString(filepath.Base(os.Args[0])),
	}
	for k, v := range opts.Properties {
		props[k] = proto.PropListString(v)
	}
	if err := c.pc.Request(&proto.SetClientName{Props: props}, &proto.SetClientNameReply{}); err != nil {
		conn.Close()
		return nil, c.wrap("set client name", err)
	}
	return c, nil
}

// callback receives the server's unsolicited messages (stream data, requests,
// connection closed).
func (c *Client) callback(msg any) {
	switch m := msg.(type) {
	case *proto.ConnectionClosed:
		c.mu.Lock()
		select {
		case <-c.gone:
		default:
			close(c.gone)
		}
		c.mu.Unlock()
		return
	case *proto.DataPacket:
		c.dispatch(c.records, m.StreamIndex, m)
	case *proto.RecordStreamKilled:
		c.dispatch(c.records, m.StreamIndex, m)
	case *proto.Request:
		c.dispatch(c.playbacks, m.StreamIndex, m)
	case *proto.PlaybackStreamKilled:
		c.dispatch(c.playbacks, m.StreamIndex, m)
	case *proto.SubscribeEvent:
		select {
		case c.events <- struct{}{}:
		default: // one pending signal stands for any number of events
		}
	}
}

func (c *Client) dispatch(m map[uint32]func(any), idx uint32, msg any) {
	c.mu.Lock()
	h := m[idx]
	c.mu.Unlock()
	if h != nil {
		h(msg)
	}
}

// request sends one request and waits for its reply, within the timeout.
func (c *Client) request(op string, req proto.RequestArgs, rpl proto.Reply) error {
	return c.wrap(op, c.pc.Request(req, rpl))
}

// wrap turns transport errors into ErrServerGone and access errors into
// ErrAccessDenied, keeping the original error in the chain.
func (c *Client) wrap(op string, err error) error {
	if err == nil {
		return nil
	}
	var pe proto.Error
	switch {
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, net.ErrClosed):
		err = fmt.Errorf("%w (%w)", ErrServerGone, err)
	case errors.Is(err, context.DeadlineExceeded):
		err = fmt.Errorf("%w: no answer within %v (%w)", ErrServerGone, c.timeout, err)
	case errors.As(err, &pe) && pe == proto.ErrAccessDenied && (op == "authenticate" || op == "set client name"):
		err = fmt.Errorf("%w (%w): the cookie was refused", ErrAccessDenied, err)
	}
	return &OpError{Op: op, Err: err}
}
