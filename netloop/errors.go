package netloop

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// Sentinel errors, for errors.Is. Errors from the kernel keep their errno,
// so errors.Is(err, fs.ErrPermission) tells a missing privilege.
var (
	// ErrClosed is returned by a Client used after Close: a closed namespace
	// handle would otherwise silently mean the caller's own namespace.
	ErrClosed = errors.New("netloop: client is closed")
	// ErrNoLoopback means the namespace has no interface named lo.
	ErrNoLoopback = errors.New("no loopback interface named lo")
	// ErrNotLoopback means an address outside 127.0.0.0/8 and ::1 was given.
	ErrNotLoopback = errors.New("not a loopback address (only 127.0.0.0/8 and ::1 belong on lo)")
	// ErrAddrNotFound means lo has no such address.
	ErrAddrNotFound = errors.New("address not on lo")

	// ErrNameNotFound means no entry of the hosts file has the name.
	ErrNameNotFound = errors.New("name not in hosts file")
	// ErrForeignEntry means removing a name would delete a whole line that
	// loops did not add; RemoveForce deletes it anyway.
	ErrForeignEntry = errors.New("the only name on a line loops did not add (force deletes the line)")
	// ErrInvalidHostname means a host name loops will not write: empty,
	// longer than 253 bytes, or with characters outside letters, digits,
	// '-', '_', '.'.
	ErrInvalidHostname = errors.New("invalid host name")
	// ErrHostsChanged means another program kept changing the hosts file
	// while EditHostsFile was editing it.
	ErrHostsChanged = errors.New("file changed by another program during the edit")
)

// NetnsError reports a namespace that cannot be opened or entered.
type NetnsError struct {
	Target Target
	Err    error
}

func (e *NetnsError) Error() string {
	return fmt.Sprintf("open %s: %v", e.Target, e.Err)
}

func (e *NetnsError) Unwrap() error { return e.Err }

// OpError reports a failed operation on lo, naming the operation and the
// namespace. Err keeps the cause, so errors.Is(err, unix.EPERM) works.
type OpError struct {
	Op     string // "set lo up", "add 127.0.0.2/8"
	Target Target
	Err    error
}

func (e *OpError) Error() string {
	return fmt.Sprintf("%s (%s): %v", e.Op, e.Target, e.Err)
}

func (e *OpError) Unwrap() error { return e.Err }

// HostsError reports a failed hosts-file operation. Err keeps the cause, so
// errors.Is(err, fs.ErrPermission), errors.Is(err, unix.EACCES) and
// errors.Is(err, ErrNotLoopback) work.
type HostsError struct {
	Op   string // "add example.test 127.0.0.1", "create temp file"
	Path string // the file, when known
	Err  error
}

func (e *HostsError) Error() string {
	p := e.Path
	if p == "" {
		p = "hosts file"
	}
	return p + ": " + e.Op + ": " + e.Err.Error()
}

func (e *HostsError) Unwrap() error { return e.Err }

// fileErr wraps err in a HostsError, keeping its errno but dropping the path
// and syscall that *fs.PathError and friends repeat.
func fileErr(op, path string, err error) error {
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	switch {
	case errors.As(err, &pe):
		err = pe.Err
	case errors.As(err, &le):
		err = le.Err
	case errors.As(err, &se):
		err = se.Err
	}
	return &HostsError{Op: op, Path: path, Err: err}
}
