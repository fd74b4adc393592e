package lvm

import (
	"math/bits"
	"slices"
)

const (
	maxStripes    = 128     // lvm2's MAX_STRIPES
	maxExtentSize = 1 << 32 // sectors (2 TiB); lvm2 makes far smaller ones
)

// Metadata is a VG as one copy of its text metadata describes it (like
// `vgcfgbackup`'s file).
type Metadata struct {
	Name       string
	UUID       string
	Seqno      uint64
	ExtentSize int64 // bytes
	Status     []string
	PVs        []MetaPV
	LVs        []MetaLV
}

// MetaPV is a PV as the metadata names it.
type MetaPV struct {
	Name    string // "pv0": how segments refer to it
	UUID    string
	Device  string // the device it was last seen on (a hint only)
	PEStart int64  // bytes from the PV's start to its first extent
	PECount int64
}

// MetaLV is an LV as the metadata describes it.
type MetaLV struct {
	Name     string
	UUID     string
	Status   []string
	Segments []Segment
}

// Visible tells whether the LV is one a person sees (`lvs` without -a):
// not a hidden sub-LV of a pool, mirror or raid.
func (lv *MetaLV) Visible() bool { return slices.Contains(lv.Status, "VISIBLE") }

// Extents is the LV's length in extents.
func (lv *MetaLV) Extents() int64 {
	var n int64
	for _, s := range lv.Segments {
		n += s.ExtentCount
	}
	return n
}

// Segment is one segment of an LV: extents [StartExtent, StartExtent +
// ExtentCount) of the LV, of one type. Stripes and StripeSize are set for
// striped (and linear) segments only.
type Segment struct {
	StartExtent, ExtentCount int64
	Type                     string
	StripeSize               int64 // bytes; 0 for one stripe
	Stripes                  []Stripe
}

// Stripe is where one stripe of a striped segment lies: a PV (by its
// metadata name) and the first extent on it.
type Stripe struct {
	PV          string
	StartExtent int64
}

// displayType is the segment's type as `lvs -o segtype` names it: a
// striped segment of one stripe is "linear".
func (s *Segment) displayType() string {
	if s.Type == "striped" && len(s.Stripes) == 1 {
		return "linear"
	}
	return s.Type
}

func isStriped(t string) bool { return t == "striped" || t == "linear" }

// ParseMetadata parses one copy of a VG's text metadata, bounded (see the
// package doc), and checks it is consistent: extents within the PVs'
// counts, segments contiguous, no count overflowing.
func ParseMetadata(text []byte) (*Metadata, error) {
	if len(text) > MaxMetadataSize {
		return nil, metaErr("%d bytes of metadata, at most %d read", len(text), MaxMetadataSize)
	}
	root, err := parseText(text)
	if err != nil {
		return nil, err
	}
	if c, ok := root.values["contents"]; ok && c.str != "Text Format Volume Group" {
		return nil, metaErr("contents %q, want a Text Format Volume Group", c.str)
	}
	if len(root.sections) != 1 {
		return nil, metaErr("%d top-level sections, want 1 (the VG)", len(root.sections))
	}
	vs := root.sections[0]
	md := &Metadata{Name: vs.name}
	if md.UUID, err = needStr(vs, "id"); err != nil {
		return nil, err
	}
	seq, err := needNum(vs, "seqno", 0, 1<<62)
	if err != nil {
		return nil, err
	}
	md.Seqno = uint64(seq)
	es, err := needNum(vs, "extent_size", 1, maxExtentSize)
	if err != nil {
		return nil, err
	}
	md.ExtentSize = es * sectorSize
	md.Status = strList(vs.values["status"])
	if s := vs.sub("physical_volumes"); s != nil {
		for _, p := range s.sections {
			pv, err := parsePV(p, md.ExtentSize)
			if err != nil {
				return nil, err
			}
			md.PVs = append(md.PVs, pv)
		}
	}
	if s := vs.sub("logical_volumes"); s != nil {
		for _, l := range s.sections {
			lv, err := md.parseLV(l)
			if err != nil {
				return nil, err
			}
			md.LVs = append(md.LVs, lv)
		}
	}
	return md, nil
}

func parsePV(s *section, extent int64) (MetaPV, error) {
	pv := MetaPV{Name: s.name, Device: s.values["device"].str}
	var err error
	if pv.UUID, err = needStr(s, "id"); err != nil {
		return pv, err
	}
	start, err := needNum(s, "pe_start", 0, 1<<53)
	if err != nil {
		return pv, err
	}
	pv.PEStart = start * sectorSize
	if pv.PECount, err = needNum(s, "pe_count", 0, 1<<53); err != nil {
		return pv, err
	}
	if hi, lo := bits.Mul64(uint64(pv.PECount), uint64(extent)); hi != 0 || lo > 1<<62-uint64(pv.PEStart) {
		return pv, metaErr("PV %s: %d extents of %d bytes overflow", s.name, pv.PECount, extent)
	}
	return pv, nil
}

