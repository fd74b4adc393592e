// Package netloop inspects and changes the network loopback interface lo:
// 127.0.0.0/8, ::1 and the name localhost, through which a machine talks to
// itself. It is not about loop devices (package blockloop) nor about the
// audio loopback (package audioloop).
//
// A Client is bound to one network namespace: the caller's, a named one under
// /run/netns (like `ip -n NAME`), or one given by path (/proc/PID/ns/net).
// Reading needs no privilege in the caller's namespace; entering another
// namespace needs CAP_SYS_ADMIN, and changing lo needs CAP_NET_ADMIN.
//
// The package never prints; it returns structs and wrapped errors, so callers
// can test errno values with errors.Is (unix.EPERM, unix.EADDRNOTAVAIL).
package netloop
