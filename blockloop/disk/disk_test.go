package disk_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

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
	for _, f := range []string{"qcow2", "vmdk", "vhdx", "vdi"} {
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
