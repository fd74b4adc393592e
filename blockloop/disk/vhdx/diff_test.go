package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// makeDiff turns a copy of parent (a qemu-img dynamic VHDX with 1 MiB
// blocks and 512-byte sectors) into a differencing disk of it, as Hyper-V
// lays one out (qemu cannot make them): the has-parent bit, a parent
// locator, and a BAT with a sector bitmap entry after 4096 payload
// entries. Block 0 is NOT_PRESENT (the parent's), block 1 the child's own
// (0x5a), block 2 PARTIALLY_PRESENT (0x77 in sectors 0-7 and 100-163, the
// parent's elsewhere), block 3 ZERO. It returns the disk and what it reads.
func makeDiff(t testing.TB, parent, parentRaw []byte, name string, light bool) (child, want []byte) {
	fill := func(c byte) []byte {
		b := bytes.Repeat([]byte{c}, 1<<20)
		if light { // a small seed: the pattern in the first bytes only
			clear(b[16:])
		}
		return b
	}
	le := binary.LittleEndian
	b := append([]byte(nil), parent...)
	want = append([]byte(nil), parentRaw...)
	var batOff, metaOff int
	for i := 0; i < 2; i++ {
		e := b[regionOffset1+16+32*i:]
		switch GUID(e[:16]) {
		case guidBAT:
			batOff = int(le.Uint64(e[16:]))
		case guidMetadata:
			metaOff = int(le.Uint64(e[16:]))
		}
	}
	// Metadata: has-parent, and a locator after the last item.
	n := int(le.Uint16(b[metaOff+10:]))
	end := 0
	for i := 0; i < n; i++ {
		e := b[metaOff+32+32*i:]
		if GUID(e[:16]) == guidFileParams {
			fp := metaOff + int(le.Uint32(e[16:]))
			le.PutUint32(b[fp+4:], le.Uint32(b[fp+4:])|2)
		}
		end = max(end, int(le.Uint32(e[16:])+le.Uint32(e[20:])))
	}
	var dw GUID
	copy(dw[:], b[headerOffset1+32:])
	if le.Uint64(b[headerOffset2+8:]) > le.Uint64(b[headerOffset1+8:]) {
		copy(dw[:], b[headerOffset2+32:])
	}
	kv := [][2]string{{"parent_linkage", "{" + dw.String() + "}"}, {"relative_path", name}}
	loc := append([]byte(nil), guidVHDXParent[:]...)
	loc = le.AppendUint16(loc, 0)
	loc = le.AppendUint16(loc, uint16(len(kv)))
	var strs []byte
	soff := 20 + 12*len(kv)
	u16 := func(s string) []byte {
		var o []byte
		for _, c := range utf16.Encode([]rune(s)) {
			o = le.AppendUint16(o, c)
		}
		return o
	}
	for _, p := range kv {
		k, v := u16(p[0]), u16(p[1])
		loc = le.AppendUint32(loc, uint32(soff+len(strs)))
		loc = le.AppendUint32(loc, uint32(soff+len(strs)+len(k)))
		loc = le.AppendUint16(loc, uint16(len(k)))
		loc = le.AppendUint16(loc, uint16(len(v)))
		strs = append(strs, k...)
		strs = append(strs, v...)
	}
	loc = append(loc, strs...)
	copy(b[metaOff+end:], loc)
	e := b[metaOff+32+32*n:]
	copy(e, guidParentLoc[:])
	le.PutUint32(e[16:], uint32(end))
	le.PutUint32(e[20:], uint32(len(loc)))
	le.PutUint32(e[24:], 2|4) // virtual disk, required
	le.PutUint16(b[metaOff+10:], uint16(n+1))

	// Payload and bitmap blocks appended at the end, 1 MiB aligned.
	const blk = 1 << 20
	for len(b)%blk != 0 {
		b = append(b, 0)
	}
	bat := func(i int) []byte { return b[batOff+8*i:] }
	le.PutUint64(bat(0), blockNotPresent)
	if le.Uint64(bat(1))&7 != blockFullyPresent {
		t.Fatal("parent block 1 not present")
	}
	p1 := int(le.Uint64(bat(1)) & batOffsetMask)
	copy(b[p1:p1+blk], fill(0x5a))
	copy(want[blk:2*blk], b[p1:p1+blk])
	payload := len(b)
	b = append(b, fill(0x77)...)
	bitmap := len(b)
	b = append(b, make([]byte, blk)...)
	le.PutUint64(bat(2), uint64(payload)|blockPartiallyPresent)
	le.PutUint64(bat(4096), uint64(bitmap)|bitmapPresent)
	for _, r := range [][2]int{{0, 8}, {100, 164}} {
		for s := r[0]; s < r[1]; s++ {
			bit := 2*2048 + s // block 2 of chunk 0, 2048 sectors a block
			b[bitmap+bit/8] |= 1 << (bit % 8)
			copy(want[2*blk+512*s:2*blk+512*(s+1)], b[payload+512*s:])
		}
	}
	le.PutUint64(bat(3), blockZero)
	clear(want[3*blk : 4*blk])
	return b, want
}

func TestDifferencing(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	pimg := filepath.Join(dir, "parent.vhdx")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", src, pimg)
	parent, _ := os.ReadFile(pimg)
	child, want := makeDiff(t, parent, disktest.RawOf(t, pimg), `.\parent.vhdx`, false)
	open := func(name string) (io.ReaderAt, int64, error) {
		if name != `.\parent.vhdx` {
			t.Errorf("parent name %q", name)
		}
		return bytes.NewReader(parent), int64(len(parent)), nil
	}
	im, err := Open(bytes.NewReader(child), int64(len(child)), Options{Open: open})
	if err != nil {
		t.Fatal(err)
	}
	if info := im.Info(); info.Variant != "differencing" || info.Parent != `.\parent.vhdx` {
		t.Errorf("Info %+v", info)
	}
	disktest.Compare(t, im, want)
	if _, err := Open(bytes.NewReader(child), int64(len(child)), Options{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("without Options.Open: %v", err)
	}
	// A parent that changed since: refused.
	other := append([]byte(nil), parent...)
	for _, off := range []int{headerOffset1, headerOffset2} {
		other[off+32] ^= 1
		binary.LittleEndian.PutUint32(other[off+4:], 0)
		binary.LittleEndian.PutUint32(other[off+4:], crc32c(other[off:off+headerSize]))
	}
	wrong := func(string) (io.ReaderAt, int64, error) { return bytes.NewReader(other), int64(len(other)), nil }
	if _, err := Open(bytes.NewReader(child), int64(len(child)), Options{Open: wrong}); !isFormat(err) {
		t.Errorf("changed parent: %v", err)
	}
}
