package userfs_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// fatTree writes a small tree with the names FAT images carry: a long
// Unicode name, an 8.3 lower-case name, a nested directory.
func fatTree(t *testing.T) string {
	t.Helper()
	src := t.TempDir()
	files := map[string]string{
		"EFI/BOOT/bootx64.efi":  strings.Repeat("efi", 5000),
		"unicodé 日本語.txt":       "names survive\n",
		"a long file name.text": "long\n",
		"sub/deeper/hello.txt":  "hello\n",
		"empty":                 "",
	}
	for p, c := range files {
		full := filepath.Join(src, p)
		os.MkdirAll(filepath.Dir(full), 0o755)
		if err := os.WriteFile(full, []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return src
}

// fatImage makes a FAT image of type bits (12, 16, 32) holding src.
func fatImage(t *testing.T, src string, bits string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fat"+bits+".img")
	size := map[string]string{"12": "4M", "16": "24M", "32": "40M"}[bits]
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", size, img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", bits, "-n", "LOOPSFAT", img)
	ents, _ := os.ReadDir(src)
	args := []string{"-s", "-i", img}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	testkit.Run(t, testkit.Tool(t, "mcopy"), append(args, "::/")...)
	return img
}

// exfatImage makes an exFAT image holding src, filled through exfat-fuse
// on a loop device (root).
func exfatImage(t *testing.T, src string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "exfat.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "16M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.exfat"), "-L", "LOOPSX", img)
	dev := strings.TrimSpace(testkit.Run(t, testkit.Tool(t, "losetup"), "-f", "--show", img))
	defer testkit.Run(t, "losetup", "-d", dev)
	mp := t.TempDir()
	testkit.Run(t, testkit.Tool(t, "mount.exfat-fuse"), dev, mp)
	defer exec.Command("umount", mp).Run()
	testkit.Run(t, "cp", "-r", src+"/.", mp)
	testkit.Run(t, "umount", mp)
	return img
}

// TestMountFAT: FAT12, FAT16 and FAT32 images made by mkfs.vfat and
// mcopy, and an exFAT image made through exfat-fuse, mounted by the
// userspace server: the tree, the bytes and the mtimes match the source;
// every file belongs to the mount's owner with the reader's modes less the
// umask, as uid=/gid=/umask= give; the mount is fuse.vfat / fuse.exfat.
func TestMountFAT(t *testing.T) {
	testkit.RequireRoot(t)
	src := fatTree(t)
	images := map[string]string{}
	for _, bits := range []string{"12", "16", "32"} {
		images["vfat"+bits] = fatImage(t, src, bits)
	}
	images["exfat"] = exfatImage(t, src)
	for name, img := range images {
		t.Run(name, func(t *testing.T) {
			typ := strings.TrimRight(name, "0123456789")
			s, _ := serve(t, img, userfs.Options{Type: typ, SetOwner: true, UID: 4321, GID: 8765, Umask: 0o027})
			if m := mountOf(s.Mountpoint); m == nil || m.FSType != "fuse."+typ {
				t.Errorf("mountinfo: %+v, want fuse.%s", m, typ)
			}
			readkittest.Compare(t, readkittest.HostTree(t, src), readkittest.HostTree(t, s.Mountpoint), readkittest.Fields{})
			filepath.Walk(s.Mountpoint, func(p string, fi os.FileInfo, err error) error {
				if err != nil {
					t.Error(err)
					return nil
				}
				st := fi.Sys().(*syscall.Stat_t)
				want := os.FileMode(0o640)
				if fi.IsDir() {
					want = 0o750
				}
				if st.Uid != 4321 || st.Gid != 8765 || fi.Mode().Perm() != want {
					t.Errorf("%s: owner %d:%d mode %v, want 4321:8765 %v", p, st.Uid, st.Gid, fi.Mode().Perm(), want)
				}
				if rel, _ := filepath.Rel(s.Mountpoint, p); !fi.IsDir() {
					sfi, err := os.Stat(filepath.Join(src, rel))
					if err == nil {
						if d := sfi.ModTime().Sub(fi.ModTime()); d > 2e9 || d < -2e9 {
							t.Errorf("%s: mtime %v, source %v", rel, fi.ModTime(), sfi.ModTime())
						}
					}
				}
				return nil
			})
		})
	}
}
