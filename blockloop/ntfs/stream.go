package ntfs

import (
	"errors"
	"fmt"
	"io"
	"sort"
	"sync"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Extent is a byte range of a file's data in the image; a Sparse extent is
// not stored and reads as zeros.
type Extent struct {
	Offset int64 // byte offset in the image (0 when Sparse)
	Length int64
	Sparse bool
}

// stream is the data of one attribute: resident bytes, or runs of
// clusters, plain or LZNT1-compressed in units.
type stream struct {
	fs       *FS
	size     int64 // data size
	initSize int64 // past it, zeros
	resident []byte
	isRes    bool
	runs     []run
	unit     int64 // clusters per compression unit; 0: not compressed

	mu      sync.Mutex
	unitNum int64 // the unit in unitBuf, -1 none
	unitBuf []byte
}

// newStream checks a (merged) attribute's runs against the volume and
// makes its reader.
func (f *FS) newStream(a *attr) (*stream, error) {
	s := &stream{fs: f, size: a.dataSize, initSize: a.initSize, unitNum: -1}
	if a.resident {
		s.isRes, s.resident = true, a.value
		return s, nil
	}
	for _, r := range a.runs {
		if r.lcn >= 0 && (r.lcn >= f.clusters || r.length > f.clusters-r.lcn) {
			return nil, formatErr(a.off, "attribute 0x%x: run of %d clusters at LCN %d is past the volume's %d clusters", a.typ, r.length, r.lcn, f.clusters)
		}
	}
	if a.flags&afCompressed != 0 && a.compUnit != 0 {
		if a.flags&0x00FF != afCompressed {
			return nil, readkit.Unsupported("ntfs", "attribute 0x%x at byte %d: compression method %d", a.typ, a.off, a.flags&0xFF)
		}
		if f.clusterSize > 4096 || a.compUnit > 8 {
			return nil, readkit.Unsupported("ntfs", "attribute 0x%x at byte %d: compression with %d-byte clusters", a.typ, a.off, f.clusterSize)
		}
		s.unit = 1 << a.compUnit
	}
	s.runs = a.runs
	covered := runsLen(a.runs) * f.clusterSize
	if a.lowVCN != 0 || (covered < s.size && s.unit == 0) {
		return nil, formatErr(a.off, "attribute 0x%x: its runs hold %d bytes of its %d", a.typ, covered, s.size)
	}
	return s, nil
}

// Extents are the stream's bytes in the image when stored plainly (not
// resident, not compressed); nil otherwise.
func (s *stream) extents() []Extent {
	if s.isRes || s.unit != 0 {
		return nil
	}
	var out []Extent
	left := s.initSize
	for _, r := range s.runs {
		if left <= 0 {
			break
		}
		n := min(r.length*s.fs.clusterSize, left)
		x := Extent{Offset: r.lcn * s.fs.clusterSize, Length: n}
		if r.lcn < 0 {
			x = Extent{Length: n, Sparse: true}
		}
		if k := len(out) - 1; k >= 0 && !x.Sparse && !out[k].Sparse && out[k].Offset+out[k].Length == x.Offset {
			out[k].Length += n
		} else {
			out = append(out, x)
		}
		left -= n
	}
	if s.size > s.initSize {
		out = append(out, Extent{Length: s.size - s.initSize, Sparse: true})
	}
	return out
}

// ReadAt reads the stream's data; reads past its size return io.EOF.
func (s *stream) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errors.New("ntfs: negative offset")
	}
	if off >= s.size {
		return 0, io.EOF
	}
	want := p
	if rest := s.size - off; int64(len(want)) > rest {
		want = want[:rest]
	}
	var err error
	switch {
	case s.isRes:
		copy(want, s.resident[min(off, int64(len(s.resident))):])
		if end := int64(len(s.resident)); off+int64(len(want)) > end {
			clear(want[max(end-off, 0):])
		}
	case s.unit != 0:
		err = s.readCompressed(want, off)
		if end := off + int64(len(want)); err == nil && end > s.initSize {
			clear(want[max(s.initSize-off, 0):])
		}
	default:
		err = s.readPlain(want, off)
	}
	if err != nil {
		return 0, err
	}
	if len(want) < len(p) {
		return len(want), io.EOF
	}
	return len(p), nil
}

