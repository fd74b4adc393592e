package ntfs

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// mftChunk is how much of $MFT is read and cached at a time.
const mftChunk = 64 << 10

// maxCachedChunks bounds the MFT cache (16 MiB).
const maxCachedChunks = 256

// openMFT reads $MFT's own record (from $MFTMirr when the first copy is
// damaged) and makes the stream every other record is read from. A
// fragmented $MFT whose runs continue in extension records (an attribute
// list) is followed there.
func (f *FS) openMFT() error {
	rec, err := f.rawRecord(f.mftLCN*f.clusterSize, recMFT)
	if err != nil {
		mirr, merr := f.rawRecord(f.mirrLCN*f.clusterSize, recMFT)
		if merr != nil {
			return fmt.Errorf("ntfs: $MFT record 0: %w; its copy in $MFTMirr: %w", err, merr)
		}
		rec = mirr
		f.info.MFTMirror = true
	}
	data := findAttr(rec.attrs, atData, "")
	if data == nil || data.resident || data.lowVCN != 0 {
		return formatErr(rec.off, "$MFT has no non-resident $DATA")
	}
	if err := f.setMFT(data); err != nil {
		return err
	}
	if findAttr(rec.attrs, atAttrList, "") == nil {
		return nil
	}
	attrs, err := f.extendAttrs(rec)
	if err != nil {
		return fmt.Errorf("ntfs: $MFT: %w", err)
	}
	merged, err := mergeAttrs(attrs, f.lim.MaxRuns)
	if err != nil {
		return fmt.Errorf("ntfs: $MFT: %w", err)
	}
	return f.setMFT(findAttr(merged, atData, ""))
}

func (f *FS) setMFT(data *attr) error {
	s, err := f.newStream(data)
	if err != nil {
		return fmt.Errorf("ntfs: $MFT: %w", err)
	}
	if s.unit != 0 {
		return formatErr(data.off, "$MFT is compressed")
	}
	f.mft = s
	f.records = min(s.size, s.initSize, maxMFTBytes) / f.recordSize
	if f.records <= recRoot {
		return formatErr(data.off, "$MFT holds %d records", f.records)
	}
	f.cacheMu.Lock()
	clear(f.cache)
	f.cacheMu.Unlock()
	return nil
}

// rawRecord reads and decodes the record at image offset off.
func (f *FS) rawRecord(off, num int64) (*record, error) {
	b := make([]byte, f.recordSize)
	if err := f.readAt(b, off); err != nil {
		return nil, err
	}
	return parseRecord(b, num, off, f.lim.MaxRuns)
}

// recordOffset is the image offset of record num, for errors (-1 unknown).
func (f *FS) recordOffset(num int64) int64 {
	vcn := num * f.recordSize / f.clusterSize
	if f.mft == nil {
		return -1
	}
	i := findRun(f.mft.runs, vcn)
	if i == len(f.mft.runs) || f.mft.runs[i].lcn < 0 {
		return -1
	}
	r := f.mft.runs[i]
	return (r.lcn+vcn-r.vcn)*f.clusterSize + num*f.recordSize%f.clusterSize
}

// mftChunkData is a chunk of $MFT as cached: its records' update
// sequences undone once, when read (a record parsed from it is not
// copied: its resident values alias the chunk), and each record's fixup
// error.
type mftChunkData struct {
	b    []byte
	errs []error
}

// readRecord reads record num through $MFT's runs, a cached 64 KiB at a
// time.
func (f *FS) readRecord(num int64) (*record, error) {
	if num < 0 || num >= f.records {
		return nil, formatErr(-1, "MFT record %d is past $MFT's %d records", num, f.records)
	}
	at := num * f.recordSize
	base := at &^ (mftChunk - 1)
	f.cacheMu.Lock()
	c, ok := f.cache[base]
	f.cacheMu.Unlock()
	if !ok {
		b := make([]byte, min(mftChunk, f.mft.size-base))
		if _, err := f.mft.ReadAt(b, base); err != nil {
			return nil, fmt.Errorf("ntfs: reading $MFT at %d: %w", base, err)
		}
		c = &mftChunkData{b: b, errs: make([]error, len(b)/int(f.recordSize))}
		for i := range c.errs {
			r := b[int64(i)*f.recordSize : int64(i+1)*f.recordSize]
			if string(r[:4]) == "FILE" {
				n := base/f.recordSize + int64(i)
				if err := applyFixups(r, f.recordOffset(n)); err != nil {
					c.errs[i] = fmt.Errorf("MFT record %d: %w", n, err)
				}
			}
		}
		f.cacheMu.Lock()
		if len(f.cache) >= maxCachedChunks {
			clear(f.cache)
		}
		f.cache[base] = c
		f.cacheMu.Unlock()
	}
	i := (at - base) / f.recordSize
	if c.errs[i] != nil {
		return nil, c.errs[i]
	}
	return decodeRecord(c.b[at-base:at-base+f.recordSize:at-base+f.recordSize], num, f.recordOffset(num), f.lim.MaxRuns)
}

// fileRecord is a base record and every attribute of the file, those in
// its extension records included, non-resident pieces merged.
type fileRecord struct {
	*record
	all []*attr
}

// loadFile reads base record num and its extension records.
func (f *FS) loadFile(num int64) (*fileRecord, error) {
	rec, err := f.readRecord(num)
	if err != nil {
		return nil, err
	}
	if rec.flags&mfInUse == 0 {
		return nil, formatErr(rec.off, "MFT record %d is not in use", num)
	}
	if rec.base != 0 {
		return nil, formatErr(rec.off, "MFT record %d is an extension record of %d, not a file", num, rec.base)
	}
	attrs := rec.attrs
	if findAttr(attrs, atAttrList, "") != nil {
		if attrs, err = f.extendAttrs(rec); err != nil {
			return nil, err
		}
	}
	merged, err := mergeAttrs(attrs, f.lim.MaxRuns)
	if err != nil {
		return nil, fmt.Errorf("ntfs: MFT record %d: %w", num, err)
	}
	return &fileRecord{record: rec, all: merged}, nil
}

