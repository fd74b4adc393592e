package blockloop

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestMountTruncatedFAT: a FAT16 image (mkfs.vfat, mcopy) cut to 2 of its
// 16 MiB mounts in userspace read-only, even where an EROFS index could
// be written: the result carries the truncation (Plan.Truncated, the
// read-only reason) for the CLI's warning; the file before the end reads,
// the one past it fails with EIO; --rw is refused with ErrTruncated and
// leaves nothing behind.
func TestMountTruncatedFAT(t *testing.T) {
	h, dir := testHost(t)
	img := filepath.Join(dir, "cut.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "16M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", "16", img)
	small := filepath.Join(dir, "a.txt")
	os.WriteFile(small, []byte("before the end\n"), 0o644)
	big := filepath.Join(dir, "z.bin")
	os.WriteFile(big, make([]byte, 3<<20), 0o644)
	testkit.Run(t, testkit.Tool(t, "mcopy"), "-i", img, small, big, "::/")
	if err := os.Truncate(img, 2<<20); err != nil {
		t.Fatal(err)
	}
	mp := filepath.Join(dir, "mnt")
	opts := rwOptions(mp)
	if _, err := h.Mount(img, opts); !errors.Is(err, ErrTruncated) || !strings.Contains(err.Error(), "(14 MiB of 16 MiB missing)") {
		t.Errorf("--rw: %v, want ErrTruncated saying how much is missing", err)
	}
	if _, err := os.Stat(mp); !os.IsNotExist(err) {
		t.Errorf("--rw refused, the mount point is left: %v", err)
	}
	opts.ReadWrite, opts.Backend = false, BackendAuto
	opts.WriteIndex = func(ServeRequest, *os.File) (IndexInfo, error) {
		t.Error("a truncated image went to the index route")
		return IndexInfo{}, ErrNotIndexable
	}
	m, err := h.Mount(img, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer h.Unmount(mp, UnmountOptions{})
	tr := m.Plan.Truncated
	if m.Plan.Route != RouteUserspace || !m.ReadOnly || tr == nil || tr.Size != 2<<20 || tr.FSSize != 16<<20 || tr.Type != "vfat" ||
		!strings.Contains(m.ReadOnlyReason, "the image is truncated (14 MiB of 16 MiB missing)") {
		t.Errorf("route %s ro %v (%q) truncated %+v", m.Plan.Route, m.ReadOnly, m.ReadOnlyReason, tr)
	}
	if b, err := os.ReadFile(filepath.Join(mp, "a.txt")); err != nil || string(b) != "before the end\n" {
		t.Errorf("a.txt: %q %v", b, err)
	}
	if _, err := os.ReadFile(filepath.Join(mp, "z.bin")); !errors.Is(err, syscall.EIO) {
		t.Errorf("z.bin: %v, want EIO", err)
	}
}
