package vhdx

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Open opens the VHDX image r (size bytes long): headers, region table,
// metadata and BAT. It returns an error wrapping ErrNotVHDX when r does not
// start with "vhdxfile", errors.ErrUnsupported for what the reader does not
// implement (a log to replay first), a *FormatError or *LimitError when the
// structures are malformed or too big.
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	return open(r, size, opts, 0)
}

func open(r io.ReaderAt, size int64, opts Options, depth int) (*Image, error) {
	lim := opts.Limits.withDefaults()
	sig := make([]byte, 8)
	if size < 8 {
		return nil, fmt.Errorf("vhdx: %d-byte file: %w", size, ErrNotVHDX)
	}
	if err := readFull(r, size, sig, 0); err != nil {
		return nil, err
	}
	if !Probe(sig) {
		return nil, fmt.Errorf("vhdx: %w", ErrNotVHDX)
	}
	if size < regionOffset2+regionSize {
		return nil, formatErr(0, "file of %d bytes: shorter than the headers and region tables (320 KiB)", size)
	}
	im := &Image{r: r, size: size}

	// Headers: the valid one with the higher sequence number.
	var h *vhdxHeader
	var herr error
	for _, off := range []int64{headerOffset1, headerOffset2} {
		b := make([]byte, headerSize)
		if err := readFull(r, size, b, off); err != nil {
			return nil, err
		}
		x, err := parseHeader(b, off)
		if err != nil {
			herr = err
			im.info.Warnings = append(im.info.Warnings, "header ignored: "+err.Error())
			continue
		}
		if h == nil || x.seq > h.seq {
			h = x
		}
	}
	if h == nil {
		return nil, fmt.Errorf("vhdx: no valid header: %w", herr)
	}
	if h.version != 1 {
		return nil, unsupported("header version %d (only 1 is known)", h.version)
	}
	if !h.logGUID.IsZero() {
		return nil, unsupported("log must be replayed (log GUID %s): open it once with qemu-img check -r all or Hyper-V", h.logGUID)
	}
	im.info.Sequence, im.info.DataWriteGUID = h.seq, h.dataWriteGUID

	// Region table: the first, else its copy.
	var bat, meta region
	var rerr error
	for i, off := range []int64{regionOffset1, regionOffset2} {
		b := make([]byte, regionSize)
		if err := readFull(r, size, b, off); err != nil {
			return nil, err
		}
		bat, meta, rerr = parseRegionTable(b, off, size)
		if rerr == nil {
			if i == 1 {
				im.info.Warnings = append(im.info.Warnings, "first region table damaged, its copy used")
			}
			break
		}
		if errors.Is(rerr, errors.ErrUnsupported) {
			return nil, rerr
		}
	}
	if rerr != nil {
		return nil, rerr
	}

	if meta.length > lim.MaxTableBytes {
		return nil, limitErr(meta.off, "MaxTableBytes", meta.length, lim.MaxTableBytes)
	}
	mb := make([]byte, meta.length)
	if err := readFull(r, size, mb, meta.off); err != nil {
		return nil, err
	}
	m, err := parseMetadata(mb, meta.off)
	if err != nil {
		return nil, err
	}
	im.disk, im.block, im.sector = m.diskSize, m.blockSize, m.logical
	im.chunkRatio = (1 << 23) * m.logical / m.blockSize
	im.info.VirtualSize, im.info.BlockSize = m.diskSize, m.blockSize
	im.info.LogicalSectorSize, im.info.PhysicalSectorSize = m.logical, m.physical
	im.info.LeaveAllocated, im.info.HasParent = m.leaveAllocated, m.hasParent
	im.info.ParentLocator = m.locator
	switch {
	case m.hasParent:
		im.info.Variant = "differencing"
	case m.leaveAllocated:
		im.info.Variant = "fixed"
	default:
		im.info.Variant = "dynamic"
	}

	// BAT: payload entries, with a sector bitmap entry after every
	// chunkRatio of them.
	blocks := (im.disk + im.block - 1) / im.block
	var entries int64
	if m.hasParent {
		entries = (blocks + im.chunkRatio - 1) / im.chunkRatio * (im.chunkRatio + 1)
	} else if blocks > 0 {
		entries = blocks + (blocks-1)/im.chunkRatio
	}
	if entries*8 > lim.MaxTableBytes {
		return nil, limitErr(bat.off, "MaxTableBytes", entries*8, lim.MaxTableBytes)
	}
	if entries*8 > bat.length {
		return nil, formatErr(bat.off, "BAT region of %d bytes: too small for %d entries", bat.length, entries)
	}
	bb := make([]byte, entries*8)
	if err := readFull(r, size, bb, bat.off); err != nil {
		return nil, err
	}
	im.bat = make([]uint64, entries)
	for i := range im.bat {
		im.bat[i] = leUint64(bb[8*i:])
	}

	if m.hasParent {
		if err := im.openParent(m, opts, lim, depth); err != nil {
			return nil, err
		}
	}
	return im, nil
}

