// Package udftest builds UDF fixtures for the tests of package udf and
// userfs: a real image (mkudffs, then udfclient) where one file is patched
// to be over 4 GiB, most of it unrecorded, on an image of 16 MiB that
// costs a few KiB of disk.
package udftest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/udf"
	"github.com/loops-cli/loops/internal/testkit"
)

// Big is an image holding one file over 4 GiB (BigFile).
//
// The file is 4.5 GiB + len(EndMarker) bytes:
//
//	[0, 4 GiB - 4 KiB)            holes: extents "not allocated" and
//	                              "allocated but not recorded" (types 2
//	                              and 1), each at most 2^30 - 2048 bytes,
//	                              the first two in the file entry, the
//	                              rest in an allocation extent descriptor
//	[4 GiB - 4 KiB, 4 GiB + 4 KiB) recorded: 4 blocks of pattern, the
//	                              second ending with Before4G, the third
//	                              starting with At4G
//	[4 GiB + 4 KiB, 4.5 GiB - 2 KiB) a hole ("allocated but not recorded")
//	[4.5 GiB - 2 KiB, Size)       recorded: a block of pattern, then
//	                              EndMarker (the last extent, not a whole
//	                              block)
type Big struct {
	Path string // the image file
	Name string // the file's path in the image
	Size int64  // the file's size
	// Extents are the file's extents as udf reports them (holes merged):
	// a hole, the 4 recorded blocks across 4 GiB, a hole, the tail.
	Extents []udf.Extent
	// Recorded are the file's recorded ranges and their bytes.
	Recorded []Piece
}

// Piece is a range of the file that holds data.
type Piece struct {
	Off  int64
	Data []byte
}

// Markers in the file's data.
const (
	Before4G  = "[before 4 GiB]\n" // ends at 4 GiB
	At4G      = "[at 4 GiB]\n"     // starts at 4 GiB
	EndMarker = "[udftest: the end of the big file]\n"
)

const (
	bs    = 2048
	gib   = int64(1) << 30
	four  = int64(1) << 32
	maxAD = gib - bs // the longest extent a descriptor records in whole blocks

	// Volume names mkudffs writes with these options, and the directory
	// udfclient shows.
	uuid  = "0123456789abcdef"
	label = "L"
	vol   = uuid + "LinuxUDF:" + label + ":" + label + ":LinuxUDF"

	imageSize = 16 << 20 // bytes, sparse
	dataBlks  = 8        // blocks of the file udfclient writes
)

// Size is the big file's size: 4.5 GiB + len(EndMarker).
const Size = 4*gib + gib/2 + int64(len(EndMarker))

// Want is what the file holds in [off, off+n), clipped to Size: zeros in
// the holes, the recorded bytes elsewhere.
func (b *Big) Want(off, n int64) []byte {
	if off >= b.Size {
		return nil
	}
	n = min(n, b.Size-off)
	out := make([]byte, n)
	for _, p := range b.Recorded {
		lo, hi := max(off, p.Off), min(off+n, p.Off+int64(len(p.Data)))
		if lo < hi {
			copy(out[lo-off:hi-off], p.Data[lo-p.Off:hi-p.Off])
		}
	}
	return out
}

// Probe is a range Check reads.
type Probe struct {
	Off, Len int64
	What     string
}

// Probes are the ranges Check reads: across 4 GiB, the recorded blocks
// there and the holes around them, the holes' first bytes and the
// boundaries between their descriptors, the tail and the end.
func (b *Big) Probes() []Probe {
	return []Probe{
		{four - 10, 20, "4 GiB - 10 .. 4 GiB + 10"},
		{four - 2*bs - 100, 4*bs + 200, "the recorded blocks across 4 GiB and the holes around them"},
		{0, 8192, "the start (a hole)"},
		{maxAD - 50, 100, "between the first two hole descriptors"},
		{2*maxAD - 50, 100, "between the entry's descriptors and the AED's"},
		{3*maxAD + 1000, 5000, "a hole in the AED"},
		{four + 2*bs, 4096, "the hole after 4 GiB"},
		{4*gib + gib/2 - bs - 4096, 4096 + 100, "the end of the last hole, the start of the tail"},
		{b.Size - 100, 100, "the end"},
	}
}

