package vmdk

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestQemuImages(t *testing.T) {
	qemu := disktest.QemuImg(t)
	qio := testkit.Tool(t, "qemu-io")
	dir, src := disktest.Source(t, 5<<20+12345)
	for _, sub := range []string{"monolithicSparse", "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", "twoGbMaxExtentFlat"} {
		t.Run(sub, func(t *testing.T) {
			img := filepath.Join(dir, sub+".vmdk")
			testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, img)
			im := openFile(t, img)
			if info := im.Info(); info.Variant != sub {
				t.Errorf("Variant %q, want %q", info.Variant, sub)
			}
			disktest.CompareQemu(t, im, img)
			if sub == "streamOptimized" {
				return // qemu cannot write into streamOptimized images
			}
			// Partially filled grains, and grains made after conversion.
			testkit.Run(t, qio, "-f", "vmdk", "-c", "write -P 0xcd 1M 64k", "-c", "write -P 0xab 4194000 1000", "-c", "write -z 0 4096", img)
			disktest.Compare(t, openFile(t, img), disktest.RawOf(t, img))
		})
	}
}

func TestZeroedGrain(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	// qemu-img has no grain size option; the zeroed-grain flag (zeroed_grain=on)
	// gives entries of 1 after a zero write.
	img := filepath.Join(dir, "z.vmdk")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "zeroed_grain=on", src, img)
	testkit.Run(t, testkit.Tool(t, "qemu-io"), "-f", "vmdk", "-c", "write -z 0 1M", img)
	disktest.Compare(t, openFile(t, img), disktest.RawOf(t, img))
}

