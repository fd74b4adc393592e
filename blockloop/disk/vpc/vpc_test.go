package vpc

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestQemuImages: dynamic and fixed images, with the size rounded to the
// CHS geometry (creator "qemu") and not (force_size: creator "qem2"),
// read as qemu-img reads them, before and after qemu-io writes.
func TestQemuImages(t *testing.T) {
	qemu := disktest.QemuImg(t)
	qio := testkit.Tool(t, "qemu-io")
	dir, src := disktest.Source(t, 5<<20+12345)
	for _, v := range []struct{ name, opts, variant, app, from string }{
		{"dynamic", "subformat=dynamic", "dynamic", "qemu", "chs"},
		{"fixed", "subformat=fixed", "fixed", "qemu", "chs"},
		{"dynamic-force", "subformat=dynamic,force_size=on", "dynamic", "qem2", "current size"},
		{"fixed-force", "subformat=fixed,force_size=on", "fixed", "qem2", "current size"},
	} {
		t.Run(v.name, func(t *testing.T) {
			img := filepath.Join(dir, v.name+".vhd")
			testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", v.opts, src, img)
			im := openFile(t, img)
			info := im.Info()
			if info.Variant != v.variant || info.CreatorApp != v.app || info.SizeFrom != v.from {
				t.Errorf("Info %+v", info)
			}
			if v.variant == "dynamic" && info.BlockSize != 2<<20 {
				t.Errorf("block size %d", info.BlockSize)
			}
			compareQemu(t, im, img)
			testkit.Run(t, qio, "-f", "vpc", "-c", "write -P 0xcd 2M 64k", "-c", "write -P 0xab 4194000 1000", img)
			compareQemu(t, openFile(t, img), img)
		})
	}
}

// TestSizeRounding: without force_size the virtual size is the CHS
// geometry's, larger than the source; with it, the source's.
func TestSizeRounding(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 7<<20)
	for _, force := range []string{"off", "on"} {
		img := filepath.Join(dir, "r-"+force+".vhd")
		testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "force_size="+force, src, img)
		im := openFile(t, img)
		if force == "on" && im.Size() != 7<<20 || force == "off" && im.Size() <= 7<<20 {
			t.Errorf("force_size=%s: size %d", force, im.Size())
		}
		compareQemu(t, im, img)
	}
}

// diffFixture makes a qemu-img dynamic parent (parent.vhd) and a
// differencing child by hand (qemu cannot make one): block 1 is
// allocated with a bitmap giving it sectors 0-7 and 100-199, block 2 with
// every sector; the rest are the parent's. It returns the directory, the
// child's bytes and the virtual disk the child should read as.
func diffFixture(t *testing.T, locators [][2]string) (dir string, img []byte, want []byte) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 7<<20)
	parent := filepath.Join(dir, "parent.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", src, parent)
	pb, _ := os.ReadFile(parent)
	want = rawOf(t, parent)
	const block = 2 << 20
	bm := 512
	// Block 1: the sectors whose bits are set are the child's.
	b1 := make([]byte, bm+block)
	for i := range b1[bm:] {
		b1[bm+i] = 0x40 + byte(i/512)
	}
	for _, r := range [][2]int{{0, 8}, {100, 200}} {
		for s := r[0]; s < r[1]; s++ {
			b1[s/8] |= 0x80 >> (s % 8)
			copy(want[block+s*512:][:512], b1[bm+s*512:][:512])
		}
	}
	// Block 2: every sector the child's.
	b2 := make([]byte, bm+block)
	for i := range b2[bm:] {
		b2[bm+i] = 0x80 + byte(i/512)
	}
	for i := 0; i < bm; i++ {
		b2[i] = 0xff
	}
	copy(want[2*block:3*block], b2[bm:])
	c := child{
		footer:   pb,
		parent:   [16]byte(pb[68:84]),
		block:    block,
		entries:  int(binary.BigEndian.Uint32(pb[512+28:])),
		blocks:   map[int][]byte{1: b1, 2: b2},
		locators: locators,
		name:     "parent.vhd",
	}
	return dir, c.bytes(), want
}

