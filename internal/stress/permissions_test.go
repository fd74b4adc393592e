package stress

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/internal/testkit"
)

// permTree writes a tree whose modes a mount must enforce: a 0644 file, a
// 0600 file and a 0700 directory, all root's.
func permTree(t testing.TB, dir string) string {
	t.Helper()
	src := filepath.Join(dir, "permsrc")
	writeFile(t, filepath.Join(src, "public.txt"), []byte("for everyone\n"), 0o644)
	writeFile(t, filepath.Join(src, "secret.txt"), []byte("root only\n"), 0o600)
	writeFile(t, filepath.Join(src, "private", "inside.txt"), []byte("inside\n"), 0o644)
	for p, m := range map[string]os.FileMode{"public.txt": 0o644, "secret.txt": 0o600, "private": 0o700} {
		if err := os.Chmod(filepath.Join(src, p), m); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// TestUserspacePermissions: root mounts a Rock Ridge ISO in userspace; the
// image's modes and owners hold for every other user, as they do on a
// kernel mount: a 0600 root file is unreadable, a 0700 root directory
// unlistable, a 0644 file readable, and the modes are shown as they are.
func TestUserspacePermissions(t *testing.T) {
	requireRoot(t)
	dir := testDir(t)
	iso := filepath.Join(dir, "perms.iso")
	data, err := os.ReadFile(isotest.BuildISO(t, permTree(t, dir), "-R", "-V", "PERMS"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, iso, data, 0o644)
	mp := filepath.Join(dir, "mnt")
	mustLoops(t, nil, "mount", "--fuse", iso, mp)
	defer func() {
		mustLoops(t, nil, "umount", mp)
		noLeftovers(t, dir)
	}()
	os.Chmod(mp, 0o755)

	cat, ls, stat := testkit.Tool(t, "cat"), testkit.Tool(t, "ls"), testkit.Tool(t, "stat")
	for _, uid := range []string{"65534", "65533"} {
		as := []string{testkit.Tool(t, "setpriv"), "--reuid=" + uid, "--regid=" + uid, "--clear-groups"}
		run := func(name string, args ...string) result { return runBounded(t, cmdTimeout, as, nil, name, args...) }
		if r := run(cat, filepath.Join(mp, "public.txt")); r.code != 0 || r.stdout != "for everyone\n" {
			t.Errorf("uid %s cannot read a 0644 file: %v", uid, r)
		}
		if r := run(cat, filepath.Join(mp, "secret.txt")); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
			t.Errorf("uid %s read a 0600 root file: %v", uid, r)
		}
		if r := run(ls, filepath.Join(mp, "private")); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
			t.Errorf("uid %s listed a 0700 root directory: %v", uid, r)
		}
		if r := run(cat, filepath.Join(mp, "private", "inside.txt")); r.code == 0 || !strings.Contains(r.stderr, "Permission denied") {
			t.Errorf("uid %s reached into a 0700 root directory: %v", uid, r)
		}
		if r := run(stat, "-c", "%a %u", filepath.Join(mp, "secret.txt")); r.code != 0 || strings.TrimSpace(r.stdout) != "600 0" {
			t.Errorf("uid %s sees secret.txt as %q, want 600 0: %v", uid, r.stdout, r)
		}
	}
	// Root reads everything, as on a kernel mount.
	for name, want := range map[string]string{"secret.txt": "root only\n", "private/inside.txt": "inside\n"} {
		if b, err := os.ReadFile(filepath.Join(mp, name)); err != nil || string(b) != want {
			t.Errorf("root reads %s: %q %v", name, b, err)
		}
	}
}
