package blockloop

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// serveFATInProcess is MountOptions.ServeUserspace for FAT, with the
// server in the test process.
func serveFATInProcess(r ServeRequest) error {
	_, err := userfs.Serve(context.Background(), r.Image, r.Mountpoint, userfs.Options{
		Type: r.Type, Offset: r.Offset, SizeLimit: r.SizeLimit, ReadWrite: r.ReadWrite})
	return err
}

func rwOptions(mp string) MountOptions {
	return MountOptions{Mountpoint: mp, ReadWrite: true, Backend: BackendFUSE,
		Userspace: map[string]bool{"vfat": true, "exfat": true}, ServeUserspace: serveFATInProcess}
}

// TestMountFATReadWrite: --rw on FAT serves it read-write (the result says
// so; a file written through it is in the image after Unmount, which
// waits for the volume to be closed clean), and a kernel mount of it is
// refused meanwhile; a volume marked dirty is said; an image a loop device
// reads, and exFAT, are refused before anything is made.
func TestMountFATReadWrite(t *testing.T) {
	h, dir := testHost(t)
	img := filepath.Join(dir, "fat.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "24M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", "16", img)
	mp := filepath.Join(dir, "mnt")
	m, err := h.Mount(img, rwOptions(mp))
	if err != nil {
		t.Fatal(err)
	}
	if m.ReadOnly || m.Options != "rw,nosuid,nodev" || m.Dirty {
		t.Errorf("mount: ro %v options %q dirty %v, want read-write, clean", m.ReadOnly, m.Options, m.Dirty)
	}
	if err := os.WriteFile(filepath.Join(mp, "hello.txt"), []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	// The kernel path refuses the image while the server holds it.
	if _, err := h.Mount(img, MountOptions{Mountpoint: filepath.Join(dir, "mnt2"), Type: "ext4"}); !errors.Is(err, ErrAlreadyMounted) {
		t.Errorf("a kernel mount while served read-write: %v, want ErrAlreadyMounted", err)
	}
	if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	fattest.FsckClean(t, img, 0, 0)
	if got := fattest.MtoolsTree(t, img, 0); got["hello.txt"].SHA256 != readkittest.Sum([]byte("hello\n")) {
		t.Errorf("after unmount: %+v", got)
	}

	// Marked dirty (the boot sector's state bit): said.
	f, _ := os.OpenFile(img, os.O_RDWR, 0)
	f.WriteAt([]byte{1}, 37)
	f.Close()
	m, err = h.Mount(img, rwOptions(mp))
	if err != nil {
		t.Fatal(err)
	}
	if !m.Dirty {
		t.Error("a volume marked dirty: MountResult.Dirty is false")
	}
	if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	ro := rwOptions(mp)
	ro.ReadWrite = false
	if m, err = h.Mount(img, ro); err != nil || !m.Dirty || !m.ReadOnly {
		t.Errorf("a volume marked dirty, read-only: %+v %v, want Dirty and ReadOnly", m, err)
	} else if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}

	// A loop device on the image: the kernel could write it too.
	dev := strings.TrimSpace(testkit.Run(t, testkit.Tool(t, "losetup"), "-f", "--show", "-r", img))
	_, err = h.Mount(img, rwOptions(mp))
	testkit.Run(t, "losetup", "-d", dev)
	if !errors.Is(err, ErrAlreadyMounted) || !strings.Contains(err.Error(), dev) {
		t.Errorf("with %s on the image: %v, want ErrAlreadyMounted naming it", dev, err)
	}

	// exFAT stays read-only.
	x := filepath.Join(dir, "x.img")
	testkit.Run(t, "truncate", "-s", "8M", x)
	testkit.Run(t, testkit.Tool(t, "mkfs.exfat"), x)
	if _, err := h.Mount(x, rwOptions(mp)); !errors.Is(err, ErrReadOnlyType) {
		t.Errorf("exFAT --rw: %v, want ErrReadOnlyType", err)
	}
	assertClean(t, img, dir, mp)
}