// TestGDAtEnd rewrites a streamOptimized image as VMware streams it: the
// header says GD_AT_END and a footer (marker, header copy, end-of-stream)
// carries the real grain directory offset.
func TestGDAtEnd(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 3<<20+4096)
	img := filepath.Join(dir, "s.vmdk")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, img)
	want := disktest.RawOf(t, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	hdr := append([]byte(nil), b[:512]...)
	binary.LittleEndian.PutUint64(b[56:], gdAtEnd)
	foot := make([]byte, 1536)
	binary.LittleEndian.PutUint64(foot[0:], 1)
	binary.LittleEndian.PutUint32(foot[12:], markerFooter)
	copy(foot[512:], hdr)
	b = append(b, foot...)
	im, err := Open(bytes.NewReader(b), int64(len(b)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	disktest.Compare(t, im, want)
	// Without a footer: a clear error.
	b = b[:len(b)-1536]
	if _, err := Open(bytes.NewReader(b), int64(len(b)), Options{}); !isFormat(err) {
		t.Fatalf("GD_AT_END without footer: %v", err)
	}
}

func TestDeltaLink(t *testing.T) {
	qemu := disktest.QemuImg(t)
	qio := testkit.Tool(t, "qemu-io")
	dir, src := disktest.Source(t, 5<<20+12345)
	base := filepath.Join(dir, "base.vmdk")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", src, base)
	child := filepath.Join(dir, "child.vmdk")
	testkit.Run(t, qemu, "create", "-f", "vmdk", "-b", "base.vmdk", "-F", "vmdk", child)
	testkit.Run(t, qio, "-f", "vmdk", "-c", "write -P 0xcd 1M 64k", "-c", "write -P 0x11 3000000 100", child)
	im := openFile(t, child)
	if im.Info().Parent != "base.vmdk" {
		t.Errorf("Parent %q", im.Info().Parent)
	}
	disktest.Compare(t, im, disktest.RawOf(t, child))
	f, _ := os.Open(child)
	defer f.Close()
	st, _ := f.Stat()
	if _, err := Open(f, st.Size(), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("delta link without Options.Open: %v", err)
	}
}

func TestHostile(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	for _, sub := range []string{"monolithicSparse", "streamOptimized"} {
		img := filepath.Join(dir, sub+".vmdk")
		testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, img)
		good, _ := os.ReadFile(img)
		open := func(b []byte) (*Image, error) { return Open(bytes.NewReader(b), int64(len(b)), Options{}) }

		// Truncated anywhere: an error from Open or ReadAt, never a panic.
		for _, n := range []int{0, 3, 100, 511, 512, 600, 0x1a*512 + 10, 0x80 * 512, len(good) / 2} {
			err := disktest.OpenRead(open, good[:n])
			if err == nil {
				t.Errorf("%s truncated to %d: no error", sub, n)
			} else if !isFormat(err) && !errors.Is(err, ErrNotVMDK) {
				t.Errorf("%s truncated to %d: %v (not a FormatError)", sub, n, err)
			}
		}
		mod := func(f func(b []byte)) []byte {
			b := append([]byte(nil), good...)
			f(b)
			return b
		}
		cases := map[string][]byte{
			"gd past end":       mod(func(b []byte) { binary.LittleEndian.PutUint64(b[56:], 1<<40) }),
			"huge capacity":     mod(func(b []byte) { binary.LittleEndian.PutUint64(b[12:], 1<<52) }),
			"capacity overflow": mod(func(b []byte) { binary.LittleEndian.PutUint64(b[12:], 1<<63) }),
			"grain not pow2":    mod(func(b []byte) { binary.LittleEndian.PutUint64(b[20:], 100) }),
			"huge grain":        mod(func(b []byte) { binary.LittleEndian.PutUint64(b[20:], 1<<40) }),
			"zero gtes":         mod(func(b []byte) { binary.LittleEndian.PutUint32(b[44:], 0) }),
			"gt past end":       mod(func(b []byte) { binary.LittleEndian.PutUint32(b[0x1a*512:], 1<<30) }),
			"grain past end":    mod(func(b []byte) { binary.LittleEndian.PutUint32(b[0x1b*512:], 1<<30) }),
			"version 9":         mod(func(b []byte) { binary.LittleEndian.PutUint32(b[4:], 9) }),
		}
		for name, b := range cases {
			err := disktest.OpenRead(open, b)
			if err == nil || !(isFormat(err) || errors.Is(err, errors.ErrUnsupported)) {
				t.Errorf("%s, %s: %v", sub, name, err)
			}
		}
	}
	cowd := append([]byte("COWD"), make([]byte, 2044)...)
	if _, err := Open(bytes.NewReader(cowd), int64(len(cowd)), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("COWD: %v", err)
	}
	if _, err := Open(bytes.NewReader([]byte("hello world, not a disk")), 23, Options{}); !errors.Is(err, ErrNotVMDK) {
		t.Errorf("text: %v", err)
	}
	desc := "# Disk DescriptorFile\nversion=1\ncreateType=\"monolithicFlat\"\nRW 100 FLAT \"x-flat.vmdk\" 0\n"
	if _, err := Open(bytes.NewReader([]byte(desc)), int64(len(desc)), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("descriptor without Options.Open: %v", err)
	}
	short := func(string) (io.ReaderAt, int64, error) { return bytes.NewReader(make([]byte, 1000)), 1000, nil }
	if _, err := Open(bytes.NewReader([]byte(desc)), int64(len(desc)), Options{Open: short}); !isFormat(err) {
		t.Errorf("flat extent shorter than declared: %v", err)
	}
}

func TestProbe(t *testing.T) {
	if !Probe([]byte("KDMV\x01\x00\x00\x00")) || !Probe([]byte("# Disk DescriptorFile\n")) || Probe([]byte("QFI\xfb")) || Probe(nil) {
		t.Fatal("Probe")
	}
}

// TestDescriptorExtents reads a descriptor of FLAT (with an offset), ZERO
// and VMFS extents, names with spaces, CRLF line ends.
func TestDescriptorExtents(t *testing.T) {
	files := map[string][]byte{
		"a b-flat.vmdk": bytes.Repeat([]byte{0xaa}, 4*512),
		"c.vmdk":        bytes.Repeat([]byte{0xcc}, 3*512),
	}
	copy(files["a b-flat.vmdk"][2*512:], "start of extent 0")
	desc := "# Disk DescriptorFile\r\nversion=1\r\nCID=fffffffe\r\nparentCID=ffffffff\r\ncreateType=\"vmfs\"\r\n" +
		"RW 2 FLAT \"a b-flat.vmdk\" 2\r\nRW 3 ZERO\r\nRDONLY 3 VMFS \"c.vmdk\"\r\n"
	open := func(name string) (io.ReaderAt, int64, error) {
		b, ok := files[name]
		if !ok {
			return nil, 0, os.ErrNotExist
		}
		return bytes.NewReader(b), int64(len(b)), nil
	}
	im, err := Open(bytes.NewReader([]byte(desc)), int64(len(desc)), Options{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	want := append(append(append([]byte(nil), files["a b-flat.vmdk"][1024:]...), make([]byte, 3*512)...), files["c.vmdk"]...)
	disktest.Compare(t, im, want)
	info := im.Info()
	if info.Variant != "vmfs" || len(info.Extents) != 3 || info.Extents[0].Name != "a b-flat.vmdk" || info.Extents[0].Offset != 2 {
		t.Errorf("Info %+v", info)
	}
	// A missing extent file: the opener's error, wrapped.
	bad := strings.Replace(desc, "c.vmdk", "missing.vmdk", 1)
	if _, err := Open(bytes.NewReader([]byte(bad)), int64(len(bad)), Options{Open: open}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing extent: %v", err)
	}
	for _, line := range []string{"RW x FLAT \"a\"", "RW 1 FLAT a", "RW 1 FLAT \"a", "RW 1 FLAT \"\"", "RW -1 ZERO", "RW 1 FLAT \"a\" -5", "RW 1 SESPARSE \"a\""} {
		d := "# Disk DescriptorFile\n" + line + "\n"
		if _, err := Open(bytes.NewReader([]byte(d)), int64(len(d)), Options{Open: open}); !isFormat(err) && !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%q: %v", line, err)
		}
	}
}

// TestMultiExtent makes twoGbMaxExtent images of a 4.5 GiB disk (three
// extents) with data across the extent boundaries, and compares them with
// qemu-img's raw around the data and the boundaries.
func TestMultiExtent(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "big.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	r := rand.New(rand.NewSource(3))
	buf := make([]byte, 300000)
	for _, off := range []int64{0, 2<<30 - 100000, 4<<30 - 5, 4<<30 + 1<<29 - 300000} {
		r.Read(buf)
		f.WriteAt(buf, off)
	}
	f.Truncate(4<<30 + 1<<29)
	f.Close()
	for _, sub := range []string{"twoGbMaxExtentSparse", "twoGbMaxExtentFlat"} {
		img := filepath.Join(dir, sub+".vmdk")
		testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, img)
		im := openFile(t, img)
		if n := len(im.Info().Extents); n != 3 {
			t.Errorf("%s: %d extents", sub, n)
		}
		out := img + ".raw"
		testkit.Run(t, qemu, "convert", "-O", "raw", img, out)
		want, err := os.Open(out)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := want.Stat()
		if st.Size() != im.Size() {
			t.Fatalf("%s: Size %d, qemu-img raw %d", sub, im.Size(), st.Size())
		}
		// The MiBs around the data and the extent boundaries, and every
		// 64th (reading all 4.5 GiB of holes twice takes half a minute).
		got, exp := make([]byte, 1<<20+512), make([]byte, 1<<20+512)
		near := func(off int64) bool {
			for _, x := range []int64{0, 2<<30 - 100000, 2 << 30, 4<<30 - 5, 4 << 30, 4<<30 + 1<<29 - 300000} {
				if off > x-3<<20 && off < x+3<<20 {
					return true
				}
			}
			return off%(64<<20) < int64(len(got))
		}
		for off := int64(0); off < im.Size(); off += int64(len(got)) {
			if !near(off) {
				continue
			}
			n, _ := im.ReadAt(got, off)
			m, _ := want.ReadAt(exp, off)
			if n != m || !bytes.Equal(got[:n], exp[:m]) {
				t.Fatalf("%s: differs from qemu-img's raw at %d", sub, off)
			}
		}
		want.Close()
		os.Remove(out)
	}
}
