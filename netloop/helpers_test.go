package netloop_test

import (
	"net"

	"github.com/loops-cli/loops/internal/testkit"
)

// pingTCP listens on addr and makes one connection to it, so lo counts
// packets.
func pingTCP(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	defer ln.Close()
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		return err
	}
	s, err := ln.Accept()
	if err != nil {
		return err
	}
	c.Write([]byte("hello"))
	buf := make([]byte, 5)
	s.Read(buf)
	s.Close()
	return c.Close()
}

// runIn runs a command inside the named namespace with `ip netns exec`, which
// also remounts /sys for it.
func runIn(ns string, args ...string) (string, error) {
	out, err := testkit.Command("ip", append([]string{"netns", "exec", ns}, args...)...).Output()
	return string(out), err
}
