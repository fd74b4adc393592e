package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// indexHost is a test Host whose kernel has erofs and no driver for the
// userspace types (a /proc/filesystems of its own), whatever this
// kernel has, so that Mount takes the index route.
func indexHost(t *testing.T) (*Host, string) {
	h, dir := testHost(t)
	fsys := filepath.Join(dir, "filesystems")
	if err := os.WriteFile(fsys, []byte("nodev\tsysfs\n\text4\n\terofs\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	h.Filesystems, h.Modules, h.RunDir = fsys, filepath.Join(dir, "no-modules"), filepath.Join(dir, "run")
	return h, dir
}

// writeIndexHere is MountOptions.WriteIndex done in this process (the CLI
// runs loops-serve for it).
func writeIndexHere(req ServeRequest, index *os.File) (IndexInfo, error) {
	f, err := os.Open(req.Image)
	if err != nil {
		return IndexInfo{}, err
	}
	defer f.Close()
	o := userfs.Options{Type: req.Type, Offset: req.Offset, SizeLimit: req.SizeLimit}
	if req.Owner.UID >= 0 || req.Owner.GID >= 0 {
		o.SetOwner, o.UID, o.GID = true, uint32(max(req.Owner.UID, 0)), uint32(max(req.Owner.GID, 0))
	}
	if req.Owner.Umask >= 0 {
		o.Umask = uint32(req.Owner.Umask)
	}
	info, err := userfs.WriteIndex(index, f, o, req.CompactMtime)
	if errors.Is(err, userfs.ErrNotIndexable) {
		return IndexInfo{}, fmt.Errorf("%w: %v", ErrNotIndexable, err)
	}
	return IndexInfo{BlockSize: info.BlockSize, Inodes: info.Inodes, Size: info.Size, Flat: info.Flat,
		Chunked: info.Chunked, Copied: info.Copied, CopiedBytes: info.CopiedBytes}, err
}

var indexTypes = map[string]bool{"iso9660": true, "udf": true, "vfat": true, "exfat": true}

// tmpfiles lists this process's open unnamed files (an index it kept).
func tmpfiles(t *testing.T) []string {
	t.Helper()
	ents, _ := os.ReadDir("/proc/self/fd")
	var out []string
	for _, e := range ents {
		l, _ := os.Readlink("/proc/self/fd/" + e.Name())
		if strings.Contains(l, "/#") {
			out = append(out, l)
		}
	}
	return out
}

// checkIndexGone: no mount, loop device or name of the index is left.
func checkIndexGone(t *testing.T, h *Host, img, dir string) {
	t.Helper()
	assertClean(t, img, dir)
	if ms, _ := h.IndexMounts(); len(ms) > 0 {
		t.Errorf("index mounts left: %+v", ms)
	}
	ents, _ := os.ReadDir(h.indexSources())
	for _, e := range ents {
		t.Errorf("left in %s: %s", h.indexSources(), e.Name())
	}
	if f := tmpfiles(t); len(f) > 0 {
		t.Errorf("unnamed files still open: %v", f)
	}
}

// TestMountIndex: an ISO 9660 image through the index route: the tree
// reads back, mountinfo says erofs with a source naming the image (the
// symlink it was made from is gone), IndexMounts lists it, a second mount
// is refused, and unmounting by the image leaves nothing.
func TestMountIndex(t *testing.T) {
	h, dir := indexHost(t)
	src, sums := blocklooptest.Tree(t, dir)
	iso := filepath.Join(dir, "image.iso")
	testkit.Run(t, testkit.Tool(t, "xorriso"), "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "INDEXED", "-o", iso, src)
	// What a loops killed before it mounted left: swept by the next one.
	stale := filepath.Join(h.indexSources(), "iso9660.0.2147483646", iso)
	os.MkdirAll(filepath.Dir(stale), 0o700)
	if err := os.Symlink("/proc/self/fd/9", stale); err != nil {
		t.Fatal(err)
	}
	// File-backed where the kernel reads files here; else on loop devices.
	fileBacked := blocklooptest.FileBackedErofs(t, dir)
	opts := MountOptions{Userspace: indexTypes, WriteIndex: writeIndexHere}
	m, err := h.Mount(iso, opts)
	if err != nil {
		t.Fatal(err)
	}
	if m.Plan.Route != RouteIndex || m.Index == nil || m.Index.Inodes == 0 || (m.Device == "") != fileBacked {
		t.Fatalf("route %s, index %+v, device %q (file-backed erofs here: %v)", m.Plan.Route, m.Index, m.Device, fileBacked)
	}
	blocklooptest.CheckTree(t, m.Mountpoint, sums)
	e := mountedEntry(t, m.Mountpoint)
	if e == nil || e.FSType != "erofs" || !strings.Contains(","+e.Options+",", ",nosuid,") || !e.ReadOnly() {
		t.Errorf("mountinfo: %+v", e)
	}
	if _, err := os.Lstat(e.Source); err == nil {
		t.Errorf("the mount's source %s is still there", e.Source)
	}
	ims, err := h.IndexMounts()
	if err != nil || len(ims) != 1 || ims[0].Image != iso || ims[0].Type != "iso9660" || ims[0].Mountpoint != m.Mountpoint {
		t.Errorf("IndexMounts: %+v %v", ims, err)
	}
	if f := tmpfiles(t); len(f) > 0 {
		t.Errorf("the index is still open here: %v", f)
	}
	if _, err := h.Mount(iso, opts); !errors.Is(err, ErrAlreadyMounted) {
		t.Errorf("a second mount: %v, want ErrAlreadyMounted", err)
	}
	us, err := h.Unmount(iso, UnmountOptions{})
	if err != nil || len(us) != 1 || !us[0].Index || !us[0].RemovedDir || us[0].Image != iso {
		t.Errorf("Unmount: %+v %v", us, err)
	}
	checkIndexGone(t, h, iso, dir)
}

// TestMountIndexPartition: partition 1 of an SD-card image (MBR, FAT at
// 1 MiB) through the index: the extents are offset by the partition's
// start; unmounting by the mount point.
func TestMountIndexPartition(t *testing.T) {
	h, dir := indexHost(t)
	src, sums := blocklooptest.Tree(t, dir)
	fat := filepath.Join(dir, "fat.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "8M", fat)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-n", "SDCARD", fat)
	ents, _ := os.ReadDir(src)
	args := []string{"-s", "-i", fat}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	testkit.Run(t, testkit.Tool(t, "mcopy"), append(args, "::/")...)
	sd := filepath.Join(dir, "sd.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "12M", sd)
	cmd := testkit.Command(testkit.Tool(t, "sfdisk"), "-q", sd)
	cmd.Stdin = strings.NewReader("label: dos\nstart=2048, size=16384, type=c\n")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	testkit.Run(t, "dd", "if="+fat, "of="+sd, "bs=1M", "seek=1", "conv=notrunc", "status=none")
	mp := filepath.Join(dir, "mnt")
	os.Mkdir(mp, 0o755)
	m, err := h.Mount(sd, MountOptions{Mountpoint: mp, Partition: 1, Userspace: indexTypes, WriteIndex: writeIndexHere})
	if err != nil {
		t.Fatal(err)
	}
	if m.Plan.Route != RouteIndex || m.Offset != 1<<20 || m.Type != "vfat" {
		t.Errorf("route %s offset %d type %s", m.Plan.Route, m.Offset, m.Type)
	}
	blocklooptest.CheckTree(t, mp, sums)
	if ims, _ := h.IndexMounts(); len(ims) != 1 || ims[0].Offset != 1<<20 || ims[0].Type != "vfat" {
		t.Errorf("IndexMounts: %+v", ims)
	}
	if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	checkIndexGone(t, h, sd, dir)
}

// TestMountIndexLoopDevices: an index made in memory (tmpfs, which erofs
// cannot mount a file of) goes, with the image, on read-only loop devices
// that clear when the mount goes; the route kernels before 6.12 take.
func TestMountIndexLoopDevices(t *testing.T) {
	h, dir := indexHost(t)
	mem := filepath.Join(dir, "mem")
	os.Mkdir(mem, 0o755)
	if err := unix.Mount("loops-test-tmpfs", mem, "tmpfs", 0, "mode=0700"); err != nil {
		t.Fatal(err)
	}
	defer unix.Unmount(mem, unix.MNT_DETACH)
	h.IndexDir = mem
	src, sums := blocklooptest.Tree(t, dir)
	iso := filepath.Join(dir, "image.iso")
	testkit.Run(t, testkit.Tool(t, "xorriso"), "-as", "mkisofs", "-quiet", "-R", "-o", iso, src)
	m, err := h.Mount(iso, MountOptions{Userspace: indexTypes, WriteIndex: writeIndexHere})
	if err != nil {
		t.Fatal(err)
	}
	if m.Plan.Route != RouteIndex || !strings.HasPrefix(m.Device, "/dev/loop") {
		t.Errorf("route %s device %q, want the index on a loop device", m.Plan.Route, m.Device)
	}
	blocklooptest.CheckTree(t, m.Mountpoint, sums)
	if _, err := h.Unmount(m.Mountpoint, UnmountOptions{}); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{strings.TrimPrefix(m.Device, "/dev/loop")} {
		var k int
		fmt.Sscan(n, &k)
		if !h.waitUnbound(k, 0, 2e9) {
			t.Errorf("%s still bound after the unmount", m.Device)
		}
	}
	if err := unix.Unmount(mem, 0); err != nil {
		t.Errorf("the index's tmpfs is busy: %v", err)
	}
	checkIndexGone(t, h, iso, dir)
	for _, l := range blocklooptest.LoopDevices() {
		if strings.Contains(l, mem) {
			t.Errorf("the index's loop device is left: %s", l)
		}
	}
}

// TestMountIndexFallback: a tree the index cannot describe goes to the
// userspace route; any other failure of the writer leaves nothing.
func TestMountIndexFallback(t *testing.T) {
	h, dir := indexHost(t)
	src, _ := blocklooptest.Tree(t, dir)
	iso := filepath.Join(dir, "image.iso")
	testkit.Run(t, testkit.Tool(t, "xorriso"), "-as", "mkisofs", "-quiet", "-R", "-o", iso, src)
	var served []ServeRequest
	serve := func(r ServeRequest) error { served = append(served, r); return errors.New("no server in this test") }
	notIndexable := func(ServeRequest, *os.File) (IndexInfo, error) {
		return IndexInfo{}, fmt.Errorf("a file the reader cannot read: %w", ErrNotIndexable)
	}
	_, err := h.Mount(iso, MountOptions{Userspace: indexTypes, WriteIndex: notIndexable, ServeUserspace: serve})
	if err == nil || len(served) != 1 || served[0].Image != iso {
		t.Errorf("not indexable: %v, served %+v; want the userspace route tried", err, served)
	}
	broken := func(req ServeRequest, index *os.File) (IndexInfo, error) {
		index.WriteString("half an index")
		return IndexInfo{}, errors.New("the writer died")
	}
	_, err = h.Mount(iso, MountOptions{Userspace: indexTypes, WriteIndex: broken, ServeUserspace: serve})
	if err == nil || !strings.Contains(err.Error(), "the writer died") || len(served) != 1 {
		t.Errorf("a broken writer: %v (served %d)", err, len(served))
	}
	checkIndexGone(t, h, iso, dir)
	if ents, _ := os.ReadDir(h.Media); len(ents) > 0 {
		t.Errorf("mount points left in %s: %v", h.Media, ents)
	}
}
