package udf

import (
	"encoding/binary"
	"math"
	"time"
)

// ICB file types (ECMA-167 4/14.6.6).
const (
	ftUnspecified = 0
	ftIndirect    = 3
	ftDirectory   = 4
	ftFile        = 5
	ftBlockDev    = 6
	ftCharDev     = 7
	ftFIFO        = 9
	ftSocket      = 10
	ftSymlink     = 12
	ftRealTime    = 249
)

// ICB flags (ECMA-167 4/14.6.8).
const (
	icbSetuid = 1 << 6
	icbSetgid = 1 << 7
	icbSticky = 1 << 8
)

// icb is a decoded File Entry (ECMA-167 4/14.9) or Extended File Entry
// (4/14.17).
type icb struct {
	addr     lbAddr // where it was read (after indirect entries)
	off      int64  // byte offset of its block in the image
	fileType byte
	flags    uint16
	uid, gid uint32
	perm     uint32
	links    uint16
	size     int64 // information length
	atime    time.Time
	mtime    time.Time
	ctime    time.Time // attribute time
	adType   int
	ads      []byte // allocation descriptors, or the embedded data
	adsOff   int64
}

// readICB reads the file entry at a, following indirect entries (ICB
// strategy 4096).
func (f *FS) readICB(a lbAddr) (*icb, error) {
	for hop := 0; ; hop++ {
		if hop > f.lim.MaxICBHops {
			return nil, limitErr(0, "MaxICBHops", int64(hop), int64(f.lim.MaxICBHops))
		}
		exts, err := f.mapExtent(nil, a, f.bs, nil)
		if err != nil {
			return nil, err
		}
		buf := make([]byte, f.bs)
		if err := f.readExtents(exts, buf); err != nil {
			return nil, err
		}
		off := int64(0)
		if len(exts) > 0 {
			off = exts[0].Offset
		}
		t, err := parseTag(buf, off)
		if err != nil {
			return nil, err
		}
		if t.location != a.lbn {
			return nil, formatErr(off, "descriptor (tag %d) records block %d, read from block %d of partition %d", t.ident, t.location, a.lbn, a.part)
		}
		switch t.ident {
		case tagIndirect:
			next := parseLongAD(buf[36:])
			if next.length == 0 {
				return nil, formatErr(off, "indirect entry with an empty ICB")
			}
			a = next.addr
			continue
		case tagFileEntry, tagExtFileEntry:
			return parseFileEntry(buf, t.ident, a, off)
		}
		return nil, formatErr(off, "tag identifier %d where a file entry was expected", t.ident)
	}
}

// parseFileEntry decodes a File Entry or an Extended File Entry in b (one
// block).
func parseFileEntry(b []byte, ident uint16, a lbAddr, off int64) (*icb, error) {
	le := binary.LittleEndian
	ic := &icb{
		addr:     a,
		off:      off,
		fileType: b[16+11],
		flags:    le.Uint16(b[16+18:]),
		uid:      le.Uint32(b[36:]),
		gid:      le.Uint32(b[40:]),
		perm:     le.Uint32(b[44:]),
		links:    le.Uint16(b[48:]),
	}
	ic.adType = int(ic.flags & 7)
	info := le.Uint64(b[56:])
	if info > math.MaxInt64 {
		return nil, formatErr(off+56, "information length %d", info)
	}
	ic.size = int64(info)
	var eaLen, adLen uint32
	var base int
	if ident == tagFileEntry {
		if len(b) < 176 {
			return nil, formatErr(off, "file entry in a %d-byte block", len(b))
		}
		ic.atime = parseTimestamp(b[72:])
		ic.mtime = parseTimestamp(b[84:])
		ic.ctime = parseTimestamp(b[96:])
		eaLen, adLen = le.Uint32(b[168:]), le.Uint32(b[172:])
		base = 176
	} else {
		if len(b) < 216 {
			return nil, formatErr(off, "extended file entry in a %d-byte block", len(b))
		}
		ic.atime = parseTimestamp(b[80:])
		ic.mtime = parseTimestamp(b[92:])
		ic.ctime = parseTimestamp(b[116:])
		eaLen, adLen = le.Uint32(b[208:]), le.Uint32(b[212:])
		base = 216
	}
	room := uint64(len(b) - base)
	if uint64(eaLen) > room || uint64(adLen) > room-uint64(eaLen) {
		return nil, formatErr(off, "extended attributes (%d bytes) and allocation descriptors (%d bytes) past the block", eaLen, adLen)
	}
	start := base + int(eaLen)
	ic.ads = b[start : start+int(adLen)]
	ic.adsOff = off + int64(start)
	if ic.adType > adEmbedded {
		return nil, formatErr(off+16+18, "allocation descriptor type %d", ic.adType)
	}
	return ic, nil
}

// fileExtents maps ic's data to extents of the image: recorded extents,
// zero extents for the unrecorded ones and for what the descriptors do not
// cover, up to the information length. Extents of descriptors (type 3) are
// followed. It returns nil for embedded data.
func (f *FS) fileExtents(ic *icb) ([]Extent, error) { return f.fileExtentsBudget(ic, nil) }

