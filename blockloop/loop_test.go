package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestAttachListDetach: Attach prints a persistent device (autoclear off)
// whose sysfs view matches the options; a second Attach of the same bytes
// returns the same device; List shows the full path, offset, size limit
// and probed type; Detach by image removes it.
func TestAttachListDetach(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	// A long path: lo_file_name keeps 63 bytes, sysfs the whole path.
	deep := filepath.Join(dir, strings.Repeat("long-directory-name-", 4))
	os.MkdirAll(deep, 0o755)
	img := copyImage(t, fx.Images["gpt"], deep, "disk.img")
	d, err := h.Attach(img, AttachOptions{ReadOnly: true, Offset: 5 << 20, SizeLimit: 10 << 20})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { h.Detach(d.Path) })
	if d.Autoclear || !d.ReadOnly || d.Offset != 5<<20 || d.SizeLimit != 10<<20 || d.Size != 10<<20 || d.BackingFile != img {
		t.Errorf("Attach = %+v", d)
	}
	d2, err := h.Attach(img, AttachOptions{ReadOnly: true, Offset: 5 << 20, SizeLimit: 10 << 20})
	if err != nil || d2.Path != d.Path {
		t.Errorf("second Attach = %v, %v; want the same %s", d2, err, d.Path)
	}
	if _, err := h.Attach(img, AttachOptions{ReadOnly: true, Offset: 6 << 20}); !errors.Is(err, ErrOverlap) {
		t.Errorf("overlapping Attach: %v", err)
	}
	devs, err := h.List()
	if err != nil {
		t.Fatal(err)
	}
	var got *Device
	for i := range devs {
		if devs[i].Path == d.Path {
			got = &devs[i]
		}
	}
	if got == nil || got.FSType != "ext4" || got.Label != blocklooptest.Ext4Label || got.BackingFile != img || got.BackingInode == 0 {
		t.Errorf("List entry = %+v", got)
	}
	// What the device said (root) is what sysfs says (anyone).
	viaDev, err := h.readSys(d.Number)
	if err != nil {
		t.Fatal(err)
	}
	viaSysfs := *viaDev
	viaSysfs.Offset, viaSysfs.SizeLimit, viaSysfs.Major, viaSysfs.Minor, viaSysfs.LogicalSectorSize = -1, -1, 0, 0, 0
	viaSysfs.Autoclear, viaSysfs.ReadOnly = true, false
	readSysfsSettings(&viaSysfs, filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", d.Number)))
	if !reflect.DeepEqual(*viaDev, viaSysfs) || viaDev.LogicalSectorSize != 512 || viaDev.Major != 7 {
		t.Errorf("from the device: %+v\nfrom sysfs: %+v", *viaDev, viaSysfs)
	}
	rs, err := h.Detach(img)
	if err != nil || len(rs) != 1 || rs[0].Deferred || rs[0].Device != d.Path {
		t.Fatalf("Detach = %+v, %v", rs, err)
	}
	assertClean(t, img, dir)
	if _, err := h.Detach(img); !errors.Is(err, ErrNotAttached) {
		t.Errorf("second Detach: %v", err)
	}
	if _, err := h.Detach(dir); !errors.Is(err, ErrNotLoop) {
		t.Errorf("Detach of a directory: %v", err)
	}
}

// TestDetachMountedIsDeferred: detaching a mounted device only marks it;
// the result says so, and the device goes at umount.
func TestDetachMountedIsDeferred(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	img := copyImage(t, fx.Images["ext4"], dir, "e.img")
	d, err := h.Attach(img, AttachOptions{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := h.Mount(img, MountOptions{})
	if err != nil {
		h.Detach(d.Path)
		t.Fatal(err)
	}
	if !m.Reused || m.Device != d.Path {
		t.Errorf("Mount did not reuse %s: %+v", d.Path, m)
	}
	rs, err := h.Detach(d.Path)
	if err != nil || len(rs) != 1 || !rs[0].Deferred || len(rs[0].Mountpoints) != 1 || rs[0].Mountpoints[0] != m.Mountpoint {
		t.Errorf("Detach of a mounted device = %+v, %v", rs, err)
	}
	us, err := h.Unmount(m.Mountpoint, UnmountOptions{})
	if err != nil || len(us) != 1 || !us[0].Detached {
		t.Errorf("Unmount = %+v, %v", us, err)
	}
	assertClean(t, img, dir, m.Mountpoint)
}

func mustAtoi(s string) int {
	var n int
	fmt.Sscan(s, &n)
	return n
}

// BenchmarkAttach measures a persistent attach plus a verified detach
// (LOOP_CONFIGURE, then autoclear cleared, then LOOP_CLR_FD).
func BenchmarkAttach(b *testing.B) {
	testkit.RequireRoot(b)
	dir := blocklooptest.Dir(b)
	img := filepath.Join(dir, "bench.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o644)
	var h Host
	for b.Loop() {
		d, err := h.Attach(img, AttachOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if _, err := h.Detach(d.Path); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkAttachAutoclear measures the mount path's attach: LOOP_CONFIGURE
// with autoclear, then close (the kernel detaches).
func BenchmarkAttachAutoclear(b *testing.B) {
	testkit.RequireRoot(b)
	dir := blocklooptest.Dir(b)
	img := filepath.Join(dir, "bench.img")
	os.WriteFile(img, make([]byte, 1<<20), 0o644)
	f, _ := os.Open(img)
	defer f.Close()
	var h Host
	for b.Loop() {
		lf, _, err := h.attachFd(f, img, AttachOptions{ReadOnly: true}, true)
		if err != nil {
			b.Fatal(err)
		}
		lf.Close()
	}
}
