package udf

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"slices"
	"sort"
)

type partKind int

const (
	partPhysical partKind = iota // type 1 map: blocks of a partition
	partSparable                 // type 2 "*UDF Sparable Partition": packets remapped by a sparing table
	partMetadata                 // type 2 "*UDF Metadata Partition": blocks of the metadata file
	partVirtual                  // type 2 "*UDF Virtual Partition": blocks through the VAT
)

func (k partKind) String() string {
	return [...]string{"physical", "sparable", "metadata", "virtual"}[k]
}

// partition is one partition map of the logical volume, resolved.
type partition struct {
	kind          partKind
	num           uint16 // partition number (of the partition descriptor)
	start, length uint32 // the partition descriptor's extent, in blocks

	packet uint32            // sparable: packet length in blocks
	remap  map[uint32]uint32 // sparable: packet -> the sector it was moved to
	keys   []uint32          // sparable: the packets of remap, sorted

	meta       []Extent // metadata: the metadata file's data, in the image
	metaStarts []int64  // metadata: offset in the file of each of meta
	metaSize   int64    // metadata: the metadata file's size

	vat  []uint32 // virtual: virtual block -> block of the physical partition
	runs []vatRun // virtual: the VAT as runs of consecutive blocks

	phys uint16 // metadata, virtual: reference of the partition underneath
}

const maxPartitionMaps = 64

// Partition map identifiers (OSTA UDF 2.2.8-2.2.10).
const (
	idVirtual  = "*UDF Virtual Partition"
	idSparable = "*UDF Sparable Partition"
	idMetadata = "*UDF Metadata Partition"
	idSparing  = "*UDF Sparing Table"
	idVAT15    = "*UDF Virtual Alloc Tbl"
)

// ICB file types used by the partition maps (OSTA UDF 2.3.5.2).
const (
	ftVAT            = 248
	ftMetadata       = 250
	ftMetadataMirror = 251
)

func regidIs(regid []byte, id string) bool {
	return len(regid) >= 24 && bytes.HasPrefix(regid[1:24], []byte(id))
}

// loadMaps reads the partition maps of the logical volume descriptor.
func (f *FS) loadMaps(v *vdSet) error {
	lvd, off := v.lvd, v.lvdOff
	mtl := int64(binary.LittleEndian.Uint32(lvd[264:]))
	nm := binary.LittleEndian.Uint32(lvd[268:])
	if nm == 0 {
		return formatErr(off+268, "logical volume has no partition map")
	}
	if nm > maxPartitionMaps {
		return formatErr(off+268, "logical volume has %d partition maps (at most %d are read)", nm, maxPartitionMaps)
	}
	if mtl > int64(len(lvd))-440 {
		return formatErr(off+264, "partition map table of %d bytes past the descriptor", mtl)
	}
	table := lvd[440 : 440+mtl]
	type sparing struct {
		ref   int
		locs  []uint32
		size  uint32
		mapAt int64
	}
	var sparings []sparing
	type metaMap struct {
		ref          int
		file, mirror uint32
		mapAt        int64
	}
	var metas []metaMap
	var virtuals []int
	pos := 0
	for i := 0; i < int(nm); i++ {
		at := off + 440 + int64(pos)
		if pos+2 > len(table) {
			return formatErr(at, "partition map %d past the map table", i)
		}
		typ, l := table[pos], int(table[pos+1])
		if l < 2 || pos+l > len(table) {
			return formatErr(at, "partition map %d: length %d", i, l)
		}
		m := table[pos : pos+l]
		pos += l
		p := &partition{}
		switch {
		case typ == 1 && l >= 6:
			p.kind = partPhysical
			p.num = binary.LittleEndian.Uint16(m[4:])
		case typ == 2 && l >= 40:
			p.num = binary.LittleEndian.Uint16(m[38:])
			regid := m[4:36]
			switch {
			case regidIs(regid, idSparable) && l >= 48:
				p.kind = partSparable
				p.packet = uint32(binary.LittleEndian.Uint16(m[40:]))
				if p.packet == 0 {
					return formatErr(at+40, "sparable partition map %d: packet length 0", i)
				}
				n := int(m[42])
				sp := sparing{ref: i, size: binary.LittleEndian.Uint32(m[44:]), mapAt: at}
				for j := 0; j < n && 48+4*j+4 <= l; j++ {
					sp.locs = append(sp.locs, binary.LittleEndian.Uint32(m[48+4*j:]))
				}
				sparings = append(sparings, sp)
			case regidIs(regid, idMetadata) && l >= 52:
				p.kind = partMetadata
				metas = append(metas, metaMap{ref: i, file: binary.LittleEndian.Uint32(m[40:]), mirror: binary.LittleEndian.Uint32(m[44:]), mapAt: at})
			case regidIs(regid, idVirtual):
				p.kind = partVirtual
				virtuals = append(virtuals, i)
			default:
				return unsupported("partition map %d at byte %d: type 2 %q", i, at, string(bytes.TrimRight(regid[1:24], "\x00 ")))
			}
		default:
			return unsupported("partition map %d at byte %d: type %d, %d bytes", i, at, typ, l)
		}
		pd, ok := v.pds[p.num]
		if !ok {
			return formatErr(at, "partition map %d refers to partition %d, which has no partition descriptor", i, p.num)
		}
		p.start, p.length = pd.start, pd.length
		f.parts = append(f.parts, p)
	}
	f.nmaps = len(f.parts)
	for _, sp := range sparings {
		if err := f.loadSparing(f.parts[sp.ref], sp.locs, sp.size, sp.mapAt); err != nil {
			return err
		}
	}
	for _, mm := range metas {
		p := f.parts[mm.ref]
		p.phys = f.physRef(p)
		err := f.loadMetadata(p, mm.file, ftMetadata)
		if err != nil {
			if err2 := f.loadMetadata(p, mm.mirror, ftMetadataMirror); err2 != nil {
				return fmt.Errorf("udf: metadata partition (map at byte %d): %w", mm.mapAt, err)
			}
		}
	}
	for _, ref := range virtuals {
		p := f.parts[ref]
		p.phys = f.physRef(p)
		if err := f.loadVAT(p); err != nil {
			return err
		}
	}
	return nil
}

