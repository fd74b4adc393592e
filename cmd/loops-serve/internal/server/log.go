package server

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// logger is the server's log: lines "TIME loops-serve[PID] MOUNTPOINT:
// MESSAGE" appended to path (made, with its directory, 0600 and 0700, at
// the first line; not at all by a mount where nothing fails), or to
// stderr when path is "" or cannot be opened.
type logger struct {
	path, mountpoint string
	once             sync.Once
	mu               sync.Mutex
	w                io.Writer
}

func (l *logger) log(msg string) {
	l.once.Do(func() { l.w = openLog(l.path) })
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(l.w, "%s loops-serve[%d] %s: %s\n", time.Now().UTC().Format(time.RFC3339), os.Getpid(), l.mountpoint, msg)
}

// openLog opens path to append, its directory made 0700; a directory
// that is not the server's own (a shared /tmp) or a symlink at path is
// not used: stderr then.
func openLog(path string) io.Writer {
	if path == "" {
		return os.Stderr
	}
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return os.Stderr
	}
	for _, d := range []string{dir, filepath.Dir(dir)} {
		var st unix.Stat_t
		if unix.Lstat(d, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
			return os.Stderr
		}
	}
	fd, err := unix.Open(path, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return os.Stderr
	}
	return os.NewFile(uintptr(fd), path)
}