// budget is what mapping files may still cost in one directory listing:
// allocation extent descriptors read and mapping steps.
type budget struct {
	aeds, steps int
}

func (f *FS) dirBudget() *budget {
	return &budget{aeds: dirFactor * f.lim.MaxAEDHops, steps: dirFactor * f.lim.MaxMapSteps}
}

// fileExtentsBudget is fileExtents charging its work to dir (when not
// nil), the budget of a directory listing, besides the per-file limits.
func (f *FS) fileExtentsBudget(ic *icb, dir *budget) ([]Extent, error) {
	if ic.adType == adEmbedded {
		return nil, nil
	}
	fileSteps := f.lim.MaxMapSteps
	spend := func() error {
		if fileSteps--; fileSteps < 0 {
			return limitErr(ic.off, "MaxMapSteps", int64(f.lim.MaxMapSteps+1), int64(f.lim.MaxMapSteps))
		}
		if dir != nil {
			if dir.steps--; dir.steps < 0 {
				return limitErr(ic.off, "MaxMapSteps", int64(dirFactor*f.lim.MaxMapSteps+1), int64(dirFactor*f.lim.MaxMapSteps))
			}
		}
		return nil
	}
	var out []Extent
	remain := ic.size
	ads, adsOff := ic.ads, ic.adsOff
	seen := map[lbAddr]bool{}
	for hops := 0; remain > 0; hops++ {
		exts, next, err := parseADs(ads, ic.adType, ic.addr.part, adsOff)
		if err != nil {
			return nil, err
		}
		for _, x := range exts {
			if remain == 0 {
				break
			}
			n := min(x.length, remain)
			if err = spend(); err != nil {
				return nil, err
			}
			if x.typ == extRecorded {
				out, err = f.mapExtent(out, x.addr, n, spend)
			} else {
				out, err = f.appendExtent(out, Extent{Length: n, Zero: true})
			}
			if err != nil {
				return nil, err
			}
			remain -= n
		}
		if remain == 0 || next == nil {
			break
		}
		if hops >= f.lim.MaxAEDHops {
			return nil, limitErr(adsOff, "MaxAEDHops", int64(hops+1), int64(f.lim.MaxAEDHops))
		}
		if dir != nil {
			if dir.aeds--; dir.aeds < 0 {
				return nil, limitErr(adsOff, "MaxAEDHops", int64(dirFactor*f.lim.MaxAEDHops+1), int64(dirFactor*f.lim.MaxAEDHops))
			}
		}
		if seen[next.addr] {
			return nil, formatErr(adsOff, "allocation extent descriptors loop (block %d of partition %d again)", next.addr.lbn, next.addr.part)
		}
		seen[next.addr] = true
		ads, adsOff, err = f.readAED(next)
		if err != nil {
			return nil, err
		}
	}
	if remain > 0 {
		// Past the last descriptor the file reads as zeros (a hole).
		var err error
		if out, err = f.appendExtent(out, Extent{Length: remain, Zero: true}); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// readAED reads an allocation extent descriptor (ECMA-167 4/14.5) and
// returns its allocation descriptors.
func (f *FS) readAED(x *lext) ([]byte, int64, error) {
	n := min(x.length, f.bs)
	if n < 24 {
		return nil, 0, formatErr(0, "allocation extent descriptor of %d bytes", x.length)
	}
	exts, err := f.mapExtent(nil, x.addr, n, nil)
	if err != nil {
		return nil, 0, err
	}
	buf := make([]byte, n)
	if err := f.readExtents(exts, buf); err != nil {
		return nil, 0, err
	}
	off := int64(0)
	if len(exts) > 0 {
		off = exts[0].Offset
	}
	t, err := parseTag(buf, off)
	if err != nil {
		return nil, 0, err
	}
	if t.ident != tagAED || t.location != x.addr.lbn {
		return nil, 0, formatErr(off, "no allocation extent descriptor (tag %d, location %d) at block %d", t.ident, t.location, x.addr.lbn)
	}
	l := int64(binary.LittleEndian.Uint32(buf[20:]))
	if l > n-24 {
		return nil, 0, formatErr(off+20, "allocation extent descriptor holds %d bytes of descriptors in %d", l, n-24)
	}
	return buf[24 : 24+l], off + 24, nil
}

// readAll reads ic's whole data (callers bound ic.size first).
func (f *FS) readAll(ic *icb) ([]byte, error) {
	if ic.adType == adEmbedded {
		if ic.size > int64(len(ic.ads)) {
			return nil, formatErr(ic.adsOff, "embedded data of %d bytes in %d", ic.size, len(ic.ads))
		}
		return ic.ads[:ic.size], nil
	}
	exts, err := f.fileExtents(ic)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, ic.size)
	if err := f.readExtents(exts, buf); err != nil {
		return nil, err
	}
	return buf, nil
}