func TestDifferencing(t *testing.T) {
	dir, img, want := diffFixture(t, [][2]string{{"W2ku", `C:\vms\nowhere\parent.vhd`}, {"W2ru", `.\parent.vhd`}})
	var names []string
	open := func(name string) (io.ReaderAt, int64, error) {
		names = append(names, name)
		return disktest.OpenRaw(t, filepath.Join(dir, name))
	}
	im, err := Open(bytes.NewReader(img), int64(len(img)), Options{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	if in := im.Info(); in.Variant != "differencing" || in.Parent != "./parent.vhd" || in.ParentName != "parent.vhd" || in.BlocksAlloc != 2 {
		t.Errorf("Info %+v", in)
	}
	if len(names) != 1 || names[0] != "./parent.vhd" {
		t.Errorf("opened %q", names)
	}
	disktest.Compare(t, im, want)
	if _, err := Open(bytes.NewReader(img), int64(len(img)), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("without Options.Open: %v", err)
	}
	// A missing relative path: the absolute one, then the Unicode name.
	names = nil
	open2 := func(name string) (io.ReaderAt, int64, error) {
		names = append(names, name)
		if name != "parent.vhd" {
			return nil, 0, fs.ErrNotExist
		}
		return open(name)
	}
	if _, err := Open(bytes.NewReader(img), int64(len(img)), Options{Open: open2}); err != nil || len(names) != 4 {
		t.Errorf("fallback: %v, opened %q", err, names)
	}
	// The wrong parent (its UUID differs).
	other := func(string) (io.ReaderAt, int64, error) {
		b, _ := os.ReadFile(filepath.Join(dir, "parent.vhd"))
		b[68] ^= 1
		sealFooter(b)
		return bytes.NewReader(b), int64(len(b)), nil
	}
	if _, err := Open(bytes.NewReader(img), int64(len(img)), Options{Open: other}); !isFormat(err) {
		t.Errorf("wrong parent: %v", err)
	}
	// A child of itself: the depth limit ends it.
	self := func(string) (io.ReaderAt, int64, error) { return bytes.NewReader(img), int64(len(img)), nil }
	var le *LimitError
	if _, err := Open(bytes.NewReader(img), int64(len(img)), Options{Open: self}); !errors.As(err, &le) && !isFormat(err) {
		t.Errorf("self parent: %v", err)
	}
}

func TestHostile(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	img := filepath.Join(dir, "d.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", src, img)
	good, _ := os.ReadFile(img)
	fixed := filepath.Join(dir, "f.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", src, fixed)
	goodFixed, _ := os.ReadFile(fixed)
	open := func(b []byte) (*Image, error) { return Open(bytes.NewReader(b), int64(len(b)), Options{}) }
	for _, n := range []int{0, 7, 8, 100, 511, 512, 515, 1024, 1536, 2000, len(good) / 2} {
		err := disktest.OpenRead(open, good[:n])
		if err == nil {
			t.Errorf("truncated to %d: no error", n)
		} else if !isFormat(err) && !errors.Is(err, ErrNotVPC) {
			t.Errorf("truncated to %d: %v (not a FormatError)", n, err)
		}
	}
	be := binary.BigEndian
	mod := func(base []byte, f func(b []byte), seal ...int) []byte {
		b := append([]byte(nil), base...)
		f(b)
		for _, at := range seal {
			if at == 512 {
				sealDyn(b[512:])
			} else {
				sealFooter(b[at:])
			}
		}
		return b
	}
	end := len(goodFixed) - 512
	cases := map[string][]byte{
		"bad cookie":          mod(good, func(b []byte) { b[0] = 'x' }),
		"bad checksum":        mod(good, func(b []byte) { b[70] ^= 1 }),
		"fixed bad checksum":  mod(goodFixed, func(b []byte) { b[end+70] ^= 1 }),
		"fixed bad type":      mod(goodFixed, func(b []byte) { be.PutUint32(b[end+60:], 9) }, end),
		"fixed dynamic type":  mod(goodFixed, func(b []byte) { be.PutUint32(b[end+60:], TypeDynamic) }, end),
		"fixed at start":      mod(good, func(b []byte) { be.PutUint32(b[60:], TypeFixed) }, 0),
		"type 9":              mod(good, func(b []byte) { be.PutUint32(b[60:], 9) }, 0),
		"huge size":           mod(good, func(b []byte) { copy(b[28:], "win "); be.PutUint64(b[48:], 1<<50) }, 0),
		"header past end":     mod(good, func(b []byte) { be.PutUint64(b[16:], 1<<40) }, 0),
		"header in footer":    mod(good, func(b []byte) { be.PutUint64(b[16:], 0) }, 0),
		"bad header cookie":   mod(good, func(b []byte) { b[512] = 'x' }, 512),
		"BAT past end":        mod(good, func(b []byte) { be.PutUint64(b[512+16:], 1<<40) }, 512),
		"BAT huge offset":     mod(good, func(b []byte) { be.PutUint64(b[512+16:], 1<<63+5) }, 512),
		"block size 0":        mod(good, func(b []byte) { be.PutUint32(b[512+32:], 0) }, 512),
		"block size 1000":     mod(good, func(b []byte) { be.PutUint32(b[512+32:], 1000) }, 512),
		"block size huge":     mod(good, func(b []byte) { be.PutUint32(b[512+32:], 1<<31) }, 512),
		"entries huge":        mod(good, func(b []byte) { be.PutUint32(b[512+28:], 0xffffffff) }, 512),
		"entries too few":     mod(good, func(b []byte) { be.PutUint32(b[512+28:], 1) }, 512),
		"block past end":      mod(good, func(b []byte) { be.PutUint32(b[1536:], 0x7fffffff) }),
		"block ends past end": mod(good, func(b []byte) { be.PutUint32(b[1536:], uint32(len(good)/512-10)) }),
	}
	for name, b := range cases {
		err := disktest.OpenRead(open, b)
		if err == nil || !(isFormat(err) || errors.Is(err, errors.ErrUnsupported) || errors.Is(err, ErrNotVPC)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := open([]byte("hello world, not a disk")); !errors.Is(err, ErrNotVPC) {
		t.Errorf("text: %v", err)
	}
	// A bad dynamic header checksum is a warning (qemu ignores it).
	b := mod(good, func(b []byte) { b[512+36] ^= 1 })
	if im, err := open(b); err != nil || len(im.Info().Warnings) != 1 {
		t.Errorf("dynamic header checksum: %v", err)
	}
	// Hostile parent locators.
	_, child, _ := diffFixture(t, [][2]string{{"W2ru", `.\parent.vhd`}})
	opener := Options{Open: func(string) (io.ReaderAt, int64, error) { return nil, 0, fs.ErrNotExist }}
	for name, f := range map[string]func(b []byte){
		"locator past end": func(b []byte) { be.PutUint64(b[512+576+16:], 1<<40) },
		"locator huge":     func(b []byte) { be.PutUint32(b[512+576+8:], 1<<30) },
		"no locator":       func(b []byte) { copy(b[512+576:], "xxxx"); clear(b[512+64 : 512+576]) },
	} {
		b := mod(child, f, 512)
		if _, err := Open(bytes.NewReader(b), int64(len(b)), opener); err == nil || !(isFormat(err) || errors.Is(err, errors.ErrUnsupported)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open(bytes.NewReader(child), int64(len(child)), opener); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing parent: %v", err)
	}
}

// TestOldFooter: a fixed image whose footer is 511 bytes long (made
// before Virtual PC 2004) reads as its data.
func TestOldFooter(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 3<<20)
	img := filepath.Join(dir, "f.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed,force_size=on", src, img)
	b, _ := os.ReadFile(img)
	want, _ := os.ReadFile(src)
	old := b[:len(b)-1]
	im, err := Open(bytes.NewReader(old), int64(len(old)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if len(im.Info().Warnings) == 0 {
		t.Error("no warning")
	}
	disktest.Compare(t, im, want)
}

func TestProbe(t *testing.T) {
	b := make([]byte, 512)
	copy(b, "conectix")
	if !Probe(b) || Probe(b[:6]) || Probe(make([]byte, 512)) {
		t.Fatal("Probe")
	}
	binary.BigEndian.PutUint32(b[60:], TypeFixed)
	sealFooter(b)
	if !ProbeTail(b) || ProbeTail(b[:511]) {
		t.Fatal("ProbeTail")
	}
	b[100] = 1
	if ProbeTail(b) {
		t.Fatal("ProbeTail with a bad checksum")
	}
}
