package netloop

import (
	"errors"
	"fmt"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// Target names the network namespace a Client works in. The zero value is the
// caller's own namespace.
type Target struct {
	Name string // a namespace under /run/netns, like `ip -n NAME`
	Path string // a namespace file such as /proc/PID/ns/net
}

// String describes the namespace for messages: "host" for the caller's own.
func (t Target) String() string {
	switch {
	case t.Name != "":
		return "netns " + t.Name
	case t.Path != "":
		return "netns " + t.Path
	}
	return "current netns"
}

// Client reads and changes lo in one network namespace. It is safe for use by
// one goroutine at a time. Close releases the namespace handle.
type Client struct {
	target Target
	host   Host
	hosts  string         // the namespace's hosts file (Host.HostsFile)
	ns     netns.NsHandle // closed (-1) for the caller's own namespace
	h      *netlink.Handle
	diag   *diagSocket // NETLINK_INET_DIAG, made in the namespace on first need
	closed bool
}

// Open returns a Client for the namespace t names, on the real paths.
// Opening another namespace needs CAP_SYS_ADMIN (setns); the caller's own
// needs nothing.
func Open(t Target) (*Client, error) { return Host{}.Open(t) }

// Open returns a Client for the namespace t names, reading h's paths, like
// `ip -n NAME` or `nsenter --net=PATH`. Opening another namespace needs
// CAP_SYS_ADMIN (setns); the caller's own needs nothing.
func (h Host) Open(t Target) (*Client, error) {
	if t.Name != "" && t.Path != "" {
		return nil, errors.New("netloop: give a namespace name or a path, not both")
	}
	c := &Client{target: t, host: h, ns: netns.None()}
	path := t.Path
	if t.Name != "" {
		if t.Name != filepath.Base(t.Name) || t.Name == "." || t.Name == ".." {
			return nil, &NetnsError{Target: t, Err: fmt.Errorf("invalid namespace name %q", t.Name)}
		}
		path = filepath.Join(h.netnsDir(), t.Name)
	}
	c.hosts = h.HostsFile(t)
	if path != "" {
		ns, err := netns.GetFromPath(path)
		if err != nil {
			return nil, &NetnsError{Target: t, Err: err}
		}
		c.ns = ns
	}
	// Route only: Listeners uses its own NETLINK_INET_DIAG socket
	// (netlink's SocketDiag* calls, which would need the family here, are
	// not used: they dump every TCP state). In another namespace both
	// sockets are made in one visit (setns there and back): entering it
	// ourselves also keeps the errno of a failed setns, which netlink's
	// NewHandleAt reports with %v (EPERM without CAP_SYS_ADMIN).
	err := c.Do(func() error {
		nh, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			return &NetnsError{Target: t, Err: err}
		}
		c.h = nh
		if c.ns.IsOpen() {
			c.diag, _ = newDiagSocket() // else Listeners tries again
		}
		return nil
	})
	if err != nil {
		c.ns.Close()
		return nil, err
	}
	return c, nil
}

// Target reports which namespace the client works in.
func (c *Client) Target() Target { return c.target }

// HostsFile is the hosts file programs in the client's namespace read
// (see Host.HostsFile).
func (c *Client) HostsFile() string { return c.hosts }

// Close releases the netlink handle and the namespace.
func (c *Client) Close() error {
	c.closed = true
	if c.h != nil {
		c.h.Close()
	}
	if c.diag != nil {
		c.diag.close()
		c.diag = nil
	}
	if c.ns.IsOpen() {
		return c.ns.Close()
	}
	return nil
}

// Do runs f on an OS thread switched into the client's namespace, so sockets
// f creates belong to it. Goroutines that f starts do not inherit the
// namespace. With the caller's own namespace f simply runs. Entering another
// namespace needs CAP_SYS_ADMIN (like nsenter --net).
func (c *Client) Do(f func() error) error {
	if c.closed {
		return ErrClosed
	}
	if !c.ns.IsOpen() {
		return f()
	}
	runtime.LockOSThread()
	orig, err := netns.Get()
	if err != nil {
		runtime.UnlockOSThread()
		return fmt.Errorf("netloop: current netns: %w", err)
	}
	defer orig.Close()
	if err := netns.Set(c.ns); err != nil {
		runtime.UnlockOSThread()
		return &NetnsError{Target: c.target, Err: err}
	}
	ferr := f()
	if err := netns.Set(orig); err != nil {
		// Leave the thread locked: Go discards it when this goroutine ends.
		return fmt.Errorf("netloop: returning to the original netns: %w", err)
	}
	runtime.UnlockOSThread()
	return ferr
}