func (md *Metadata) pv(name string) *MetaPV {
	for i := range md.PVs {
		if md.PVs[i].Name == name {
			return &md.PVs[i]
		}
	}
	return nil
}

func (md *Metadata) parseLV(s *section) (MetaLV, error) {
	lv := MetaLV{Name: s.name, UUID: s.values["id"].str, Status: strList(s.values["status"])}
	var next int64
	for _, g := range s.sections {
		seg, err := md.parseSegment(s.name, g)
		if err != nil {
			return lv, err
		}
		if seg.StartExtent != next {
			return lv, metaErr("LV %s: %s starts at extent %d, want %d (segments must follow each other)", s.name, g.name, seg.StartExtent, next)
		}
		next += seg.ExtentCount
		if hi, lo := bits.Mul64(uint64(next), uint64(md.ExtentSize)); hi != 0 || lo > 1<<62 {
			return lv, metaErr("LV %s: %d extents of %d bytes overflow", s.name, next, md.ExtentSize)
		}
		lv.Segments = append(lv.Segments, seg)
	}
	return lv, nil
}

func (md *Metadata) parseSegment(lvName string, s *section) (Segment, error) {
	var seg Segment
	var err error
	if seg.StartExtent, err = needNum(s, "start_extent", 0, 1<<53); err != nil {
		return seg, err
	}
	if seg.ExtentCount, err = needNum(s, "extent_count", 1, 1<<53); err != nil {
		return seg, err
	}
	if seg.Type, err = needStr(s, "type"); err != nil {
		return seg, err
	}
	if !isStriped(seg.Type) {
		return seg, nil // refused when opened, listed with its type
	}
	n, err := needNum(s, "stripe_count", 1, maxStripes)
	if err != nil {
		return seg, err
	}
	if seg.ExtentCount%n != 0 {
		return seg, metaErr("LV %s %s: %d extents over %d stripes", lvName, s.name, seg.ExtentCount, n)
	}
	per := seg.ExtentCount / n
	if n > 1 {
		ss, err := needNum(s, "stripe_size", 1, maxExtentSize)
		if err != nil {
			return seg, err
		}
		if ss&(ss-1) != 0 || (per*md.ExtentSize)%(ss*sectorSize) != 0 {
			return seg, metaErr("LV %s %s: stripe_size %d sectors does not divide its stripes", lvName, s.name, ss)
		}
		seg.StripeSize = ss * sectorSize
	}
	st := s.values["stripes"]
	if !st.isList || len(st.list) != int(2*n) {
		return seg, metaErr("LV %s %s: stripes must list %d PV, extent pairs", lvName, s.name, n)
	}
	for i := 0; i < len(st.list); i += 2 {
		name, pe := st.list[i], st.list[i+1]
		if name.isNum || name.isList || !pe.isNum || pe.num < 0 {
			return seg, metaErr("LV %s %s: stripe %d is not a PV name and an extent", lvName, s.name, i/2)
		}
		pv := md.pv(name.str)
		if pv == nil {
			return seg, metaErr("LV %s %s: stripe on %q, which the VG does not list", lvName, s.name, name.str)
		}
		if pe.num > pv.PECount || per > pv.PECount-pe.num {
			return seg, metaErr("LV %s %s: extents %d+%d past the end of %s (%d extents)", lvName, s.name, pe.num, per, pv.Name, pv.PECount)
		}
		seg.Stripes = append(seg.Stripes, Stripe{PV: name.str, StartExtent: pe.num})
	}
	return seg, nil
}

func needStr(s *section, key string) (string, error) {
	v, ok := s.values[key]
	if !ok || v.isNum || v.isList {
		return "", metaErr("%s: %s is missing or not a string", s.name, key)
	}
	return v.str, nil
}

func needNum(s *section, key string, lo, hi int64) (int64, error) {
	v, ok := s.values[key]
	if !ok || !v.isNum {
		return 0, metaErr("%s: %s is missing or not a number", s.name, key)
	}
	if v.num < lo || v.num > hi {
		return 0, &FormatError{Offset: -1, Line: v.line, What: metaErr("%s: %s = %d, want %d to %d", s.name, key, v.num, lo, hi).(*FormatError).What}
	}
	return v.num, nil
}

func strList(v value) []string {
	var out []string
	for _, e := range v.list {
		if !e.isNum {
			out = append(out, e.str)
		}
	}
	return out
}
