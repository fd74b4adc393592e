package udf

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"os"
	"strings"
	"testing"
	"unicode/utf16"
	"unicode/utf8"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// The tests here take a real image (mkudffs + udfclient) and patch what no
// Debian tool writes (symbolic links, hard links, a metadata partition,
// allocation extent descriptors) or what a hostile image would hold, with
// the descriptor tags recomputed so that only the patched meaning differs.

// memImage is an image in memory, to patch.
type memImage struct {
	b  []byte
	bs int64
}

func loadImage(t testing.TB, name string) *memImage {
	t.Helper()
	imgs, _ := udfclientImages(t)
	b, err := os.ReadFile(imgs[name])
	if err != nil {
		t.Fatal(err)
	}
	var bs int64
	for _, tc := range udfclientCases {
		if tc.name == name {
			bs = int64(tc.bs)
		}
	}
	return &memImage{b: b, bs: bs}
}

func (m *memImage) open() (*FS, error) { return Open(bytes.NewReader(m.b), int64(len(m.b))) }

func (m *memImage) mustOpen(t testing.TB) *FS {
	t.Helper()
	f, err := m.open()
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func lookup(t testing.TB, f *FS, p string) *Entry {
	t.Helper()
	e, err := f.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// icbOff is the byte offset of e's file entry in the image.
func icbOff(t testing.TB, f *FS, a lbAddr) int64 {
	t.Helper()
	exts, err := f.mapExtent(nil, a, f.bs, nil)
	if err != nil || len(exts) != 1 {
		t.Fatalf("ICB %+v: %v %v", a, exts, err)
	}
	return exts[0].Offset
}

// retag recomputes the CRC (over crcLen bytes, or the recorded length when
// crcLen < 0) and the checksum of the descriptor at off.
func (m *memImage) retag(off int64, crcLen int) {
	d := m.b[off:]
	if crcLen < 0 {
		crcLen = int(binary.LittleEndian.Uint16(d[10:]))
	}
	binary.LittleEndian.PutUint16(d[10:], uint16(crcLen))
	binary.LittleEndian.PutUint16(d[8:], crc16(d[16:16+crcLen]))
	var s byte
	for i := 0; i < 16; i++ {
		if i != 4 {
			s += d[i]
		}
	}
	d[4] = s
}

// feLayout is where a file entry's fields are: the start of its extended
// attributes.
func (m *memImage) feBase(off int64) int64 {
	if binary.LittleEndian.Uint16(m.b[off:]) == tagExtFileEntry {
		return 216
	}
	return 176
}

// retagFE recomputes a file entry's tag over its whole used length.
func (m *memImage) retagFE(off int64) {
	base := m.feBase(off)
	lea := int64(binary.LittleEndian.Uint32(m.b[off+base-8:]))
	lad := int64(binary.LittleEndian.Uint32(m.b[off+base-4:]))
	m.retag(off, int(base+lea+lad-16))
}

// setFEData replaces a file entry's allocation descriptors (or embedded
// data) with ads, and its information length with size.
func (m *memImage) setFEData(off int64, adType int, ads []byte, size int64) {
	base := m.feBase(off)
	lea := int64(binary.LittleEndian.Uint32(m.b[off+base-8:]))
	flags := binary.LittleEndian.Uint16(m.b[off+16+18:])
	binary.LittleEndian.PutUint16(m.b[off+16+18:], flags&^7|uint16(adType))
	copy(m.b[off+base+lea:off+m.bs], make([]byte, m.bs))
	copy(m.b[off+base+lea:], ads)
	binary.LittleEndian.PutUint32(m.b[off+base-4:], uint32(len(ads)))
	binary.LittleEndian.PutUint64(m.b[off+56:], uint64(size))
	if base == 216 {
		binary.LittleEndian.PutUint64(m.b[off+64:], uint64(size))
	}
	m.retagFE(off)
}

// fidOff is the byte offset in the image of the identifier of name in
// directory dir, and of the file entry to retag when the directory's data
// is embedded in it (else -1).
func (m *memImage) fidOff(t testing.TB, f *FS, dir *Entry, name string) (int64, int64) {
	t.Helper()
	ic := dir.dirICB
	start, feOff := int64(0), int64(-1)
	if ic.adType == adEmbedded {
		start, feOff = ic.adsOff, ic.off
	} else {
		exts, err := f.fileExtents(ic)
		if err != nil || len(exts) != 1 {
			t.Fatalf("%s: %v %v", dir.Name, exts, err)
		}
		start = exts[0].Offset
	}
	for pos := start; pos < start+ic.size; {
		fd, n, err := parseFID(m.b[pos:start+ic.size], pos)
		if err != nil {
			t.Fatal(err)
		}
		if decodeCS0(fd.name) == name {
			return pos, feOff
		}
		pos += int64(n)
	}
	t.Fatalf("%s: no %s", dir.Name, name)
	return 0, 0
}

// pointFID makes the identifier of name in dir name the ICB at a.
func (m *memImage) pointFID(t testing.TB, f *FS, dir *Entry, name string, a lbAddr) {
	t.Helper()
	off, feOff := m.fidOff(t, f, dir, name)
	binary.LittleEndian.PutUint32(m.b[off+24:], a.lbn)
	binary.LittleEndian.PutUint16(m.b[off+28:], a.part)
	m.retag(off, -1)
	if feOff >= 0 {
		m.retagFE(feOff)
	}
}

// freeBlock is a zero block near the end of partition 0, i blocks back.
func (m *memImage) freeBlock(t testing.TB, f *FS, i int) uint32 {
	t.Helper()
	p := f.parts[0]
	lbn := p.length - 16 - uint32(i)
	off := (int64(p.start) + int64(lbn)) * m.bs
	if !readkit.AllZero(m.b[off : off+m.bs]) {
		t.Fatalf("block %d is not free", lbn)
	}
	return lbn
}

func pathComponent(typ byte, name string) []byte {
	b := []byte{typ, 0, 0, 0}
	if name == "" {
		return b
	}
	if utf8.ValidString(name) && len([]rune(name)) == len(name) {
		b[1] = byte(len(name) + 1)
		b = append(b, 8)
		return append(b, name...)
	}
	u := utf16.Encode([]rune(name))
	b[1] = byte(2*len(u) + 1)
	b = append(b, 16)
	for _, c := range u {
		b = binary.BigEndian.AppendUint16(b, c)
	}
	return b
}

// TestSymlink: path components decode to the target, absolute and
// relative, with "/" in a component made safe.
func TestSymlink(t *testing.T) {
	m := loadImage(t, "hd-2048-2.01")
	f := m.mustOpen(t)
	for _, tc := range []struct {
		file   string
		comps  [][]byte
		target string
	}{
		{"t/hello.txt", [][]byte{pathComponent(2, ""), pathComponent(5, "etc"), pathComponent(5, "passwd")}, "/etc/passwd"},
		{"t/empty", [][]byte{pathComponent(4, ""), pathComponent(3, ""), pathComponent(5, "dir"), pathComponent(5, "na/me")}, "./../dir/na_me"},
		{"t/sub/small.bin", [][]byte{pathComponent(5, "x"), pathComponent(1, ""), pathComponent(5, "café")}, "/café"},
	} {
		e := lookup(t, f, tc.file)
		off := icbOff(t, f, e.icb)
		m.b[off+16+11] = ftSymlink
		data := bytes.Join(tc.comps, nil)
		m.setFEData(off, adEmbedded, data, int64(len(data)))
	}
	f = m.mustOpen(t)
	for file, target := range map[string]string{"t/hello.txt": "/etc/passwd", "t/empty": "./../dir/na_me", "t/sub/small.bin": "/café"} {
		e := lookup(t, f, file)
		if e.Target != target || e.Mode&fs.ModeSymlink == 0 || e.UnixMode()&0o170000 != 0o120000 || e.Size != int64(len(target)) || e.DataErr() != nil {
			t.Errorf("%s: %q mode %o size %d %v", file, e.Target, e.UnixMode(), e.Size, e.DataErr())
		}
	}
}

// TestHardLink: two identifiers naming one ICB share Ino and data; Nlink
// is the entry's link count.
func TestHardLink(t *testing.T) {
	m := loadImage(t, "hd-2048-2.01")
	f := m.mustOpen(t)
	hello := lookup(t, f, "t/hello.txt")
	off := icbOff(t, f, hello.icb)
	binary.LittleEndian.PutUint16(m.b[off+48:], 2)
	m.retagFE(off)
	m.pointFID(t, f, lookup(t, f, "t/sub"), "small.bin", hello.icb)
	f = m.mustOpen(t)
	a, b := lookup(t, f, "t/hello.txt"), lookup(t, f, "t/sub/small.bin")
	if a.Ino != b.Ino || a.Nlink != 2 || b.Nlink != 2 || b.Size != 6 {
		t.Errorf("hard links: %+v %+v", a, b)
	}
	if lookup(t, f, "t/sub").Ino == a.Ino || f.Root().Ino == a.Ino {
		t.Error("inode numbers collide")
	}
}

// TestTreeLoops: identifiers naming the directory itself, the root, or a
// directory listed elsewhere are left out; the walk ends.
func TestTreeLoops(t *testing.T) {
	m := loadImage(t, "hd-2048-2.01")
	f := m.mustOpen(t)
	sub := lookup(t, f, "t/sub")
	m.pointFID(t, f, sub, "x", sub.icb)
	m.pointFID(t, f, sub, "empty-dir", f.Root().icb)
	m.pointFID(t, f, lookup(t, f, "t/a/b"), "c", lookup(t, f, "t/a").icb)
	f = m.mustOpen(t)
	got := walkFS(t, f)
	for _, p := range []string{"t/sub/x", "t/sub/empty-dir", "t/a/b/c"} {
		if _, ok := got[p]; ok {
			t.Errorf("%s is listed", p)
		}
	}
	if _, ok := got["t/sub/small.bin"]; !ok {
		t.Errorf("t/sub lost its files: %v", keys(got))
	}
}

// encodeADs encodes extents as short_ad, long_ad or ext_ad.
func encodeADs(adType int, exts []lext) []byte {
	var b []byte
	for _, x := range exts {
		raw := uint32(x.length) | uint32(x.typ)<<30
		switch adType {
		case adShort:
			b = binary.LittleEndian.AppendUint32(b, raw)
			b = binary.LittleEndian.AppendUint32(b, x.addr.lbn)
		case adLong:
			b = binary.LittleEndian.AppendUint32(b, raw)
			b = binary.LittleEndian.AppendUint32(b, x.addr.lbn)
			b = binary.LittleEndian.AppendUint16(b, x.addr.part)
			b = append(b, make([]byte, 6)...)
		case adExt:
			b = binary.LittleEndian.AppendUint32(b, raw)
			b = binary.LittleEndian.AppendUint32(b, uint32(x.length)) // recorded length
			b = binary.LittleEndian.AppendUint32(b, uint32(x.length)) // information length
			b = binary.LittleEndian.AppendUint32(b, x.addr.lbn)
			b = binary.LittleEndian.AppendUint16(b, x.addr.part)
			b = append(b, 0, 0)
		}
	}
	return b
}

// writeAED writes an allocation extent descriptor at block lbn of
// partition 0.
func (m *memImage) writeAED(f *FS, lbn uint32, ads []byte) {
	off := (int64(f.parts[0].start) + int64(lbn)) * m.bs
	d := m.b[off : off+m.bs]
	clear(d)
	binary.LittleEndian.PutUint16(d[0:], tagAED)
	binary.LittleEndian.PutUint16(d[2:], 3)
	binary.LittleEndian.PutUint32(d[12:], lbn)
	binary.LittleEndian.PutUint32(d[20:], uint32(len(ads)))
	copy(d[24:], ads)
	m.retag(off, 24+len(ads)-16)
}

// TestAllocationExtents: a file's descriptors continued in two allocation
// extent descriptors read the same data; an extent allocated but not
// recorded reads as zeros; a chain that loops is an error, not a hang.
func TestAllocationExtents(t *testing.T) {
	for _, tc := range []struct {
		name   string
		adType int // -1: the image's own
	}{{"hd-2048-2.01", -1}, {"hd-2048-2.01-long-noefe", -1}, {"hd-2048-2.01", adExt}} {
		name := tc.name
		label := name
		if tc.adType == adExt {
			label += "-ext_ad"
		}
		t.Run(label, func(t *testing.T) {
			m := loadImage(t, name)
			f := m.mustOpen(t)
			_, want := udfclientImages(t)
			e := lookup(t, f, "t/big.bin")
			off := icbOff(t, f, e.icb)
			ic, err := f.readICB(e.icb)
			if err != nil {
				t.Fatal(err)
			}
			exts, _, _ := parseADs(ic.ads, ic.adType, ic.addr.part, 0)
			if len(exts) != 1 || exts[0].length != e.Size {
				t.Fatalf("big.bin: %+v", exts)
			}
			x := exts[0]
			if tc.adType >= 0 {
				ic.adType = tc.adType
			}
			const mib = 1 << 20
			piece := func(i int64, n int64, typ byte) lext {
				return lext{addr: lbAddr{lbn: x.addr.lbn + uint32(i*mib/m.bs), part: x.addr.part}, length: n, typ: typ}
			}
			a, b := m.freeBlock(t, f, 0), m.freeBlock(t, f, 1)
			next := func(lbn uint32) lext {
				return lext{addr: lbAddr{lbn: lbn, part: x.addr.part}, length: m.bs, typ: extNext}
			}
			build := func(midType byte, loop bool) {
				m.setFEData(off, ic.adType, encodeADs(ic.adType, []lext{piece(0, mib, 0), next(a)}), e.Size)
				m.writeAED(f, a, encodeADs(ic.adType, []lext{piece(1, mib, midType), next(b)}))
				last := []lext{piece(2, x.length-2*mib, 0)}
				if loop {
					last = []lext{next(a)}
				}
				m.writeAED(f, b, encodeADs(ic.adType, last))
			}
			build(extRecorded, false)
			got := walkFS(t, m.mustOpen(t))
			if g, w := got["t/big.bin"], want["t/big.bin"]; g.Mode != w.Mode || g.Size != w.Size || g.SHA256 != w.SHA256 {
				t.Errorf("big.bin through AEDs: %+v", got["t/big.bin"])
			}

			build(extAllocated, false)
			e = lookup(t, m.mustOpen(t), "t/big.bin")
			buf := make([]byte, e.Size+10)
			n, err := e.ReaderAt().ReadAt(buf, 0)
			if int64(n) != e.Size || err != io.EOF && err != nil || !readkit.AllZero(buf[mib:2*mib]) || readkit.AllZero(buf[:mib]) || readkit.AllZero(buf[2*mib:n]) {
				t.Errorf("allocated extent: %d %v", n, err)
			}
			if len(e.Extents) != 3 || !e.Extents[1].Zero {
				t.Errorf("extents %+v", e.Extents)
			}

			build(extRecorded, true)
			e = lookup(t, m.mustOpen(t), "t/big.bin")
			if err := e.DataErr(); err == nil || !strings.Contains(err.Error(), "loop") {
				t.Errorf("AED loop: %v", err)
			}
			if _, err := e.ReaderAt().ReadAt(buf[:1], 0); err == nil {
				t.Error("AED loop: data read")
			}
		})
	}
}
