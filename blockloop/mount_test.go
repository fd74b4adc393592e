package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/internal/testkit"
)

// testHost is a Host whose /media is a fresh temporary directory.
func testHost(t *testing.T) (*Host, string) {
	t.Helper()
	testkit.RequireRoot(t)
	dir := blocklooptest.Dir(t)
	media := filepath.Join(dir, "media")
	if err := os.Mkdir(media, 0o755); err != nil {
		t.Fatal(err)
	}
	return &Host{Media: media}, dir
}

// copyImage copies a fixture so each test mounts its own file.
func copyImage(t *testing.T, src, dir, name string) string {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// assertClean checks, through independent views (/sys/block and
// /proc/self/mountinfo), that nothing backs image and nothing is mounted
// under dir, and that the given directories do not exist.
func assertClean(t *testing.T, image, dir string, gone ...string) {
	t.Helper()
	for _, l := range blocklooptest.LoopDevices() {
		if strings.HasSuffix(l, " "+image) {
			t.Errorf("loop device left: %s", l)
		}
	}
	if m := blocklooptest.MountsUnder(dir); len(m) > 0 {
		t.Errorf("mounts left under %s: %v", dir, m)
	}
	for _, g := range gone {
		if _, err := os.Lstat(g); err == nil {
			t.Errorf("directory left: %s", g)
		}
	}
}

func mountedEntry(t *testing.T, mp string) *MountEntry {
	t.Helper()
	ms, err := kernfile.Mountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	for i := range ms {
		if ms[i].Mountpoint == mp {
			return &ms[i]
		}
	}
	return nil
}

// TestMountFixtures mounts every filesystem fixture at an automatic mount
// point, reads each file back and checks its sha256, checks the mount
// options (nosuid, nodev; ro for read-only types), unmounts, and checks
// that the device and the directory are gone.
func TestMountFixtures(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	for _, name := range []string{"ext4", "squashfs", "erofs", "btrfs", "mbr", "gpt"} {
		src, ok := fx.Images[name]
		if !ok {
			continue
		}
		t.Run(name, func(t *testing.T) {
			img := copyImage(t, src, dir, name+".img")
			m, err := h.Mount(img, MountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			wantName := map[string]string{"ext4": blocklooptest.Ext4Label, "mbr": blocklooptest.Ext4Label, "gpt": blocklooptest.Ext4Label, "btrfs": "butter"}[name]
			if wantName == "" {
				wantName = name
			}
			if filepath.Base(m.Mountpoint) != wantName || filepath.Dir(m.Mountpoint) != h.Media {
				t.Errorf("mount point %s, want %s/%s", m.Mountpoint, h.Media, wantName)
			}
			if !m.CreatedDir {
				t.Error("CreatedDir false")
			}
			e := mountedEntry(t, m.Mountpoint)
			if e == nil {
				t.Fatalf("%s not in mountinfo", m.Mountpoint)
			}
			if e.Source != m.Device || !strings.Contains(e.Options, "nosuid") || !strings.Contains(e.Options, "nodev") {
				t.Errorf("mountinfo %+v", e)
			}
			wantRO := name == "squashfs" || name == "erofs"
			if e.ReadOnly() != wantRO || m.ReadOnly != wantRO {
				t.Errorf("read-only: mountinfo %v, MountResult %v; want %v", e.ReadOnly(), m.ReadOnly, wantRO)
			}
			if name == "mbr" || name == "gpt" {
				if m.Partition != 2 || m.Offset != 5<<20 || m.SizeLimit != 10<<20 {
					t.Errorf("partition %d offset %d sizelimit %d", m.Partition, m.Offset, m.SizeLimit)
				}
			}
			blocklooptest.CheckTree(t, m.Mountpoint, fx.Sums)
			us, err := h.Unmount(m.Mountpoint, UnmountOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if len(us) != 1 || !us[0].Detached || !us[0].RemovedDir {
				t.Errorf("Unmount = %+v", us)
			}
			assertClean(t, img, dir, m.Mountpoint)
		})
	}
}

// TestMountXFSWriteRead: xfs (made empty) is mounted read-write, files
// written, unmounted, mounted again by image name, and read back.
func TestMountXFSWriteRead(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	src, ok := fx.Images["xfs"]
	if !ok {
		testkit.Skip(t, "no xfs fixture (mkfs.xfs missing)")
	}
	h, dir := testHost(t)
	img := copyImage(t, src, dir, "xfs.img")
	mp := filepath.Join(dir, "mnt")
	m, err := h.Mount(img, MountOptions{Mountpoint: mp})
	if err != nil {
		t.Fatal(err)
	}
	if m.ReadOnly || !m.CreatedDir {
		t.Errorf("ReadOnly %v CreatedDir %v", m.ReadOnly, m.CreatedDir)
	}
	if err := os.WriteFile(filepath.Join(mp, "note.txt"), []byte("written through loops\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := h.Unmount(img, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	assertClean(t, img, dir, mp)
	m, err = h.Mount(img, MountOptions{Mountpoint: mp, ReadOnly: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(mp, "note.txt"))
	if string(b) != "written through loops\n" || err != nil {
		t.Errorf("read back %q, %v", b, err)
	}
	if _, err := h.Unmount(m.Device, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	assertClean(t, img, dir, mp)
}

// TestMountErrors injects each failure and checks that the error names the
// thing, wraps the right sentinel, and leaves no loop device, mount or
// directory behind.
func TestMountErrors(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	ext4 := copyImage(t, fx.Images["ext4"], dir, "e.img")
	full := filepath.Join(dir, "full")
	os.Mkdir(full, 0o755)
	os.WriteFile(filepath.Join(full, "x"), nil, 0o644)
	afile := filepath.Join(dir, "afile")
	os.WriteFile(afile, nil, 0o644)
	link := filepath.Join(dir, "link")
	os.Symlink(full, link)

	half := filepath.Join(dir, "half.img")
	b, _ := os.ReadFile(fx.Images["ext4"])
	os.WriteFile(half, b[:len(b)/2], 0o644)
	corrupt := filepath.Join(dir, "corrupt.img")
	c := append([]byte(nil), b...)
	for i := 2048; i < 4096; i++ { // the group descriptors (1 KiB blocks)
		c[i] = 0xA5
	}
	os.WriteFile(corrupt, c, 0o644)
	qcow := filepath.Join(dir, "vm.qcow2")
	os.WriteFile(qcow, append([]byte("QFI\xfb\x00\x00\x00\x03"), make([]byte, 1<<16)...), 0o644)
	luks := filepath.Join(dir, "secret.img")
	os.WriteFile(luks, append([]byte("LUKS\xba\xbe\x00\x01"), make([]byte, 1<<16)...), 0o644)
	unknown := filepath.Join(dir, "zeros.img")
	os.WriteFile(unknown, make([]byte, 1<<20), 0o644)
	iso := fx.Images["iso9660"]

	tests := []struct {
		name  string
		image string
		opts  MountOptions
		want  error
		says  string
	}{
		{"missing image", filepath.Join(dir, "nope.img"), MountOptions{}, os.ErrNotExist, "nope.img"},
		{"directory as image", full, MountOptions{}, ErrNotRegular, "directory"},
		{"device as image", "/dev/null", MountOptions{}, ErrNotRegular, "device"},
		{"mount point is a file", ext4, MountOptions{Mountpoint: afile}, ErrMountpointNotDir, afile},
		{"mount point not empty", ext4, MountOptions{Mountpoint: full}, ErrMountpointNotEmpty, full},
		{"mount point is a symlink", ext4, MountOptions{Mountpoint: link}, ErrMountpointSymlink, link},
		{"truncated: the kernel's ext4 refuses it", half, MountOptions{}, ErrTruncated, "which the kernel's ext4 refuses to mount"},
		{"truncated: --rw", half, MountOptions{ReadWrite: true}, ErrTruncated, "a truncated image mounts read-only only"},
		{"corrupt: mount(2) fails after attach", corrupt, MountOptions{}, ErrCorrupt, "/dev/loop"},
		{"wrong --type: mount(2) fails after attach", ext4, MountOptions{Type: "btrfs"}, ErrCorrupt, "btrfs"},
		{"qcow2", qcow, MountOptions{}, ErrDiskImage, "this qcow2 disk image cannot be read"},
		{"luks", luks, MountOptions{}, ErrEncrypted, "LUKS"},
		{"unknown format", unknown, MountOptions{}, ErrUnknownFormat, "no filesystem"},
		{"no kernel driver", iso, MountOptions{}, ErrNoDriver, "no iso9660 driver"},
		{"no such partition", ext4, MountOptions{Partition: 3}, ErrNoPartition, "partition"},
		{"--rw on a read-only type", fx.Images["squashfs"], MountOptions{ReadWrite: true}, nil, "read-only"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.image == "" {
				testkit.Skip(t, "fixture missing (its mkfs tool is missing)")
			}
			before := entries(t, h.Media)
			_, err := h.Mount(tt.image, tt.opts)
			if err == nil {
				t.Fatal("Mount succeeded")
			}
			if tt.want != nil && !errors.Is(err, tt.want) {
				t.Errorf("error %q is not %v", err, tt.want)
			}
			if !strings.Contains(err.Error(), tt.says) {
				t.Errorf("error %q does not say %q", err, tt.says)
			}
			assertClean(t, tt.image, dir)
			if after := entries(t, h.Media); after != before {
				t.Errorf("media dir changed: %q -> %q", before, after)
			}
			if tt.opts.Mountpoint == full {
				if _, err := os.Stat(filepath.Join(full, "x")); err != nil {
					t.Error("the non-empty directory lost its file")
				}
			}
		})
	}
}

func entries(t *testing.T, dir string) string {
	es, _ := os.ReadDir(dir)
	var n []string
	for _, e := range es {
		n = append(n, e.Name())
	}
	return strings.Join(n, ",")
}

// TestMountInjectedFailures covers what the kernel will not do on demand:
// no free loop device, and mount(2) failing after the attach.
func TestMountInjectedFailures(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	img := copyImage(t, fx.Images["ext4"], dir, "e.img")

	h.hooks = &hooks{getFree: func() (int, error) { return -1, unix.ENOSPC }}
	_, err := h.Mount(img, MountOptions{})
	if !errors.Is(err, ErrNoFreeDevice) {
		t.Errorf("no free device: %v", err)
	}
	assertClean(t, img, dir, filepath.Join(h.Media, blocklooptest.Ext4Label))

	var dev string
	h.hooks = &hooks{beforeMount: func(d string) error { dev = d; return unix.EIO }}
	_, err = h.Mount(img, MountOptions{})
	if !errors.Is(err, unix.EIO) || dev == "" || !strings.Contains(err.Error(), dev) {
		t.Errorf("mount failure: %v (device %s)", err, dev)
	}
	assertClean(t, img, dir, filepath.Join(h.Media, blocklooptest.Ext4Label))
	if _, err := os.Stat("/sys/block/" + filepath.Base(dev) + "/loop"); err == nil {
		t.Errorf("%s still bound after the failed mount", dev)
	}
}

// TestMountAlreadyMounted: a second mount of the same image fails and says
// where the first one is; a second mount point name gets a "1" suffix when
// the first is taken by an unrelated directory.
func TestMountAlreadyMounted(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	img := copyImage(t, fx.Images["ext4"], dir, "e.img")
	os.Mkdir(filepath.Join(h.Media, blocklooptest.Ext4Label), 0o755) // taken
	m, err := h.Mount(img, MountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer h.Unmount(m.Mountpoint, UnmountOptions{})
	if filepath.Base(m.Mountpoint) != blocklooptest.Ext4Label+"1" {
		t.Errorf("mount point %s, want %s1", m.Mountpoint, blocklooptest.Ext4Label)
	}
	_, err = h.Mount(img, MountOptions{})
	if !errors.Is(err, ErrAlreadyMounted) || !strings.Contains(err.Error(), m.Mountpoint) {
		t.Errorf("second mount: %v", err)
	}
	if es := entries(t, h.Media); es != blocklooptest.Ext4Label+","+blocklooptest.Ext4Label+"1" {
		t.Errorf("media holds %q", es)
	}
	if _, err := h.Unmount(m.Mountpoint, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(h.Media, blocklooptest.Ext4Label)); err != nil {
		t.Error("umount removed a directory loops did not make")
	}
	assertClean(t, img, dir, m.Mountpoint)
}

// TestMountConcurrent: 16 distinct images mounted at once, then unmounted
// at once: all succeed, no device is shared, none is left.
func TestMountConcurrent(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	h, dir := testHost(t)
	const n = 16
	imgs := make([]string, n)
	for i := range imgs {
		imgs[i] = copyImage(t, fx.Images["ext4"], dir, fmt.Sprintf("c%02d.img", i))
	}
	ms := make([]*MountResult, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ms[i], errs[i] = h.Mount(imgs[i], MountOptions{Mountpoint: filepath.Join(dir, fmt.Sprintf("m%02d", i))})
		}()
	}
	wg.Wait()
	seen := map[string]int{}
	for i, err := range errs {
		if err != nil {
			t.Errorf("mount %d: %v", i, err)
			continue
		}
		if j, dup := seen[ms[i].Device]; dup {
			t.Errorf("%s shared by images %d and %d", ms[i].Device, j, i)
		}
		seen[ms[i].Device] = i
	}
	for i := range imgs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if ms[i] != nil {
				_, errs[i] = h.Unmount(ms[i].Mountpoint, UnmountOptions{})
			}
		}()
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("umount %d: %v", i, err)
		}
		assertClean(t, imgs[i], dir, filepath.Join(dir, fmt.Sprintf("m%02d", i)))
	}
}

// BenchmarkMountUmount: Mount + Unmount of an ext4 image, in process.
func BenchmarkMountUmount(b *testing.B) {
	testkit.RequireRoot(b)
	dir := blocklooptest.Dir(b)
	img := blocklooptest.Ext4(b, filepath.Join(dir, "e.img"), "bench", "", 8<<20)
	h := &Host{Media: dir}
	mp := filepath.Join(dir, "mnt")
	for b.Loop() {
		if _, err := h.Mount(img, MountOptions{Mountpoint: mp}); err != nil {
			b.Fatal(err)
		}
		if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
