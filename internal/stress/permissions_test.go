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

// udfImage builds a UDF 2.01 image of src with mkudffs and udfclient
// (which keeps owners and modes; genisoimage's UDF does not).
func udfImage(t *testing.T, dir, src string) string {
	t.Helper()
	img := filepath.Join(dir, "perms.udf")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "16M", img)
	testkit.Run(t, testkit.Tool(t, "mkudffs"), "--media-type=hd", "--blocksize=2048", "--udfrev=2.01",
		"--uuid=0123456789abcdef", "--label=PERMS", img)
	cmd := testkit.Command(testkit.Tool(t, "udfclient"), "-b", "2048", "-W", img)
	cmd.Dir = src
	// udfclient makes private/ but cannot fill it ("logvol discs full"):
	// the UDF image has the directory, empty.
	cmd.Stdin = strings.NewReader("cd 0123456789abcdefLinuxUDF:PERMS:PERMS:LinuxUDF\nmput public.txt secret.txt private\nsync\nquit\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("udfclient: %v\n%s", err, out)
	}
	return img
}

// TestUserspacePermissions: root mounts a Rock Ridge ISO and a UDF image
// in userspace; the image's modes and owners hold for every other user, as
// they do on a kernel mount: a 0600 root file is unreadable, a 0700 root
// directory unlistable, a 0644 file readable, and the modes are shown as
// they are.
func TestUserspacePermissions(t *testing.T) {
	requireRoot(t)
	dir := testDir(t)
	src := permTree(t, dir)
	iso := filepath.Join(dir, "perms.iso")
	data, err := os.ReadFile(isotest.BuildISO(t, src, "-R", "-V", "PERMS"))
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, iso, data, 0o644)
	images := map[string]string{"iso9660": iso, "udf": udfImage(t, dir, src)}
	for typ, img := range images {
		t.Run(typ, func(t *testing.T) {
			os.Chmod(img, 0o644)
			checkPermissions(t, dir, img, typ)
		})
	}
}

func checkPermissions(t *testing.T, dir, img, typ string) {
	mp := filepath.Join(dir, "mnt")
	mustLoops(t, nil, "mount", "--fuse", img, mp)
	defer func() {
		mustLoops(t, nil, "umount", mp)
		noLeftovers(t, dir)
	}()
	os.Chmod(mp, 0o755)
	if _, fstype, _ := mountAt(t, mp); fstype != "fuse."+typ {
		t.Fatalf("%s is mounted as %q, not served as fuse.%s", mp, fstype, typ)
	}

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
	want := map[string]string{"secret.txt": "root only\n", "private/inside.txt": "inside\n"}
	if typ == "udf" {
		delete(want, "private/inside.txt")
	}
	for name, want := range want {
		if b, err := os.ReadFile(filepath.Join(mp, name)); err != nil || string(b) != want {
			t.Errorf("root reads %s: %q %v", name, b, err)
		}
	}
}

// TestUserspacePermissionsFAT: FAT records no owners or modes, so a mount
// gets them from the options, as the kernel's vfat does: by default the
// files are the mounting user's, 0644 and 0755, readable by all; with
// -o umask=077 other users can neither list nor read; with -o uid=65534
// the files are nobody's, and nobody reads them where others cannot.
func TestUserspacePermissionsFAT(t *testing.T) {
	requireRoot(t)
	dir := testDir(t)
	img := filepath.Join(dir, "sd.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "4M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-n", "PERMS", img)
	writeFile(t, filepath.Join(dir, "note.txt"), []byte("on the card\n"), 0o644)
	testkit.Run(t, testkit.Tool(t, "mcopy"), "-i", img, filepath.Join(dir, "note.txt"), "::/")
	os.Chmod(img, 0o644)
	cat := testkit.Tool(t, "cat")
	asUser := func(uid string) []string {
		return []string{testkit.Tool(t, "setpriv"), "--reuid=" + uid, "--regid=" + uid, "--clear-groups"}
	}
	for _, c := range []struct {
		options     string
		nobody      bool // nobody reads note.txt
		other       bool // uid 65533 reads note.txt
		owner, mode string
	}{
		{"", true, true, "0", "644"},
		{"umask=077", false, false, "0", "600"},
		{"uid=65534,gid=65534,umask=077", true, false, "65534", "600"},
	} {
		t.Run("options="+c.options, func(t *testing.T) {
			mp := filepath.Join(dir, "mnt")
			args := []string{"mount", "--fuse", img, mp}
			if c.options != "" {
				args = append(args, "-o", c.options)
			}
			mustLoops(t, nil, args...)
			defer func() {
				mustLoops(t, nil, "umount", mp)
				noLeftovers(t, dir)
			}()
			note := filepath.Join(mp, "NOTE.TXT")
			if _, err := os.Stat(note); err != nil {
				note = filepath.Join(mp, "note.txt")
			}
			if r := runBounded(t, cmdTimeout, nil, nil, testkit.Tool(t, "stat"), "-c", "%u %a", note); strings.TrimSpace(r.stdout) != c.owner+" "+c.mode {
				t.Errorf("note.txt is %q, want %s %s", strings.TrimSpace(r.stdout), c.owner, c.mode)
			}
			for uid, want := range map[string]bool{"65534": c.nobody, "65533": c.other} {
				r := runBounded(t, cmdTimeout, asUser(uid), nil, cat, note)
				if got := r.code == 0 && r.stdout == "on the card\n"; got != want {
					t.Errorf("uid %s reads note.txt: %v, want %v: %v", uid, got, want, r)
				}
			}
		})
	}
}
