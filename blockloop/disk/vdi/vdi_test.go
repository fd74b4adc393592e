package vdi

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestQemuImages(t *testing.T) {
	qemu := disktest.QemuImg(t)
	qio := testkit.Tool(t, "qemu-io")
	dir, src := disktest.Source(t, 5<<20+12345)
	for name, o := range map[string][]string{"dynamic": nil, "static": {"-o", "static=on"}} {
		t.Run(name, func(t *testing.T) {
			img := filepath.Join(dir, name+".vdi")
			args := append([]string{"convert", "-f", "raw", "-O", "vdi"}, o...)
			testkit.Run(t, qemu, append(args, src, img)...)
			im := openFile(t, img)
			if info := im.Info(); info.Variant != name || info.BlockSize != 1<<20 {
				t.Errorf("Info %+v", info)
			}
			disktest.CompareQemu(t, im, img)
			testkit.Run(t, qio, "-f", "vdi", "-c", "write -P 0xcd 2M 64k", "-c", "write -P 0xab 4194000 1000", img)
			disktest.Compare(t, openFile(t, img), disktest.RawOf(t, img))
		})
	}
}

// TestDifferencing builds a differencing image by hand (qemu cannot) over
// a qemu-img parent: block 1 is the child's, the rest the parent's.
func TestDifferencing(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 3<<20)
	parent := filepath.Join(dir, "parent.vdi")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vdi", src, parent)
	pb, _ := os.ReadFile(parent)
	want := disktest.RawOf(t, parent)
	h := append([]byte(nil), pb[:512]...)
	le := binary.LittleEndian
	le.PutUint32(h[76:], TypeDiff)
	copy(h[424:440], pb[392:408]) // link to the parent's UUID
	h[392] ^= 0xff                // a UUID of its own
	le.PutUint32(h[340:], 512)
	le.PutUint32(h[344:], 1024)
	le.PutUint32(h[388:], 1)
	child := append(h, make([]byte, 512)...)
	for i := 0; i < 3; i++ {
		le.PutUint32(child[512+4*i:], blockUnallocated)
	}
	le.PutUint32(child[512+4:], 0)
	blk := bytes.Repeat([]byte{0x5a}, 1<<20)
	child = append(child, blk...)
	copy(want[1<<20:], blk)
	open := func(name string) (io.ReaderAt, int64, error) {
		if name != uuidString([16]byte(pb[392:408])) {
			t.Errorf("parent name %q", name)
		}
		return bytes.NewReader(pb), int64(len(pb)), nil
	}
	im, err := Open(bytes.NewReader(child), int64(len(child)), Options{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	if im.Info().Parent == "" || im.Info().Variant != "differencing" {
		t.Errorf("Info %+v", im.Info())
	}
	disktest.Compare(t, im, want)
	if _, err := Open(bytes.NewReader(child), int64(len(child)), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("without Options.Open: %v", err)
	}
}

func TestHostile(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	img := filepath.Join(dir, "d.vdi")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vdi", src, img)
	good, _ := os.ReadFile(img)
	open := func(b []byte) (*Image, error) { return Open(bytes.NewReader(b), int64(len(b)), Options{}) }
	for _, n := range []int{0, 67, 68, 100, 511, 512, 515, 1024, len(good) / 2} {
		err := disktest.OpenRead(open, good[:n])
		if err == nil {
			t.Errorf("truncated to %d: no error", n)
		} else if !isFormat(err) && !errors.Is(err, ErrNotVDI) {
			t.Errorf("truncated to %d: %v (not a FormatError)", n, err)
		}
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	le := binary.LittleEndian
	cases := map[string][]byte{
		"bmap past end":    mod(func(b []byte) { le.PutUint32(b[340:], 1<<31) }),
		"huge block count": mod(func(b []byte) { le.PutUint32(b[384:], 1<<31); le.PutUint64(b[368:], 1<<40) }),
		"disk over blocks": mod(func(b []byte) { le.PutUint64(b[368:], 1<<50) }),
		"block not 512":    mod(func(b []byte) { le.PutUint32(b[376:], 1000) }),
		"huge block":       mod(func(b []byte) { le.PutUint32(b[376:], 1<<31) }),
		"block past end":   mod(func(b []byte) { le.PutUint32(b[512:], 1<<20) }),
		"data in header":   mod(func(b []byte) { le.PutUint32(b[344:], 0) }),
		"version 2":        mod(func(b []byte) { le.PutUint32(b[68:], 0x20000) }),
		"undo":             mod(func(b []byte) { le.PutUint32(b[76:], TypeUndo) }),
		"type 9":           mod(func(b []byte) { le.PutUint32(b[76:], 9) }),
		"sector 4096":      mod(func(b []byte) { le.PutUint32(b[360:], 4096) }),
	}
	for name, b := range cases {
		err := disktest.OpenRead(open, b)
		if err == nil || !(isFormat(err) || errors.Is(err, errors.ErrUnsupported)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := open([]byte("hello world, not a disk")); !errors.Is(err, ErrNotVDI) {
		t.Errorf("text: %v", err)
	}
}

func TestProbe(t *testing.T) {
	b := make([]byte, 512)
	binary.LittleEndian.PutUint32(b[64:], signature)
	if !Probe(b) || Probe(b[:60]) || Probe(make([]byte, 512)) {
		t.Fatal("Probe")
	}
}
