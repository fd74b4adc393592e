package cli

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// serverLogPath is where the userspace server serving mountpoint writes
// its log (the files and directories that fail to read, with why; the
// server makes it at its first line, loops-serve __serve --log): under
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