// findRun is the index of the run holding vcn, or len(runs).
func findRun(runs []run, vcn int64) int {
	return sort.Search(len(runs), func(i int) bool { return runs[i].vcn+runs[i].length > vcn })
}

// readPlain fills p from off of an uncompressed stream: stored runs,
// sparse runs and the part past the initialized size as zeros.
func (s *stream) readPlain(p []byte, off int64) error {
	cs := s.fs.clusterSize
	for len(p) > 0 {
		if off >= s.initSize {
			clear(p)
			return nil
		}
		chunk := p[:min(int64(len(p)), s.initSize-off)]
		vcn := off / cs
		i := findRun(s.runs, vcn)
		if i == len(s.runs) || s.runs[i].vcn > vcn {
			return formatErr(0, "VCN %d of a stream is in none of its runs", vcn)
		}
		r := s.runs[i]
		in := off - r.vcn*cs
		if rest := r.length*cs - in; int64(len(chunk)) > rest {
			chunk = chunk[:rest]
		}
		if r.lcn < 0 {
			clear(chunk)
		} else if err := s.fs.readAt(chunk, r.lcn*cs+in); err != nil {
			return err
		}
		p = p[len(chunk):]
		off += int64(len(chunk))
	}
	return nil
}

// readCompressed fills p from off of a compressed stream, a unit at a time.
func (s *stream) readCompressed(p []byte, off int64) error {
	ub := s.unit * s.fs.clusterSize
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(p) > 0 {
		u := off / ub
		if s.unitNum != u {
			if err := s.loadUnit(u); err != nil {
				s.unitNum = -1
				return err
			}
		}
		n := copy(p, s.unitBuf[off-u*ub:])
		p = p[n:]
		off += int64(n)
	}
	return nil
}

// loadUnit reads compression unit u into unitBuf: all its clusters stored
// is a plain unit, none a sparse one (zeros), some the LZNT1-compressed
// data of the unit.
func (s *stream) loadUnit(u int64) error {
	cs := s.fs.clusterSize
	ub := s.unit * cs
	if s.unitBuf == nil {
		s.unitBuf = make([]byte, ub)
	}
	buf := s.unitBuf
	clear(buf)
	first := u * s.unit
	var stored []run // the unit's stored clusters, in VCN order
	n := int64(0)
	for i := findRun(s.runs, first); i < len(s.runs) && s.runs[i].vcn < first+s.unit; i++ {
		r := s.runs[i]
		lo, hi := max(r.vcn, first), min(r.vcn+r.length, first+s.unit)
		if r.lcn >= 0 {
			stored = append(stored, run{vcn: lo, lcn: r.lcn + lo - r.vcn, length: hi - lo})
			n += hi - lo
		}
	}
	switch {
	case n == 0:
	case n == s.unit:
		for _, r := range stored {
			if err := s.fs.readAt(buf[(r.vcn-first)*cs:(r.vcn-first+r.length)*cs], r.lcn*cs); err != nil {
				return err
			}
		}
	default:
		src := make([]byte, n*cs)
		at := int64(0)
		for _, r := range stored {
			if err := s.fs.readAt(src[at:at+r.length*cs], r.lcn*cs); err != nil {
				return err
			}
			at += r.length * cs
		}
		if err := decompressLZNT1(buf, src); err != nil {
			return fmt.Errorf("%w (compression unit %d, at byte %d)", err, u, stored[0].lcn*cs)
		}
	}
	s.unitNum = u
	return nil
}
