package lvm

import (
	"errors"
	"io"
	"sort"
)

var errNegative = errors.New("lvm: negative offset")

// Volume reads an LV: an io.ReaderAt over its Size bytes.
type Volume struct {
	segs []volSegment
	size int64
}

type volSegment struct {
	start, size int64 // bytes of the LV
	chunk       int64 // stripe size in bytes; 0 with one stripe
	areas       []area
}

// area is one stripe: the PV's reader and the byte offset of its first
// extent.
type area struct {
	pv  string // the PV's name in the metadata
	r   io.ReaderAt
	off int64
}

// Extent tells where the LV lies when it is one run of bytes of one PV
// (one linear segment, or segments that follow each other on one PV): the
// PV's reader and the byte offset there. A reader of that PV at that
// offset sees the LV as it is (`losetup --offset`).
func (v *Volume) Extent() (r io.ReaderAt, off int64, ok bool) {
	for i, s := range v.segs {
		if len(s.areas) != 1 {
			return nil, 0, false
		}
		a, first := s.areas[0], v.segs[0].areas[0]
		if i == 0 {
			r, off = a.r, a.off
		} else if a.pv != first.pv || a.off != off+s.start {
			return nil, 0, false
		}
	}
	return r, off, len(v.segs) > 0
}

// Size is the LV's size in bytes.
func (v *Volume) Size() int64 { return v.size }

// ReadAt reads the LV's bytes at off, piece by piece on the PVs.
func (v *Volume) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegative
	}
	n := 0
	for len(p) > 0 {
		if off >= v.size {
			return n, io.EOF
		}
		i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].start+v.segs[i].size > off })
		s := &v.segs[i]
		rel := off - s.start
		want := min(int64(len(p)), s.size-rel)
		a, pvOff := s.areas[0], s.areas[0].off+rel
		if len(s.areas) > 1 {
			chunk := rel / s.chunk
			in := rel % s.chunk
			a = s.areas[chunk%int64(len(s.areas))]
			pvOff = a.off + chunk/int64(len(s.areas))*s.chunk + in
			want = min(want, s.chunk-in)
		}
		m, err := a.r.ReadAt(p[:want], pvOff)
		n += m
		if m < int(want) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		p, off = p[want:], off+want
	}
	return n, nil
}

// Locate tells where the LV's bytes [off, off+n) lie when they are one
// run of one PV (within one segment and, striped, one chunk): the PV's
// reader and the byte offset there; a server can then hand the PV's
// bytes on without reading them (splice).
func (v *Volume) Locate(off, n int64) (r io.ReaderAt, at int64, ok bool) {
	if off < 0 || n <= 0 || off > v.size-n {
		return nil, 0, false
	}
	i := sort.Search(len(v.segs), func(i int) bool { return v.segs[i].start+v.segs[i].size > off })
	if i == len(v.segs) {
		return nil, 0, false
	}
	s := &v.segs[i]
	rel := off - s.start
	if rel+n > s.size {
		return nil, 0, false
	}
	if len(s.areas) == 1 {
		return s.areas[0].r, s.areas[0].off + rel, true
	}
	chunk, in := rel/s.chunk, rel%s.chunk
	if in+n > s.chunk {
		return nil, 0, false
	}
	a := s.areas[chunk%int64(len(s.areas))]
	return a.r, a.off + chunk/int64(len(s.areas))*s.chunk + in, true
}
