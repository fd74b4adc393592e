package blocklooptest

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
)

// FileBackedErofs reports whether the kernel mounts an erofs image straight
// from a regular file in dir: Linux 6.12 or later built with
// EROFS_FS_BACKED_BY_FILE, over a filesystem whose pages erofs can read
// (overlayfs, as in many containers and chroots, is not one). Where it
// cannot, mount(2) fails with ENOTBLK and loops attaches loop devices
// instead; a test expects the route this answer names. Needs root and
// mkfs.erofs.
func FileBackedErofs(t testing.TB, dir string) bool {
	t.Helper()
	probe, err := os.MkdirTemp(dir, "erofs-probe-")
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(probe)
	src, mnt := filepath.Join(probe, "src"), filepath.Join(probe, "mnt")
	for _, d := range []string{src, mnt} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "probe"), []byte("probe\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	img := Erofs(t, filepath.Join(probe, "probe.erofs"), src)
	err = unix.Mount(img, mnt, "erofs", unix.MS_RDONLY, "")
	switch {
	case err == nil:
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Fatalf("umount %s: %v", mnt, err)
		}
		return true
	case errors.Is(err, unix.ENOTBLK):
		return false
	}
	t.Fatalf("mount -t erofs %s (a file-backed erofs probe): %v", img, err)
	return false
}

// MountErofs mounts the erofs index over dev at mnt (mount -t erofs -o
// ro,device=DEV INDEX MNT), file-backed where the kernel can
// (FileBackedErofs), else with both on read-only loop devices (losetup -r),
// as loops does. It unmounts and detaches at cleanup and returns the loop
// devices it used (none when file-backed). Needs root.
func MountErofs(t testing.TB, index, dev, mnt string, flags uintptr) []string {
	t.Helper()
	mount := func(index, dev string) error {
		return unix.Mount(index, mnt, "erofs", unix.MS_RDONLY|flags, "device="+dev)
	}
	err := mount(index, dev)
	var loops []string
	if errors.Is(err, unix.ENOTBLK) {
		losetup := Tool(t, "losetup")
		for _, f := range []string{index, dev} {
			l := strings.TrimSpace(Run(t, losetup, "-r", "-f", "--show", f))
			loops = append(loops, l)
			t.Cleanup(func() { Run(t, losetup, "-d", l) })
		}
		err = mount(loops[0], loops[1])
	}
	if err != nil {
		t.Fatalf("mount -t erofs -o device=%s %s %s: %v", dev, index, mnt, err)
	}
	t.Cleanup(func() {
		if err := unix.Unmount(mnt, 0); err != nil {
			t.Errorf("umount %s: %v", mnt, err)
		}
	})
	return loops
}