// extendAttrs is rec's attributes and those of the extension records its
// $ATTRIBUTE_LIST names (each entry: type, length, name, lowest VCN, the
// record holding the attribute).
func (f *FS) extendAttrs(rec *record) ([]*attr, error) {
	al := findAttr(rec.attrs, atAttrList, "")
	list, err := f.attrBytes(al, f.lim.MaxAttrList)
	if err != nil {
		return nil, fmt.Errorf("ntfs: MFT record %d: attribute list: %w", rec.num, err)
	}
	attrs := append([]*attr(nil), rec.attrs...)
	seen := map[int64]bool{rec.num: true}
	for i := 0; i+0x1A <= len(list); {
		n := int(binary.LittleEndian.Uint16(list[i+4:]))
		if n < 0x1A || i+n > len(list) {
			return nil, formatErr(al.off, "MFT record %d: attribute list entry of %d bytes at %d overruns it", rec.num, n, i)
		}
		ref := int64(binary.LittleEndian.Uint64(list[i+0x10:]) & 0xFFFFFFFFFFFF)
		i += n
		if seen[ref] {
			continue
		}
		seen[ref] = true
		if len(seen) > f.lim.MaxExtRecords {
			return nil, limitErr(al.off, "MaxExtRecords", int64(len(seen)), int64(f.lim.MaxExtRecords))
		}
		ext, err := f.readRecord(ref)
		if err != nil {
			return nil, fmt.Errorf("ntfs: MFT record %d: extension record: %w", rec.num, err)
		}
		if ext.base != rec.num || ext.flags&mfInUse == 0 {
			return nil, formatErr(ext.off, "MFT record %d is listed as an extension of %d but is not one", ref, rec.num)
		}
		attrs = append(attrs, ext.attrs...)
	}
	return attrs, nil
}

// mergeAttrs joins the pieces of each non-resident attribute (one per
// record when its runs do not fit one) into one, in VCN order: each piece
// must start where the previous one ended.
func mergeAttrs(attrs []*attr, maxRuns int) ([]*attr, error) {
	if whole(attrs) {
		return attrs, nil
	}
	type key struct {
		typ  uint32
		name string
	}
	at := map[key]int{} // where each non-resident attribute is in out
	pieces := map[key][]*attr{}
	var out []*attr
	for _, a := range attrs {
		if a.resident {
			out = append(out, a)
			continue
		}
		k := key{a.typ, a.name}
		if _, ok := at[k]; !ok {
			at[k] = len(out)
			out = append(out, nil)
		}
		pieces[k] = append(pieces[k], a)
	}
	for k, ps := range pieces {
		sort.Slice(ps, func(x, y int) bool { return ps[x].lowVCN < ps[y].lowVCN })
		m := *ps[0]
		if m.lowVCN != 0 {
			return nil, formatErr(m.off, "attribute 0x%x %q starts at VCN %d", m.typ, m.name, m.lowVCN)
		}
		if len(ps) > 1 {
			m.runs = append([]run(nil), ps[0].runs...)
			for _, p := range ps[1:] {
				if p.lowVCN != m.highVCN+1 {
					return nil, formatErr(p.off, "attribute 0x%x %q: a piece starts at VCN %d, the previous ended at %d", m.typ, m.name, p.lowVCN, m.highVCN)
				}
				if len(m.runs)+len(p.runs) > maxRuns {
					return nil, limitErr(p.off, "MaxRuns", int64(len(m.runs)+len(p.runs)), int64(maxRuns))
				}
				m.runs = append(m.runs, p.runs...)
				m.highVCN = p.highVCN
			}
		}
		out[at[k]] = &m
	}
	return out, nil
}

// whole tells whether every non-resident attribute of attrs is in one
// piece (from VCN 0, no other of its type and name): what mergeAttrs
// would return unchanged, as for nearly every file. Long lists (an
// attribute list's) are left to mergeAttrs' maps.
func whole(attrs []*attr) bool {
	if len(attrs) > 32 {
		return false
	}
	for i, a := range attrs {
		if a.resident {
			continue
		}
		if a.lowVCN != 0 {
			return false
		}
		for _, b := range attrs[i+1:] {
			if !b.resident && b.typ == a.typ && b.name == a.name {
				return false
			}
		}
	}
	return true
}

// findAttr is the first attribute of type typ named name, or nil.
func findAttr(attrs []*attr, typ uint32, name string) *attr {
	for _, a := range attrs {
		if a != nil && a.typ == typ && a.name == name {
			return a
		}
	}
	return nil
}

// attrBytes is the whole value of a small attribute, at most max bytes.
func (f *FS) attrBytes(a *attr, max int64) ([]byte, error) {
	if a.resident {
		return a.value, nil
	}
	if a.dataSize > max {
		return nil, limitErr(a.off, "attribute size", a.dataSize, max)
	}
	s, err := f.newStream(a)
	if err != nil {
		return nil, err
	}
	b := make([]byte, a.dataSize)
	if _, err := s.ReadAt(b, 0); err != nil && len(b) > 0 {
		return nil, err
	}
	return b, nil
}

// MFTExtents are the byte ranges of the image holding $MFT's records in
// use (up to its initialized size): what a server reading the volume from
// a file may ask the kernel to read ahead, as listings and lookups read
// records all over it.
func (f *FS) MFTExtents() []Extent { return f.mft.extents() }
