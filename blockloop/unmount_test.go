package blockloop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
)

// TestUnmountBusyAndLazy: a busy mount is refused with ErrBusy; --lazy
// detaches it, and the device is reported deferred until the file closes.
func TestUnmountBusyAndLazy(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	img := copyImage(t, fx.Images["ext4"], dir, "e.img")
	m, err := h.Mount(img, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(filepath.Join(m.Mountpoint, "big.bin"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := h.Unmount(m.Mountpoint, UnmountOptions{}); !errors.Is(err, ErrBusy) || !errors.Is(err, unix.EBUSY) {
		t.Errorf("busy Unmount: %v", err)
	}
	us, err := h.Unmount(m.Mountpoint, UnmountOptions{Lazy: true})
	if err != nil || len(us) != 1 || !us[0].Deferred || !us[0].RemovedDir {
		t.Errorf("lazy Unmount = %+v, %v", us, err)
	}
	f.Close()
	if !h.waitUnbound(int(mustAtoi(strings.TrimPrefix(m.Device, "/dev/loop"))), 0, 2e9) {
		t.Errorf("%s still attached after the last file closed", m.Device)
	}
	assertClean(t, img, dir, m.Mountpoint)
}

// TestUnmountRefusals: not a loop mount, not mounted, a symlink.
func TestUnmountRefusals(t *testing.T) {
	h, dir := testHost(t)
	if _, err := h.Unmount("/proc", UnmountOptions{}); !errors.Is(err, ErrNotLoop) {
		t.Errorf("Unmount /proc: %v", err)
	}
	if _, err := h.Unmount(dir, UnmountOptions{}); !errors.Is(err, ErrNotMounted) {
		t.Errorf("Unmount of a plain dir: %v", err)
	}
	link := filepath.Join(dir, "link")
	os.Symlink("/proc", link)
	if _, err := h.Unmount(link, UnmountOptions{}); !errors.Is(err, ErrNotMounted) || !strings.Contains(err.Error(), "symbolic link") {
		t.Errorf("Unmount of a symlink: %v", err)
	}
}
