package udf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

// blocksWithTag are the blocks of the image holding a valid descriptor with
// tag ident at their own location.
func (m *memImage) blocksWithTag(ident uint16) []int64 {
	var out []int64
	for blk := int64(0); (blk+1)*m.bs <= int64(len(m.b)); blk++ {
		d := m.b[blk*m.bs : (blk+1)*m.bs]
		if binary.LittleEndian.Uint16(d) != ident {
			continue
		}
		if t, err := parseTag(d, 0); err == nil && int64(t.location) == blk {
			out = append(out, blk)
		}
	}
	return out
}

// TestMetadataPartition: a metadata partition map (UDF 2.50, Blu-ray) added
// to a real image, its metadata file covering the physical partition, the
// file set and root directory addressed through it; then with the metadata
// file broken, through its mirror.
func TestMetadataPartition(t *testing.T) {
	_, want := udfclientImages(t)
	for _, mirror := range []bool{false, true} {
		m := loadImage(t, "hd-2048-2.01")
		f := m.mustOpen(t)
		p0 := f.parts[0]
		size := int64(p0.length) * m.bs
		writeMeta := func(lbn uint32, ft byte) int64 {
			off := (int64(p0.start) + int64(lbn)) * m.bs
			d := m.b[off : off+m.bs]
			binary.LittleEndian.PutUint16(d[0:], tagFileEntry)
			binary.LittleEndian.PutUint16(d[2:], 3)
			binary.LittleEndian.PutUint32(d[12:], lbn)
			binary.LittleEndian.PutUint16(d[16+4:], 4)
			d[16+11] = ft
			binary.LittleEndian.PutUint32(d[36:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint32(d[40:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint16(d[48:], 1)
			binary.LittleEndian.PutUint64(d[56:], uint64(size))
			binary.LittleEndian.PutUint32(d[172:], 8)
			binary.LittleEndian.PutUint32(d[176:], uint32(size))
			m.retag(off, 176+8-16)
			return off
		}
		metaOff := writeMeta(m.freeBlock(t, f, 0), ftMetadata)
		mirrorLbn := m.freeBlock(t, f, 1)
		writeMeta(mirrorLbn, ftMetadataMirror)
		if mirror {
			m.b[metaOff+4]++ // a bad tag checksum
		}
		lvds := m.blocksWithTag(tagLogicalVD)
		if len(lvds) == 0 {
			t.Fatal("no logical volume descriptor")
		}
		for _, blk := range lvds {
			d := m.b[blk*m.bs : (blk+1)*m.bs]
			mtl := binary.LittleEndian.Uint32(d[264:])
			mp := d[440+mtl : 440+mtl+64]
			mp[0], mp[1] = 2, 64
			copy(mp[5:], idMetadata)
			binary.LittleEndian.PutUint16(mp[4+24:], 0x0250)
			binary.LittleEndian.PutUint16(mp[36:], 1)
			binary.LittleEndian.PutUint16(mp[38:], p0.num)
			binary.LittleEndian.PutUint32(mp[40:], (uint32(metaOff/m.bs) - p0.start))
			binary.LittleEndian.PutUint32(mp[44:], mirrorLbn)
			binary.LittleEndian.PutUint32(mp[48:], 0xFFFFFFFF)
			binary.LittleEndian.PutUint32(d[264:], mtl+64)
			binary.LittleEndian.PutUint32(d[268:], 2)
			fsd := parseLongAD(d[248:])
			binary.LittleEndian.PutUint16(d[248+8:], 1) // the file set in the metadata partition
			m.retag(blk*m.bs, int(440+mtl+64-16))
			fsdOff := (int64(p0.start) + int64(fsd.addr.lbn)) * m.bs
			binary.LittleEndian.PutUint16(m.b[fsdOff+400+8:], 1) // and the root
			m.retag(fsdOff, -1)
		}
		f = m.mustOpen(t)
		if len(f.parts) != 2 || f.parts[1].kind != partMetadata || f.Root().icb.part != 1 {
			t.Fatalf("partitions %v, root in %d", f.parts, f.Root().icb.part)
		}
		readkittest.Compare(t, want, walkFS(t, f), readkittest.Fields{Perm: true})
	}
}

// TestIndirectEntry: an indirect entry (ICB strategy 4096) leads to the
// file entry; one that points at itself is an error, not a hang.
func TestIndirectEntry(t *testing.T) {
	m := loadImage(t, "hd-2048-2.01")
	f := m.mustOpen(t)
	e := lookup(t, f, "t/hello.txt")
	free := m.freeBlock(t, f, 0)
	// Move the entry to a free block; an indirect entry takes its place.
	src := icbOff(t, f, e.icb)
	dst := (int64(f.parts[0].start) + int64(free)) * m.bs
	copy(m.b[dst:dst+m.bs], m.b[src:src+m.bs])
	binary.LittleEndian.PutUint32(m.b[dst+12:], free)
	m.retag(dst, -1)
	indirect := func(to uint32) {
		d := m.b[src : src+m.bs]
		clear(d[16:])
		binary.LittleEndian.PutUint16(d[0:], tagIndirect)
		binary.LittleEndian.PutUint16(d[16+4:], 4096)
		d[16+11] = ftIndirect
		binary.LittleEndian.PutUint32(d[36:], uint32(m.bs))
		binary.LittleEndian.PutUint32(d[40:], to)
		m.retag(src, 52-16)
	}
	indirect(free)
	h := lookup(t, m.mustOpen(t), "t/hello.txt")
	if h.Size != 6 || h.Ino != e.Ino || h.DataErr() != nil {
		t.Errorf("through an indirect entry: %+v", h)
	}
	indirect(e.icb.lbn)
	h = lookup(t, m.mustOpen(t), "t/hello.txt")
	var le *LimitError
	if !errors.As(h.DataErr(), &le) || le.Limit != "MaxICBHops" {
		t.Errorf("indirect entry loop: %v", h.DataErr())
	}
}

// TestHostile: truncated images, anchors pointing past the end, huge
// lengths: clear errors, no panic, no hang.
func TestHostile(t *testing.T) {
	m := loadImage(t, "hd-2048-2.01")
	full := m.b
	f := m.mustOpen(t)

	t.Run("truncated", func(t *testing.T) {
		for _, n := range []int{0, 32768 + 100, 256 * 2048, 256*2048 + 512, 300 * 2048, len(full) / 2, len(full) - 2048, len(full) - 1} {
			cut := full[:n]
			g, err := Open(bytes.NewReader(cut), int64(n))
			if err != nil {
				continue
			}
			readkittest.Explore(g.FS())
		}
	})

	t.Run("anchor past the end", func(t *testing.T) {
		c := &memImage{b: bytes.Clone(full), bs: m.bs}
		anchors := c.blocksWithTag(tagAnchor)
		if len(anchors) < 2 {
			t.Fatalf("anchors %v", anchors)
		}
		for _, blk := range anchors {
			binary.LittleEndian.PutUint32(c.b[blk*m.bs+20:], 0x7FFFFFF0)
			binary.LittleEndian.PutUint32(c.b[blk*m.bs+28:], 0x7FFFFFF0)
			c.retag(blk*m.bs, -1)
		}
		_, err := c.open()
		var fe *FormatError
		if !errors.As(err, &fe) {
			t.Errorf("open: %v", err)
		}
	})

	t.Run("main sequence bad, reserve good", func(t *testing.T) {
		c := &memImage{b: bytes.Clone(full), bs: m.bs}
		lvds := c.blocksWithTag(tagLogicalVD)
		c.b[lvds[0]*m.bs+4]++ // the main sequence's LVD checksum
		if _, err := c.open(); err != nil {
			t.Errorf("open: %v", err)
		}
	})

	t.Run("huge lengths", func(t *testing.T) {
		c := &memImage{b: bytes.Clone(full), bs: m.bs}
		sub := lookup(t, f, "t/sub")
		off := icbOff(t, f, sub.icb)
		binary.LittleEndian.PutUint64(c.b[off+56:], 1<<40)
		c.retagFE(off)
		hello := lookup(t, f, "t/hello.txt")
		off = icbOff(t, f, hello.icb)
		binary.LittleEndian.PutUint64(c.b[off+56:], 1<<62)
		c.retagFE(off)
		big := lookup(t, f, "t/big.bin")
		off = icbOff(t, f, big.icb)
		binary.LittleEndian.PutUint64(c.b[off+56:], 1<<63)
		c.retagFE(off)
		g := c.mustOpen(t)
		var le *LimitError
		if _, err := lookup(t, g, "t/sub").Entries(); !errors.As(err, &le) || le.Limit != "MaxDirSize" {
			t.Errorf("huge directory: %v", err)
		}
		if err := lookup(t, g, "t/hello.txt").DataErr(); err == nil {
			t.Error("huge embedded file: no error")
		}
		if _, err := g.Lookup("t/big.bin"); err != nil {
			t.Errorf("big.bin with a length over 2^63 is still listed: %v", err)
		}
	})

	t.Run("garbage", func(t *testing.T) {
		r := rand.New(rand.NewPCG(1, 2))
		b := make([]byte, 1<<20)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotUDF) {
			t.Errorf("random bytes: %v", err)
		}
	})
}

// TestSparingRemap: a packet remapped by the sparing table (its data moved
// to the spare area, the original zeroed) reads through the remapping.
func TestSparingRemap(t *testing.T) {
	_, want := udfclientImages(t)
	m := loadImage(t, "cdrw-2048-2.01")
	f := m.mustOpen(t)
	p := f.parts[0]
	big := lookup(t, f, "t/big.bin")
	ic, err := f.readICB(big.icb)
	if err != nil {
		t.Fatal(err)
	}
	exts, _, _ := parseADs(ic.ads, ic.adType, ic.addr.part, 0)
	pkt := exts[0].addr.lbn + 40 // a packet in the middle of big.bin's first extent
	pkt -= pkt % p.packet
	tables := 0
	var mapped uint32
	for blk := int64(0); (blk+1)*m.bs <= int64(len(m.b)); blk++ {
		d := m.b[blk*m.bs:]
		if !bytes.HasPrefix(d[17:], []byte(idSparing)) {
			continue
		}
		if binary.LittleEndian.Uint32(d[56:]) != 0xFFFFFFFF {
			t.Fatalf("sparing table at block %d: first entry in use", blk)
		}
		binary.LittleEndian.PutUint32(d[56:], pkt)
		mapped = binary.LittleEndian.Uint32(d[60:])
		m.retag(blk*m.bs, -1)
		tables++
	}
	if tables == 0 {
		t.Fatal("no sparing table")
	}
	src := (int64(p.start) + int64(pkt)) * m.bs
	dst := int64(mapped) * m.bs
	n := int64(p.packet) * m.bs
	copy(m.b[dst:dst+n], m.b[src:src+n])
	clear(m.b[src : src+n])
	f = m.mustOpen(t)
	if len(f.parts[0].remap) != 1 {
		t.Fatalf("remap %v", f.parts[0].remap)
	}
	readkittest.Compare(t, want, walkFS(t, f), readkittest.Fields{Perm: true})
	if e := lookup(t, f, "t/big.bin"); len(e.Extents) < 3 {
		t.Errorf("big.bin extents %+v", e.Extents)
	}
}

// TestPointerVD: a main volume descriptor sequence continued elsewhere by
// a volume descriptor pointer is followed (the reserve one is broken).
func TestPointerVD(t *testing.T) {
	_, want := udfclientImages(t)
	m := loadImage(t, "hd-2048-2.01")
	f := m.mustOpen(t)
	anchors := m.blocksWithTag(tagAnchor)
	a := m.b[anchors[0]*m.bs:]
	main, reserve := parseExtentAD(a[16:]), parseExtentAD(a[24:])
	blocks := int64(main.length) / m.bs
	// Copy the sequence to free blocks, behind a pointer in its first block.
	dst := int64(f.parts[0].start) + int64(m.freeBlock(t, f, int(blocks)))
	for i := int64(0); i < blocks; i++ {
		src := (int64(main.loc) + i) * m.bs
		to := (dst + i) * m.bs
		copy(m.b[to:to+m.bs], m.b[src:src+m.bs])
		if binary.LittleEndian.Uint16(m.b[to:]) != 0 {
			binary.LittleEndian.PutUint32(m.b[to+12:], uint32(dst+i))
			m.retag(to, -1)
		}
	}
	first := int64(main.loc) * m.bs
	d := m.b[first : first+m.bs]
	clear(d)
	binary.LittleEndian.PutUint16(d[0:], tagPointerVD)
	binary.LittleEndian.PutUint16(d[2:], 3)
	binary.LittleEndian.PutUint32(d[12:], main.loc)
	binary.LittleEndian.PutUint32(d[20:], main.length)
	binary.LittleEndian.PutUint32(d[24:], uint32(dst))
	m.retag(first, 28-16)
	clear(m.b[int64(reserve.loc)*m.bs : int64(reserve.loc+reserve.length/uint32(m.bs))*m.bs])
	g := m.mustOpen(t)
	readkittest.Compare(t, want, walkFS(t, g), readkittest.Fields{Perm: true})

	// A pointer to itself ends in the descriptor limit, not a hang.
	binary.LittleEndian.PutUint32(d[24:], main.loc)
	m.retag(first, 28-16)
	var le *LimitError
	if _, err := m.open(); !errors.As(err, &le) || le.Limit != "MaxVDSDescriptors" {
		t.Errorf("pointer loop: %v", err)
	}
}