// physRef is the reference of the physical (or sparable) partition under a
// metadata or virtual partition p: a map of the volume with the same
// partition number, else one added for the purpose.
func (f *FS) physRef(p *partition) uint16 {
	for i, q := range f.parts {
		if q.num == p.num && (q.kind == partPhysical || q.kind == partSparable) {
			return uint16(i)
		}
	}
	f.parts = append(f.parts, &partition{kind: partPhysical, num: p.num, start: p.start, length: p.length})
	return uint16(len(f.parts) - 1)
}

// loadSparing reads the first valid sparing table (OSTA UDF 2.2.12) of a
// sparable partition.
func (f *FS) loadSparing(p *partition, locs []uint32, size uint32, at int64) error {
	if int64(size) > f.lim.MaxTableSize {
		return limitErr(at+44, "MaxTableSize", int64(size), f.lim.MaxTableSize)
	}
	if size < 56 {
		return formatErr(at+44, "sparing table size %d", size)
	}
	var firstErr error
	for _, loc := range locs {
		off := int64(loc) * f.bs
		n := int64(size)
		if !f.inImage(off, n) {
			n = min(n, max(0, f.size-off))
		}
		if n < 56 || !f.inImage(off, n) {
			if firstErr == nil {
				firstErr = formatErr(off, "sparing table outside the image")
			}
			continue
		}
		buf := make([]byte, n)
		if err := f.readAt(buf, off); err != nil {
			return err
		}
		_, err := parseTag(buf, off)
		if err == nil && !regidIs(buf[16:48], idSparing) {
			err = formatErr(off+16, "sparing table identifier %q", buf[17:40])
		}
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		entries := int(binary.LittleEndian.Uint16(buf[48:]))
		if 56+8*entries > len(buf) {
			entries = (len(buf) - 56) / 8
		}
		p.remap = make(map[uint32]uint32)
		for i := 0; i < entries; i++ {
			orig := binary.LittleEndian.Uint32(buf[56+8*i:])
			mapped := binary.LittleEndian.Uint32(buf[56+8*i+4:])
			if orig >= 0xFFFFFFF0 || orig%p.packet != 0 {
				continue
			}
			if _, dup := p.remap[orig]; !dup {
				p.keys = append(p.keys, orig)
			}
			p.remap[orig] = mapped
		}
		slices.Sort(p.keys)
		return nil
	}
	if firstErr == nil {
		firstErr = formatErr(at, "sparable partition map with no sparing table")
	}
	return fmt.Errorf("udf: sparing table: %w", firstErr)
}

// loadMetadata reads the metadata (or metadata mirror) file at block lbn of
// the partition under p and makes its data p's blocks.
func (f *FS) loadMetadata(p *partition, lbn uint32, want byte) error {
	ic, err := f.readICB(lbAddr{lbn: lbn, part: p.phys})
	if err != nil {
		return err
	}
	if ic.fileType != want {
		return formatErr(ic.off, "metadata file has file type %d, not %d", ic.fileType, want)
	}
	exts, err := f.fileExtents(ic)
	if err != nil {
		return err
	}
	p.meta, p.metaSize = exts, ic.size
	p.metaStarts = extentStarts(exts)
	return nil
}