// Check reads the probes through r and compares them with Want, then
// reads across the end and past it (io.EOF).
func (b *Big) Check(t testing.TB, r io.ReaderAt) {
	t.Helper()
	for _, p := range b.Probes() {
		got := make([]byte, p.Len)
		n, err := r.ReadAt(got, p.Off)
		if n != len(got) || err != nil && !(err == io.EOF && p.Off+p.Len == b.Size) {
			t.Errorf("%s: read %d of %d bytes at %d: %v", p.What, n, p.Len, p.Off, err)
			continue
		}
		if want := b.Want(p.Off, p.Len); !bytes.Equal(got, want) {
			i := 0
			for got[i] == want[i] {
				i++
			}
			j := min(i+32, len(got))
			t.Errorf("%s: at byte %d got %q, want %q", p.What, p.Off+int64(i), got[i:j], want[i:j])
		}
	}
	if got, want := b.Want(four-int64(len(Before4G)), int64(len(Before4G)+len(At4G))), Before4G+At4G; string(got) != want {
		t.Fatalf("fixture: %q across 4 GiB, want %q", got, want)
	}
	if got := b.Want(b.Size-int64(len(EndMarker)), 1000); string(got) != EndMarker {
		t.Fatalf("fixture: %q at the end", got)
	}
	buf := make([]byte, 200)
	n, err := r.ReadAt(buf, b.Size-int64(len(EndMarker)))
	if n != len(EndMarker) || err != io.EOF || string(buf[:n]) != EndMarker {
		t.Errorf("read across the end: %d bytes %q, %v; want %d bytes, io.EOF", n, buf[:n], err, len(EndMarker))
	}
	for _, off := range []int64{b.Size, b.Size + 1, b.Size + 5*gib} {
		if n, err := r.ReadAt(buf, off); n != 0 || err != io.EOF {
			t.Errorf("read at %d (size %d): %d bytes, %v; want io.EOF", off, b.Size, n, err)
		}
	}
}

// pattern is block i of the file udfclient writes: printable bytes that
// differ from block to block and from 0.
func pattern(i int) []byte {
	b := make([]byte, bs)
	for j := range b {
		b[j] = 'a' + byte((j*7+i*13)%26)
	}
	copy(b, fmt.Sprintf("<udftest block %d>\n", i))
	return b
}

// BigFile makes a Big image: mkudffs (hd, 2048-byte blocks, UDF 2.01) on a
// sparse 16 MiB file (udfclient finds 8 MiB full), udfclient writes
// big/huge.bin (8 blocks), and its file entry is patched (the tags
// recomputed) to describe a 4.5 GiB file.
// The image is rewritten sparse at the end. It skips the test when
// mkudffs or udfclient are missing (fails under CI=true).
func BigFile(t testing.TB) *Big {
	t.Helper()
	mk := testkit.Tool(t, "mkudffs")
	uc := testkit.Tool(t, "udfclient")
	tmp := t.TempDir()

	// The source: blocks 1 and 2 meet at 4 GiB, block 5 starts with the
	// end marker.
	var data []byte
	for i := range dataBlks {
		data = append(data, pattern(i)...)
	}
	copy(data[2*bs-len(Before4G):], Before4G)
	copy(data[2*bs:], At4G)
	copy(data[5*bs:], EndMarker)
	src := filepath.Join(tmp, "src", "big")
	if err := os.MkdirAll(src, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(src, "huge.bin"), data, 0o644); err != nil {
		t.Fatal(err)
	}

	img := filepath.Join(tmp, "big.udf")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(img, imageSize); err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, mk, "--uuid="+uuid, "--label="+label, "--blocksize=2048", "--media-type=hd", "--udfrev=2.01", img)
	cmd := testkit.Command(uc, "-b", "2048", "-W", img)
	cmd.Dir = filepath.Dir(src)
	cmd.Stdin = strings.NewReader("cd " + vol + "\nmput big\nsync\nquit\n")
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "rror") || strings.Contains(string(out), "No space") {
		t.Fatalf("udfclient: %v\n%s", err, out)
	}

	b, err := patch(img, data)
	if err != nil {
		t.Fatalf("%s: %v", img, err)
	}
	if err := resparse(img); err != nil {
		t.Fatal(err)
	}
	return b
}

