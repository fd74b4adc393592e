// Package kernfile reads the kernel's files the way loops needs them: open
// without the Go runtime's poller, small procfs and sysfs files in three
// system calls, sysfs numbers, and /proc/self/mountinfo. It is a leaf
// (the standard library and x/sys only) that blockloop, the readers' tests,
// the test kits and the bench share, so that each parses these files once.
package kernfile

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// Open opens path like os.OpenFile, without the runtime's poller:
// os.OpenFile offers every descriptor to epoll (a loop device or an image
// is refused with EPERM), which on first use also makes the epoll
// instance and its eventfd. Loop devices and images are read and
// ioctl'd with blocking calls, so the poller would never serve them.
// flag takes the unix.O_* (os.O_*) flags; O_CLOEXEC is always added.
func Open(path string, flag int) (*os.File, error) {
	fd, err := unix.Open(path, flag|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, flag|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	return os.NewFile(uintptr(fd), path), nil
}

// ReadFile reads a small file of sysfs or procfs (loop/backing_file,
// /proc/self/mountinfo) with plain open, read and close. os.ReadFile
// registers each such file with the runtime's poller first (sysfs and
// procfs files are pollable), which costs an epoll instance on first use
// and five more system calls per file. Errors are *os.PathError, as
// os.ReadFile's.
func ReadFile(path string) ([]byte, error) {
	fd, err := unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_RDONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return nil, &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	buf := make([]byte, 0, 512)
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := unix.Read(fd, buf[len(buf):cap(buf)])
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return nil, &os.PathError{Op: "read", Path: path, Err: err}
		}
		if n == 0 {
			return buf, nil
		}
		buf = buf[:len(buf)+n]
	}
}

// WriteFile writes s to an existing sysfs or procfs attribute in one
// write(2), with plain open and close (as ReadFile, without the poller).
func WriteFile(path, s string) error {
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	for err == unix.EINTR {
		fd, err = unix.Open(path, unix.O_WRONLY|unix.O_CLOEXEC, 0)
	}
	if err != nil {
		return &os.PathError{Op: "open", Path: path, Err: err}
	}
	defer unix.Close(fd)
	if _, err := unix.Write(fd, []byte(s)); err != nil {
		return &os.PathError{Op: "write", Path: path, Err: err}
	}
	return nil
}

// SysInt reads the number in the sysfs attribute dir/name (a loop device's
// loop/offset, a block device's size); 0 when it cannot.
func SysInt(dir, name string) int64 {
	b, _ := ReadFile(filepath.Join(dir, name))
	v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
	return v
}

// SysFields reads the whitespace-separated numbers of a sysfs attribute
// such as /sys/block/loopN/stat; nil when it cannot.
func SysFields(path string) []int64 {
	b, err := ReadFile(path)
	if err != nil {
		return nil
	}
	var out []int64
	for _, f := range strings.Fields(string(b)) {
		v, err := strconv.ParseInt(f, 10, 64)
		if err != nil {
			return nil
		}
		out = append(out, v)
	}
	return out
}
