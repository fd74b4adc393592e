package vpc

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen from qemu-img
// images when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is
// how they were made). qemu-img always makes 2 MiB blocks: the dynamic
// and differencing seeds keep the footer of a qemu-img image of a 64 KiB
// disk and are laid out again with 512-byte blocks (see child), a few of
// them allocated; the fixed seed is a qemu-img fixed image's footer after
// the first 1 KiB of its data (the rest reads as zeros).
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	qemu := disktest.QemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	b := make([]byte, 16<<10)
	copy(b[10:], "hello, block 0")
	copy(b[1024+10:], "hello, block 2")
	os.WriteFile(src, b, 0o644)
	dyn := filepath.Join(dir, "d.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", src, dyn)
	fixed := filepath.Join(dir, "f.vhd")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vpc", "-o", "subformat=fixed", src, fixed)
	db, _ := os.ReadFile(dyn)
	fb, _ := os.ReadFile(fixed)

	// A block: its bitmap (none in a dynamic image of 512-byte blocks, as
	// qemu reckons it), then its data.
	blk := func(off int, bitmap byte, diff bool) []byte {
		if !diff {
			return append([]byte(nil), b[off:off+512]...)
		}
		x := make([]byte, 1024)
		x[0] = bitmap
		copy(x[512:], b[off:off+512])
		return x
	}
	entries := int(binary.BigEndian.Uint64(db[48:]) / 512)
	d := child{typ: TypeDynamic, footer: db, block: 512, entries: entries, blocks: map[int][]byte{0: blk(0, 0x80, false), 2: blk(1024, 0xff, false)}}
	raw := d.bytes()
	im, err := Open(bytes.NewReader(raw), int64(len(raw)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(b))
	im.ReadAt(got, 0)
	if !bytes.Equal(got, b) {
		t.Fatalf("dynamic seed reads differently at %d: %+v", disktest.FirstDiff(got, b), im.Info())
	}
	testkit.WriteSeed(t, "FuzzOpen", "dynamic", raw)
	// Its parent (in FuzzOpen) is itself made dynamic: block 0 the child's,
	// block 2 the parent's.
	c := d
	c.typ = TypeDiff
	c.parent = [16]byte(raw[68:84])
	c.parent[0] ^= 0x5a // the UUID child.bytes gives the image
	c.blocks = map[int][]byte{0: blk(0, 0x80, true), 2: blk(1024, 0, true)}
	c.locators = [][2]string{{"W2ru", `.\parent.vhd`}}
	c.name = "parent.vhd"
	testkit.WriteSeed(t, "FuzzOpen", "differencing", c.bytes())
	testkit.WriteSeed(t, "FuzzOpen", "fixed", append(append([]byte(nil), fb[:1024]...), fb[len(fb)-FooterSize:]...))
}
