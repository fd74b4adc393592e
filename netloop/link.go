package netloop

// Up sets lo up, like `ip link set lo up`. The kernel then adds 127.0.0.1/8
// (if missing), ::1 and the local routes. Needs CAP_NET_ADMIN.
func (c *Client) Up() error {
	link, err := c.link()
	if err != nil {
		return err
	}
	if err := c.h.LinkSetUp(link); err != nil {
		return &OpError{Op: "set lo up", Target: c.target, Err: err}
	}
	return nil
}

// Down sets lo down, like `ip link set lo down`. Connections to 127.0.0.1
// then hang rather than fail, and the kernel drops ::1 and every IPv6
// address of lo. Needs CAP_NET_ADMIN.
func (c *Client) Down() error {
	link, err := c.link()
	if err != nil {
		return err
	}
	if err := c.h.LinkSetDown(link); err != nil {
		return &OpError{Op: "set lo down", Target: c.target, Err: err}
	}
	return nil
}