func leUint64(b []byte) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// openParent opens the parent of a differencing disk through opts.Open,
// trying the locator's paths in order, and checks its data write GUID
// against parent_linkage.
func (im *Image) openParent(m *metadata, opts Options, lim Limits, depth int) error {
	if m.locator == nil {
		return formatErr(0, "differencing disk without a parent locator")
	}
	var names []string
	for _, k := range []string{"relative_path", "absolute_win32_path", "volume_path"} {
		if v := m.locator[k]; v != "" {
			names = append(names, v)
		}
	}
	if len(names) == 0 {
		return formatErr(0, "parent locator names no path")
	}
	im.info.Parent = names[0]
	if opts.Open == nil {
		return unsupported("differencing disk: it needs its parent %q and Options.Open is nil", names[0])
	}
	if depth+1 > lim.MaxParentDepth {
		return limitErr(0, "MaxParentDepth", int64(depth+1), int64(lim.MaxParentDepth))
	}
	var errs []string
	for _, name := range names {
		pr, psize, err := opts.Open(name)
		if err != nil {
			errs = append(errs, fmt.Sprintf("%q: %v", name, err))
			continue
		}
		p, err := open(pr, psize, opts, depth+1)
		if err != nil {
			return fmt.Errorf("vhdx: parent %q: %w", name, err)
		}
		want := []string{m.locator["parent_linkage"], m.locator["parent_linkage2"]}
		got := p.info.DataWriteGUID
		ok := false
		for _, w := range want {
			if g, valid := parseGUID(w); valid && g == got {
				ok = true
			}
		}
		if !ok {
			return formatErr(0, "parent %q has data write GUID %s, the disk was made against %s (the parent changed)", name, got, m.locator["parent_linkage"])
		}
		im.info.Parent = name
		im.parent = readkit.Backing{R: p, Size: p.disk}
		return nil
	}
	return fmt.Errorf("vhdx: open parent: %s", strings.Join(errs, "; "))
}

// ReadAt reads the virtual disk. It is safe for concurrent use. Reads past
// Size return io.EOF.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	return readkit.ReadBlocks("vhdx", p, off, im.disk, im.block, im.readBlock)
}

// readBlock fills p from byte in of block bi (off in the disk) to the
// block's end at most, or on through the blocks that follow it in the
// file, and says how many bytes it filled.
func (im *Image) readBlock(p []byte, bi, in, off int64) (int64, error) {
	l := min(int64(len(p)), im.block-in)
	e := im.bat[bi+bi/im.chunkRatio]
	switch e & 7 {
	case blockNotPresent:
		return l, im.parent.Read("vhdx", p[:l], off)
	case blockUndefined, blockZero, blockUnmapped:
		clear(p[:l])
		return l, nil
	case blockFullyPresent:
		host := int64(e&batOffsetMask) + in
		// Coalesce blocks that follow each other in the file.
		for l < int64(len(p)) {
			nb := bi + (in+l)/im.block
			ne := im.bat[nb+nb/im.chunkRatio]
			if ne&7 != blockFullyPresent || int64(ne&batOffsetMask) != int64(e&batOffsetMask)+(nb-bi)*im.block {
				break
			}
			l = min(l+im.block, int64(len(p)))
		}
		return l, im.readData(p[:l], host, bi)
	case blockPartiallyPresent:
		return l, im.readPartial(p[:l], off, bi, in, e)
	}
	return 0, formatErr(0, "BAT entry for block %d: state %d", bi, e&7)
}

// readData reads payload at host; a block that starts in the file but ends
// past it reads as zeros past the end.
func (im *Image) readData(p []byte, host, bi int64) error {
	if host >= im.size || host < 0 {
		return formatErr(host, "payload block %d at byte %d: past the end of the file (%d bytes)", bi, host, im.size)
	}
	return readkit.ReadPadded("vhdx", im.r, im.size, p, host)
}

// readPartial reads part of a partially present block of a differencing
// disk: the chunk's sector bitmap says, sector by sector, whether the data
// is in this file's block or in the parent.
func (im *Image) readPartial(p []byte, off, bi, in int64, e uint64) error {
	if !im.info.HasParent {
		return formatErr(0, "block %d partially present in a disk without a parent", bi)
	}
	chunk := bi / im.chunkRatio
	se := im.bat[chunk*(im.chunkRatio+1)+im.chunkRatio]
	if se&7 != bitmapPresent {
		return formatErr(0, "block %d partially present, but its sector bitmap block is not (state %d)", bi, se&7)
	}
	// Bit k of the bitmap (LSB first) is sector k of the chunk.
	c0 := (bi%im.chunkRatio)*im.block + in // byte offset in the chunk
	first := c0 / im.sector
	last := (c0 + int64(len(p)) - 1) / im.sector
	bm := make([]byte, last/8-first/8+1)
	if err := im.readData(bm, int64(se&batOffsetMask)+first/8, bi); err != nil {
		return err
	}
	bit := func(s int64) bool { return bm[s/8-first/8]>>(s%8)&1 != 0 }
	host := int64(e&batOffsetMask) + in
	pos := int64(0)
	for pos < int64(len(p)) {
		s := (c0 + pos) / im.sector
		present := bit(s)
		// Extend over the sectors with the same bit.
		end := (s+1)*im.sector - c0
		for end < int64(len(p)) && bit((c0+end)/im.sector) == present {
			end += im.sector
		}
		end = min(end, int64(len(p)))
		var err error
		if present {
			err = im.readData(p[pos:end], host+pos, bi)
		} else {
			err = im.parent.Read("vhdx", p[pos:end], off+pos)
		}
		if err != nil {
			return err
		}
		pos = end
	}
	return nil
}