// ad is an allocation descriptor: an extent of typ (0 recorded, 1
// allocated but not recorded, 2 not allocated, 3 the next allocation
// extent descriptor).
type ad struct {
	length int64
	typ    uint32
	lbn    uint32
}

// patch rewrites the file entry of big/huge.bin (data is what udfclient
// wrote).
func patch(img string, data []byte) (*Big, error) {
	raw, err := os.ReadFile(img)
	if err != nil {
		return nil, err
	}
	f, err := udf.Open(bytes.NewReader(raw), int64(len(raw)))
	if err != nil {
		return nil, err
	}
	e, err := f.Lookup("big/huge.bin")
	if err != nil {
		return nil, err
	}
	if e.Size != int64(len(data)) || len(e.Extents) != 1 || e.Extents[0].Zero || e.Extents[0].Length != int64(len(data)) {
		return nil, fmt.Errorf("udfclient wrote huge.bin as %d bytes in %+v, want one recorded extent of %d", e.Size, e.Extents, len(data))
	}
	dataOff := e.Extents[0].Offset
	if !bytes.Equal(raw[dataOff:dataOff+int64(len(data))], data) {
		return nil, errors.New("huge.bin's data is not at its extent")
	}
	// Ino is the ICB's partition reference and block, plus 1.
	icbPart, icbLBN := uint16((e.Ino-1)>>32), uint32(e.Ino-1)
	pstart, err := partitionStart(raw, icbPart)
	if err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	feOff := (pstart + int64(icbLBN)) * bs
	fe := raw[feOff : feOff+bs]
	ident := le.Uint16(fe)
	if (ident != 261 && ident != 266) || le.Uint32(fe[12:]) != icbLBN {
		return nil, fmt.Errorf("no file entry at block %d of partition %d (tag %d)", icbLBN, icbPart, ident)
	}
	base := 176
	if ident == 266 {
		base = 216
	}
	lea := int(le.Uint32(fe[base-8:]))
	adType := le.Uint16(fe[16+18:]) & 7
	if adType > 1 {
		return nil, fmt.Errorf("huge.bin: allocation descriptor type %d (short_ad or long_ad expected)", adType)
	}
	ads := fe[base+lea:]
	d0 := le.Uint32(ads[4:]) // the data's first block
	if (pstart+int64(d0))*bs != dataOff {
		return nil, fmt.Errorf("huge.bin: descriptor block %d is not at byte %d", d0, dataOff)
	}
	var part uint16
	if adType == 1 {
		part = le.Uint16(ads[8:])
	}
	blk := func(i int) uint32 { return d0 + uint32(i) }
	encode := func(list []ad) []byte {
		var out []byte
		for _, x := range list {
			out = le.AppendUint32(out, uint32(x.length)|x.typ<<30)
			out = le.AppendUint32(out, x.lbn)
			if adType == 1 {
				out = le.AppendUint16(out, part)
				out = append(out, make([]byte, 6)...)
			}
		}
		return out
	}
	// holes splits n bytes of hole into descriptors of at most maxAD bytes,
	// "not allocated" and "allocated but not recorded" in turn.
	holes := func(n int64, typ uint32) []ad {
		var out []ad
		for n > 0 {
			l := min(n, maxAD)
			out = append(out, ad{length: l, typ: typ})
			typ = 3 - typ
			n -= l
		}
		return out
	}
	first := holes(four-2*bs, 2)
	tailOff := 4*gib + gib/2 - bs
	inEntry := append(first[:2:2], ad{length: bs, typ: 3, lbn: blk(6)})
	inAED := append(first[2:], ad{length: 4 * bs, lbn: blk(0)})
	inAED = append(inAED, holes(tailOff-(four+2*bs), 1)...)
	inAED = append(inAED, ad{length: Size - tailOff, lbn: blk(4)})

	// The allocation extent descriptor, in block 6 of the data.
	aedOff := dataOff + 6*bs
	aed := raw[aedOff : aedOff+bs]
	clear(aed)
	enc := encode(inAED)
	le.PutUint16(aed[0:], 258)
	copy(aed[2:4], fe[2:4]) // descriptor version
	copy(aed[6:8], fe[6:8]) // serial number
	le.PutUint32(aed[12:], blk(6))
	le.PutUint32(aed[20:], uint32(len(enc)))
	copy(aed[24:], enc)
	retag(aed, 24+len(enc)-16)

	// The file entry: its descriptors, information length (and object
	// size), logical blocks recorded (6 of data, the AED).
	enc = encode(inEntry)
	clear(fe[base+lea:])
	copy(fe[base+lea:], enc)
	le.PutUint32(fe[base-4:], uint32(len(enc)))
	le.PutUint64(fe[56:], uint64(Size))
	if ident == 266 {
		le.PutUint64(fe[64:], uint64(Size))
		le.PutUint64(fe[72:], 7)
	} else {
		le.PutUint64(fe[64:], 7)
	}
	retag(fe, base+lea+len(enc)-16)

	fh, err := os.OpenFile(img, os.O_WRONLY, 0)
	if err != nil {
		return nil, err
	}
	for _, off := range []int64{aedOff, feOff} {
		if _, err := fh.WriteAt(raw[off:off+bs], off); err != nil {
			fh.Close()
			return nil, err
		}
	}
	if err := fh.Close(); err != nil {
		return nil, err
	}
	return &Big{
		Path: img,
		Name: "big/huge.bin",
		Size: Size,
		Extents: []udf.Extent{
			{Length: four - 2*bs, Zero: true},
			{Offset: dataOff, Length: 4 * bs},
			{Length: tailOff - (four + 2*bs), Zero: true},
			{Offset: dataOff + 4*bs, Length: Size - tailOff},
		},
		Recorded: []Piece{
			{four - 2*bs, data[:4*bs]},
			{tailOff, data[4*bs : 4*bs+Size-tailOff]},
		},
	}, nil
}

