package server

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestLogger: the log is made at its first line (0600, its directory
// 0700), appended to, each line naming the mount point; a symlink in its
// place is not followed (stderr then).
func TestLogger(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "run", "log")
	p := filepath.Join(dir, "mnt.log")
	l := &logger{path: p, mountpoint: "/mnt"}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Fatalf("log made before its first line: %v", err)
	}
	l.log("read /a: input/output error: x")
	l.log("read /b: input/output error: y")
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], " /mnt: read /a: input/output error: x") || !strings.Contains(lines[1], "read /b") {
		t.Errorf("log %q", b)
	}
	if st, _ := os.Stat(p); st.Mode().Perm() != 0o600 {
		t.Errorf("log mode %v", st.Mode())
	}
	if st, _ := os.Stat(dir); st.Mode().Perm() != 0o700 {
		t.Errorf("log directory mode %v", st.Mode())
	}
	target := filepath.Join(t.TempDir(), "target")
	link := filepath.Join(dir, "link.log")
	os.Symlink(target, link)
	if w := openLog(link); w != os.Stderr {
		t.Errorf("a symlink was followed")
	}
	if _, err := os.Stat(target); !os.IsNotExist(err) {
		t.Errorf("the symlink's target was made: %v", err)
	}
}
