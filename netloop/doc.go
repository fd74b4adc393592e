// Package netloop inspects and changes the network loopback interface lo:
// 127.0.0.0/8, ::1 and the name localhost, through which a machine talks to
// itself. It is not about loop devices (package blockloop) nor about the
// audio loopback (package audioloop).
//
// A Client is bound to one network namespace: the caller's, a named one under
// /run/netns (like `ip -n NAME`), or one given by path (/proc/PID/ns/net).
// Reading needs no privilege in the caller's namespace; entering another
// namespace needs CAP_SYS_ADMIN, and changing lo needs CAP_NET_ADMIN. A Host
// names the system paths it reads (/proc, /run/netns, /etc/hosts), so tests
// can point them elsewhere.
//
// The package never prints, and leaves command lines to its caller: Check's
// findings carry a Fix, an action such as LinkUp or HostsAdd. Errors are
// wrapped and keep their errno, so callers test them with errors.Is
// (fs.ErrPermission, unix.EADDRNOTAVAIL, ErrNotLoopback); errors.go lists
// the sentinels and error types.
package netloop