// partitionStart is the first block of partition ref: the starting
// location of the first partition descriptor (tag 5) found, with a good
// tag checksum (mkudffs makes one partition, number 0, mapped as 0).
func partitionStart(raw []byte, ref uint16) (int64, error) {
	if ref != 0 {
		return 0, fmt.Errorf("partition reference %d", ref)
	}
	for off := 0; off+bs <= len(raw); off += bs {
		d := raw[off:]
		if binary.LittleEndian.Uint16(d) != 5 || checksum(d) != d[4] || binary.LittleEndian.Uint16(d[22:]) != 0 {
			continue
		}
		return int64(binary.LittleEndian.Uint32(d[188:])), nil
	}
	return 0, errors.New("no partition descriptor")
}

func checksum(d []byte) byte {
	var s byte
	for i := range 16 {
		if i != 4 {
			s += d[i]
		}
	}
	return s
}

// retag recomputes the CRC (over crcLen bytes after the tag) and the
// checksum of the descriptor d.
func retag(d []byte, crcLen int) {
	binary.LittleEndian.PutUint16(d[10:], uint16(crcLen))
	binary.LittleEndian.PutUint16(d[8:], crc16(d[16:16+crcLen]))
	d[4] = checksum(d)
}

// crc16 is the CRC-16 of descriptor tags (CRC-CCITT: polynomial 0x1021,
// initial 0, not reflected).
func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c ^= uint16(x) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
	}
	return c
}

// resparse rewrites img with its zero blocks as holes: mkudffs writes its
// erased zones, which would cost half a MiB of disk.
func resparse(img string) error {
	raw, err := os.ReadFile(img)
	if err != nil {
		return err
	}
	tmp := img + ".sparse"
	fh, err := os.Create(tmp)
	if err != nil {
		return err
	}
	for off := 0; off < len(raw); off += 4096 {
		blk := raw[off:min(off+4096, len(raw))]
		if bytes.Count(blk, []byte{0}) == len(blk) {
			continue
		}
		if _, err := fh.WriteAt(blk, int64(off)); err != nil {
			fh.Close()
			return err
		}
	}
	if err := fh.Truncate(int64(len(raw))); err != nil {
		fh.Close()
		return err
	}
	if err := fh.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, img)
}