func extentStarts(exts []Extent) []int64 {
	starts := make([]int64, len(exts))
	pos := int64(0)
	for i, x := range exts {
		starts[i] = pos
		pos += x.Length
	}
	return starts
}

// loadVAT finds the virtual allocation table of a virtual partition (OSTA
// UDF 2.2.11): the file entry in the last block of the image, or a few
// blocks before it, of file type 248 (UDF 2.00 on) or of an unspecified
// type with the "*UDF Virtual Alloc Tbl" trailer (UDF 1.50).
func (f *FS) loadVAT(p *partition) error {
	phys := f.parts[p.phys]
	last := f.size/f.bs - 1
	var firstErr error
	for i := int64(0); i < 32 && last-i >= int64(phys.start); i++ {
		lbn := last - i - int64(phys.start)
		if lbn >= int64(phys.length) || lbn > 1<<32-1 {
			continue
		}
		ic, err := f.readICB(lbAddr{lbn: uint32(lbn), part: p.phys})
		if err != nil {
			continue
		}
		if ic.fileType != ftVAT && ic.fileType != 0 {
			continue
		}
		err = f.parseVAT(p, ic)
		if err == nil {
			return nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	if firstErr != nil {
		return firstErr
	}
	return unsupported("virtual partition %d: no virtual allocation table in the last 32 blocks of the image", p.num)
}

func (f *FS) parseVAT(p *partition, ic *icb) error {
	if ic.size > f.lim.MaxTableSize {
		return limitErr(ic.off, "MaxTableSize", ic.size, f.lim.MaxTableSize)
	}
	data, err := f.readAll(ic)
	if err != nil {
		return err
	}
	var entries []byte
	if ic.fileType == ftVAT {
		if len(data) < 152 {
			return formatErr(ic.off, "VAT of %d bytes", len(data))
		}
		hdr := int(binary.LittleEndian.Uint16(data))
		if hdr < 152 || hdr > len(data) {
			return formatErr(ic.off, "VAT header length %d", hdr)
		}
		entries = data[hdr:]
	} else {
		if len(data) < 36 || !regidIs(data[len(data)-36:], idVAT15) {
			return formatErr(ic.off, "no VAT trailer")
		}
		entries = data[:len(data)-36]
	}
	p.vat = make([]uint32, len(entries)/4)
	for i := range p.vat {
		p.vat[i] = binary.LittleEndian.Uint32(entries[4*i:])
	}
	p.runs = makeRuns(p.vat)
	return nil
}

// vatRun is a run of virtual blocks mapped to consecutive physical blocks.
type vatRun struct {
	virt, phys, n uint32
}

func makeRuns(vat []uint32) []vatRun {
	var runs []vatRun
	for i, v := range vat {
		if n := len(runs); n > 0 {
			r := &runs[n-1]
			if v != 0xFFFFFFFF && r.phys != 0xFFFFFFFF && r.virt+r.n == uint32(i) && r.phys+r.n == v {
				r.n++
				continue
			}
		}
		runs = append(runs, vatRun{virt: uint32(i), phys: v, n: 1})
	}
	return runs
}

// appendExtent appends x to out, merging it with the last extent when they
// are contiguous.
func (f *FS) appendExtent(out []Extent, x Extent) ([]Extent, error) {
	if x.Length == 0 {
		return out, nil
	}
	if n := len(out); n > 0 {
		l := &out[n-1]
		if l.Zero == x.Zero && (x.Zero || l.Offset+l.Length == x.Offset) {
			l.Length += x.Length
			return out, nil
		}
	}
	if len(out) >= f.lim.MaxExtents {
		return out, limitErr(x.Offset, "MaxExtents", int64(len(out)+1), int64(f.lim.MaxExtents))
	}
	return append(out, x), nil
}

// mapExtent appends to out the byte ranges of the image that hold n bytes
// from logical block a on. Each step (a piece of the extent: a run of
// blocks, a remapped packet, a run of the VAT) calls spend, when not nil,
// which may stop it.
func (f *FS) mapExtent(out []Extent, a lbAddr, n int64, spend func() error) ([]Extent, error) {
	if int(a.part) >= len(f.parts) {
		return out, formatErr(0, "partition reference %d (the volume has %d partition maps)", a.part, f.nmaps)
	}
	p := f.parts[a.part]
	lbn := int64(a.lbn)
	blocks := (n + f.bs - 1) / f.bs
	step := func() error {
		if spend == nil {
			return nil
		}
		return spend()
	}
	switch p.kind {
	case partPhysical:
		return f.mapPhysical(out, p, lbn, n)
	case partSparable:
		if lbn+blocks > int64(p.length) {
			return out, f.pastPartition(p, lbn, n)
		}
		pk := int64(p.packet)
		i, _ := slices.BinarySearch(p.keys, uint32(lbn-lbn%pk))
		for n > 0 {
			if err := step(); err != nil {
				return out, err
			}
			pkt := lbn - lbn%pk
			var err error
			if i < len(p.keys) && int64(p.keys[i]) == pkt {
				// lbn is in a remapped packet.
				within := lbn - pkt
				chunk := min(n, (pk-within)*f.bs)
				off := (int64(p.remap[p.keys[i]]) + within) * f.bs
				if !f.inImage(off, chunk) {
					return out, formatErr(off, "remapped packet of %d bytes outside the image", chunk)
				}
				if out, err = f.appendExtent(out, Extent{Offset: off, Length: chunk}); err != nil {
					return out, err
				}
				lbn += pk - within
				n -= chunk
				i++
				continue
			}
			// Up to the next remapped packet, blocks are where they are.
			chunk := n
			if i < len(p.keys) {
				chunk = min(n, (int64(p.keys[i])-lbn)*f.bs)
			}
			if out, err = f.mapPhysical(out, p, lbn, chunk); err != nil {
				return out, err
			}
			lbn += (chunk + f.bs - 1) / f.bs
			n -= chunk
		}
		return out, nil
	case partMetadata:
		pos := lbn * f.bs
		if pos+n > p.metaSize {
			return out, f.pastPartition(p, lbn, n)
		}
		i := sort.Search(len(p.metaStarts), func(i int) bool { return p.metaStarts[i] > pos }) - 1
		for ; n > 0 && i >= 0 && i < len(p.meta); i++ {
			if err := step(); err != nil {
				return out, err
			}
			x := p.meta[i]
			in := pos - p.metaStarts[i]
			chunk := min(n, x.Length-in)
			y := Extent{Length: chunk, Zero: x.Zero}
			if !x.Zero {
				y.Offset = x.Offset + in
			}
			var err error
			if out, err = f.appendExtent(out, y); err != nil {
				return out, err
			}
			pos += chunk
			n -= chunk
		}
		if n > 0 {
			return out, f.pastPartition(p, lbn, n)
		}
		return out, nil
	case partVirtual:
		if lbn+blocks > int64(len(p.vat)) {
			return out, f.pastPartition(p, lbn, n)
		}
		phys := f.parts[p.phys]
		i := sort.Search(len(p.runs), func(i int) bool { return int64(p.runs[i].virt) > lbn }) - 1
		for ; n > 0 && i >= 0 && i < len(p.runs); i++ {
			if err := step(); err != nil {
				return out, err
			}
			r := p.runs[i]
			if r.phys == 0xFFFFFFFF {
				return out, formatErr(0, "virtual block %d is not mapped by the VAT", lbn)
			}
			in := lbn - int64(r.virt)
			chunk := min(n, (int64(r.n)-in)*f.bs)
			var err error
			if out, err = f.mapPhysical(out, phys, int64(r.phys)+in, chunk); err != nil {
				return out, err
			}
			lbn += int64(r.n) - in
			n -= chunk
		}
		if n > 0 {
			return out, f.pastPartition(p, lbn, n)
		}
		return out, nil
	}
	return out, formatErr(0, "partition kind %d", p.kind)
}

func (f *FS) mapPhysical(out []Extent, p *partition, lbn, n int64) ([]Extent, error) {
	blocks := (n + f.bs - 1) / f.bs
	if lbn+blocks > int64(p.length) {
		return out, f.pastPartition(p, lbn, n)
	}
	off := (int64(p.start) + lbn) * f.bs
	if !f.inImage(off, n) {
		return out, formatErr(off, "extent of %d bytes (block %d of partition %d) outside the image (%d bytes)", n, lbn, p.num, f.size)
	}
	return f.appendExtent(out, Extent{Offset: off, Length: n})
}

func (f *FS) pastPartition(p *partition, lbn, n int64) error {
	size := int64(p.length) * f.bs
	switch p.kind {
	case partMetadata:
		size = p.metaSize
	case partVirtual:
		size = int64(len(p.vat)) * f.bs
	}
	return formatErr(int64(p.start)*f.bs, "extent of %d bytes at block %d past the end of %s partition %d (%d bytes)", n, lbn, p.kind, p.num, size)
}
