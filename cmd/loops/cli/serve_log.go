package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// serverLogPath is where the userspace server serving mountpoint writes
// its log (the files and directories that fail to read, with why): under
// LOOPS_RUN_DIR (/run/loops) for root, $XDG_RUNTIME_DIR/loops for a user
// (else /tmp/loops-UID), in log/, named for the mount point
// ("/media/ann/CD" → "media-ann-CD.log").
func serverLogPath(mountpoint string) string {
	dir := os.Getenv("LOOPS_RUN_DIR")
	switch {
	case dir != "":
	case os.Geteuid() == 0:
		dir = "/run/loops"
	case os.Getenv("XDG_RUNTIME_DIR") != "":
		dir = filepath.Join(os.Getenv("XDG_RUNTIME_DIR"), "loops")
	default:
		dir = filepath.Join(os.TempDir(), "loops-"+strconv.Itoa(os.Geteuid()))
	}
	name := strings.ReplaceAll(strings.Trim(filepath.Clean(mountpoint), "/"), "/", "-")
	if name == "" {
		name = "root"
	}
	return filepath.Join(dir, "log", name+".log")
}

// openServerLog opens (appending) the log of the server for mountpoint,
// its directories made 0700 and the caller's, following no symlink at the
// file; -1 when it cannot (the server then logs to /dev/null).
func openServerLog(mountpoint string) int {
	p := serverLogPath(mountpoint)
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return -1
	}
	// A directory someone else made (a shared /tmp) is not used.
	for _, d := range []string{dir, filepath.Dir(dir)} {
		var st unix.Stat_t
		if unix.Lstat(d, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFDIR || int(st.Uid) != os.Geteuid() {
			return -1
		}
	}
	fd, err := unix.Open(p, unix.O_WRONLY|unix.O_CREAT|unix.O_APPEND|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return -1
	}
	return fd
}
