package disk_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// rawSource writes a 4 MiB raw disk of random bytes with a hole.
func rawSource(t *testing.T, dir string) string {
	t.Helper()
	b := make([]byte, 4<<20)
	rand.New(rand.NewSource(7)).Read(b[:1<<20])
	rand.New(rand.NewSource(8)).Read(b[3<<20:])
	p := filepath.Join(dir, "src.raw")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readAll(t *testing.T, d *disk.Disk) []byte {
	t.Helper()
	b := make([]byte, d.Size())
	if n, err := d.ReadAt(b, 0); n != len(b) {
		t.Fatalf("read %d of %d: %v", n, len(b), err)
	}
	return b
}

// TestFormatsAndChain: each format opens by magic; an overlay chain
// qcow2 -> vmdk -> raw, with names relative to each overlay's directory
// (the chain spans two directories), reads as qemu-img reads it.
func TestFormatsAndChain(t *testing.T) {
	qemuImg := disktest.QemuImg(t)
	qemuIO := testkit.Tool(t, "qemu-io")
	dir := t.TempDir()
	src := rawSource(t, dir)
	for _, f := range []string{"qcow2", "vmdk", "vhdx", "vdi", "vpc"} {
		img := filepath.Join(dir, "d."+f)
		testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", f, src, img)
		d, err := disk.Open(img)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		if d.Format() != f || len(d.Layers) != 1 {
			t.Errorf("%s: format %q, layers %+v", f, d.Format(), d.Layers)
		}
		if !bytes.Equal(readAll(t, d), disktest.RawOf(t, img)) {
			t.Errorf("%s: the virtual disk differs from qemu-img's", f)
		}
		d.Close()
	}
	sub := filepath.Join(dir, "sub")
	os.Mkdir(sub, 0o755)
	base := filepath.Join(dir, "base.vmdk")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "vmdk", src, base)
	mid := filepath.Join(sub, "mid.vmdk")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "vmdk", "-b", "../base.vmdk", "-F", "vmdk", mid)
	testkit.Run(t, qemuIO, "-c", "write -P 0xab 1M 64k", mid)
	top := filepath.Join(sub, "top.qcow2")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", "mid.vmdk", "-F", "vmdk", top)
	testkit.Run(t, qemuIO, "-c", "write -P 0xcd 2M 4k", top)
	d, err := disk.Open(top)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Layers) != 3 || d.Layers[1].Format != "vmdk" || d.Layers[2].Format != "vmdk" || d.Layers[2].Path != base {
		t.Errorf("layers %+v", d.Layers)
	}
	if !bytes.Equal(readAll(t, d), disktest.RawOf(t, top)) {
		t.Error("the chain reads differently from qemu-img")
	}
	// A raw backing file: a file of no format is read as it is.
	ov := filepath.Join(sub, "ov.qcow2")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", src, "-F", "raw", ov)
	testkit.Run(t, qemuIO, "-c", "write -P 0x11 0 4k", ov)
	d2, err := disk.Open(ov)
	if err != nil {
		t.Fatal(err)
	}
	defer d2.Close()
	if len(d2.Layers) != 2 || d2.Layers[1].Format != "raw" {
		t.Errorf("layers %+v", d2.Layers)
	}
	if !bytes.Equal(readAll(t, d2), disktest.RawOf(t, ov)) {
		t.Error("the qcow2 over raw reads differently from qemu-img")
	}
}

// TestChainCycle: an overlay whose backing file is itself, or a chain
// that comes back to it, is refused with ErrChain, not followed.
func TestChainCycle(t *testing.T) {
	qemuImg := disktest.QemuImg(t)
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.qcow2"), filepath.Join(dir, "b.qcow2")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", a, "1M")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-b", "a.qcow2", "-F", "qcow2", b)
	// Point a at b: qemu-img rebase -u writes the name without checking.
	testkit.Run(t, qemuImg, "rebase", "-u", "-f", "qcow2", "-b", "b.qcow2", "-F", "qcow2", a)
	for _, img := range []string{a, b} {
		if _, err := disk.Open(img); !errors.Is(err, disk.ErrChain) {
			t.Errorf("Open(%s) = %v, want ErrChain", filepath.Base(img), err)
		}
	}
	missing := filepath.Join(dir, "orphan.qcow2")
	testkit.Run(t, qemuImg, "create", "-q", "-f", "qcow2", "-u", "-b", "gone.qcow2", "-F", "qcow2", missing, "1M")
	if _, err := disk.Open(missing); !errors.Is(err, disk.ErrChain) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(orphan) = %v, want ErrChain and ErrNotExist", err)
	}
	if _, err := disk.Open(filepath.Join(dir, "nothing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open(missing file) = %v", err)
	}
	plain := filepath.Join(dir, "plain.img")
	os.WriteFile(plain, make([]byte, 4096), 0o644)
	if _, err := disk.Open(plain); !errors.Is(err, disk.ErrNotDisk) {
		t.Errorf("Open(raw) = %v, want ErrNotDisk", err)
	}
}

// TestVPC: a fixed VHD (its footer at the end only) opens by its tail; a
// differencing VHD (made by hand from a qemu-img dynamic one: qemu cannot
// make one) reads its parent by the relative W2ru locator, in another
// directory; a missing parent and a parent that is the image itself are
// ErrChain.
func TestVPC(t *testing.T) {
	qemuImg := disktest.QemuImg(t)
	dir := t.TempDir()
	src := rawSource(t, dir)
	fixed := filepath.Join(dir, "f.vhd")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", src, fixed)
	d, err := disk.Open(fixed)
	if err != nil {
		t.Fatal(err)
	}
	if d.Format() != "vpc" || d.Layers[0].Variant != "fixed" {
		t.Errorf("layers %+v", d.Layers)
	}
	want := filepath.Join(dir, "f.raw")
	testkit.Run(t, qemuImg, "convert", "-f", "vpc", "-O", "raw", fixed, want)
	wb, _ := os.ReadFile(want)
	if !bytes.Equal(readAll(t, d), wb) {
		t.Error("fixed: the virtual disk differs from qemu-img's")
	}
	d.Close()

	// The parent: other data than the child's, in base/.
	os.Mkdir(filepath.Join(dir, "base"), 0o755)
	other := filepath.Join(dir, "other.raw")
	ob := make([]byte, 4<<20)
	rand.New(rand.NewSource(9)).Read(ob)
	os.WriteFile(other, ob, 0o644)
	parent := filepath.Join(dir, "base", "p.vhd")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "vpc", other, parent)
	childOf := func(locator string) string {
		dyn := filepath.Join(dir, "c.vhd")
		testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "vpc", src, dyn)
		b, _ := os.ReadFile(dyn)
		pb, _ := os.ReadFile(parent)
		b = vhdChild(b, pb[68:84], locator)
		os.WriteFile(dyn, b, 0o644)
		return dyn
	}
	child := childOf(`.\base\p.vhd`)
	d, err = disk.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Layers) != 2 || d.Layers[0].Variant != "differencing" || d.Layers[1].Path != parent || d.Layers[1].Format != "vpc" {
		t.Errorf("layers %+v", d.Layers)
	}
	got := readAll(t, d)
	sb, _ := os.ReadFile(src)
	// Block 1 (2 MiB..4 MiB) is the parent's: vhdChild unallocates it.
	if !bytes.Equal(got[:2<<20], sb[:2<<20]) || !bytes.Equal(got[2<<20:4<<20], ob[2<<20:]) {
		t.Error("differencing: reads differ")
	}
	if _, err := disk.Open(childOf(`.\base\gone.vhd`)); !errors.Is(err, disk.ErrChain) {
		t.Errorf("missing parent: %v", err)
	}
	if _, err := disk.Open(childOf(`.\c.vhd`)); !errors.Is(err, disk.ErrChain) {
		t.Errorf("parent is itself: %v", err)
	}
}

// vhdChild makes the qemu-img dynamic VHD b a differencing image of the
// parent with UUID puuid named by a W2ru locator, with its block 1
// unallocated (read from the parent).
func vhdChild(b, puuid []byte, locator string) []byte {
	be := binary.BigEndian
	sum := func(x []byte, skip int) uint32 {
		var s uint32
		for i, c := range x {
			if i < skip || i >= skip+4 {
				s += uint32(c)
			}
		}
		return ^s
	}
	be.PutUint32(b[60:], 4)
	be.PutUint32(b[64:], sum(b[:512], 64))
	h := b[512:1536]
	copy(h[40:56], puuid)
	bat := be.Uint64(h[16:])
	be.PutUint32(b[bat+4:], 0xffffffff)
	u := utf16.Encode([]rune(locator))
	loc := make([]byte, 512)
	for i, c := range u {
		binary.LittleEndian.PutUint16(loc[2*i:], c)
	}
	copy(h[576:], "W2ru")
	be.PutUint32(h[576+4:], 512)
	be.PutUint32(h[576+8:], uint32(2*len(u)))
	be.PutUint64(h[576+16:], uint64(len(b)))
	be.PutUint32(h[36:], sum(h, 36))
	return append(b, loc...)
}

// vdiChild makes a differencing VDI over the qemu-img VDI parent pb, by
// hand (neither qemu nor this machine has VirtualBox): one 1 MiB block of
// 0x5a bytes at block 1, every other block the parent's.
func vdiChild(pb []byte) []byte {
	le := binary.LittleEndian
	h := append([]byte(nil), pb[:512]...)
	le.PutUint32(h[76:], 4)       // differencing
	copy(h[424:440], pb[392:408]) // the parent's UUID
	h[392] ^= 0xff                // a UUID of its own
	blocks := int(le.Uint32(pb[384:]))
	le.PutUint32(h[340:], 512)                             // block map
	le.PutUint32(h[344:], uint32(512+(blocks*4+511)&^511)) // data
	le.PutUint32(h[388:], 1)
	child := append(h, make([]byte, (blocks*4+511)&^511)...)
	for i := 0; i < blocks; i++ {
		le.PutUint32(child[512+4*i:], 0xffffffff)
	}
	le.PutUint32(child[512+4:], 0)
	return append(child, bytes.Repeat([]byte{0x5a}, 1<<20)...)
}

// TestVDIParentByUUID: a VirtualBox snapshot (Snapshots/{UUID}.vdi, a
// differencing image naming its parent by UUID only) finds its parent in
// the VM's directory by the UUID in the parent's header.
func TestVDIParentByUUID(t *testing.T) {
	qemuImg := disktest.QemuImg(t)
	dir := t.TempDir()
	src := rawSource(t, dir)
	vm := filepath.Join(dir, "VM")
	os.MkdirAll(filepath.Join(vm, "Snapshots"), 0o755)
	parent := filepath.Join(vm, "disk.vdi")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "vdi", src, parent)
	os.WriteFile(filepath.Join(vm, "other.vdi"), []byte("not a vdi"), 0o644)
	pb, _ := os.ReadFile(parent)
	cb := vdiChild(pb)
	child := filepath.Join(vm, "Snapshots", "{0b2f4b0e-5b1c-4e8f-9d55-0c1f8a6c2d11}.vdi")
	os.WriteFile(child, cb, 0o644)

	d, err := disk.Open(child)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if len(d.Layers) != 2 || d.Layers[0].Variant != "differencing" || d.Layers[1].Path != parent {
		t.Errorf("layers %+v", d.Layers)
	}
	want, _ := os.ReadFile(src)
	want = want[:d.Size()]
	copy(want[1<<20:2<<20], bytes.Repeat([]byte{0x5a}, 1<<20))
	if !bytes.Equal(readAll(t, d), want) {
		t.Error("the snapshot's virtual disk is not the parent's with block 1 replaced")
	}

	// The parent somewhere else: named, as missing.
	lone := filepath.Join(t.TempDir(), "sub", "snap.vdi")
	os.MkdirAll(filepath.Dir(lone), 0o755)
	os.WriteFile(lone, cb, 0o644)
	if _, err := disk.Open(lone); !errors.Is(err, disk.ErrChain) || !errors.Is(err, os.ErrNotExist) {
		t.Errorf("parent missing: %v", err)
	}
}
