package lvm

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"fmt"
)

const (
	mdaHeaderSize  = 512
	rawLocnSize    = 24
	rawLocnIgnored = 1 // raw_locn flag: the area is ignored (pvchange --metadataignore)

	// MaxMetadataSize bounds the metadata text read from one area (lvm2's
	// own areas are 1 MiB by default; a VG of thousands of LVs fits).
	MaxMetadataSize = 16 << 20
)

var mdaMagic = []byte(" LVM2 x[5A%r0N*>")

// rawLocn is where a metadata copy lies in its area's circular buffer:
// offset from the area's start, size, CRC of the text, flags.
type rawLocn struct {
	offset, size uint64
	checksum     uint32
	flags        uint32
}

// readMetadata reads every metadata area and keeps the copy of the highest
// seqno. A damaged area is an error unless another one reads (as lvm2 uses
// the second copy at the PV's end when the first is damaged).
func (pv *PV) readMetadata() error {
	var first error
	for _, a := range pv.MetadataAreas {
		md, err := pv.readAreaMetadata(a)
		if err != nil {
			first = cmp.Or(first, err)
			continue
		}
		if md != nil && (pv.Metadata == nil || md.Seqno > pv.Seqno) {
			pv.Metadata, pv.VGName, pv.Seqno = md, md.Name, md.Seqno
		}
	}
	if pv.Metadata == nil {
		return first
	}
	return nil
}

func (pv *PV) readAreaMetadata(a Area) (*Metadata, error) {
	text, err := pv.readArea(a)
	if err != nil || text == nil {
		return nil, err
	}
	md, err := ParseMetadata(text)
	if err != nil {
		return nil, fmt.Errorf("metadata area at byte %d: %w", a.Offset, err)
	}
	return md, nil
}

// readArea reads the metadata area header at a and the latest metadata
// text its circular buffer points at (nil when it holds none).
func (pv *PV) readArea(a Area) ([]byte, error) {
	if a.Size < 2*mdaHeaderSize || a.Offset > pv.size || a.Size > pv.size-a.Offset {
		return nil, formatErr(a.Offset, "metadata area of %d bytes does not fit the PV of %d bytes", a.Size, pv.size)
	}
	h := make([]byte, mdaHeaderSize)
	if _, err := pv.r.ReadAt(h, a.Offset); err != nil {
		return nil, fmt.Errorf("lvm: reading the metadata area header at byte %d: %w", a.Offset, err)
	}
	rl, err := decodeMDAHeader(h, a)
	if err != nil || rl == nil {
		return nil, err
	}
	if rl.offset < mdaHeaderSize || rl.offset >= uint64(a.Size) {
		return nil, formatErr(a.Offset, "metadata copy at offset %d outside its area of %d bytes", rl.offset, a.Size)
	}
	if rl.size == 0 || rl.size > uint64(a.Size-mdaHeaderSize) || rl.size > MaxMetadataSize {
		return nil, formatErr(a.Offset, "metadata copy of %d bytes (area %d bytes, at most %d read)", rl.size, a.Size, MaxMetadataSize)
	}
	text := make([]byte, rl.size)
	first := min(rl.size, uint64(a.Size)-rl.offset)
	if _, err := pv.r.ReadAt(text[:first], a.Offset+int64(rl.offset)); err != nil {
		return nil, fmt.Errorf("lvm: reading metadata at byte %d: %w", a.Offset+int64(rl.offset), err)
	}
	if first < rl.size { // wrapped: the rest follows the header
		if _, err := pv.r.ReadAt(text[first:], a.Offset+mdaHeaderSize); err != nil {
			return nil, fmt.Errorf("lvm: reading wrapped metadata at byte %d: %w", a.Offset+mdaHeaderSize, err)
		}
	}
	if got := calcCRC(initialCRC, text); got != rl.checksum {
		return nil, &ChecksumError{Offset: a.Offset + int64(rl.offset), What: "metadata copy", Want: rl.checksum, Got: got}
	}
	return bytes.TrimRight(text, "\x00"), nil
}

// decodeMDAHeader checks the metadata area header h of area a and returns
// the raw location of its latest copy (nil when there is none or the area
// is ignored).
func decodeMDAHeader(h []byte, a Area) (*rawLocn, error) {
	le := binary.LittleEndian
	if !bytes.Equal(h[4:20], mdaMagic) {
		return nil, formatErr(a.Offset+4, "metadata area header has no magic %q", mdaMagic)
	}
	if want, got := le.Uint32(h), calcCRC(initialCRC, h[4:]); want != got {
		return nil, &ChecksumError{Offset: a.Offset, What: "metadata area header", Want: want, Got: got}
	}
	if v := le.Uint32(h[20:]); v != 1 {
		return nil, formatErr(a.Offset+20, "metadata area header version %d, want 1", v)
	}
	if start := le.Uint64(h[24:]); start != uint64(a.Offset) {
		return nil, formatErr(a.Offset+24, "metadata area header says it starts at byte %d", start)
	}
	p := 40
	rl := &rawLocn{offset: le.Uint64(h[p:]), size: le.Uint64(h[p+8:]), checksum: le.Uint32(h[p+16:]), flags: le.Uint32(h[p+20:])}
	if rl.offset == 0 || rl.flags&rawLocnIgnored != 0 {
		return nil, nil
	}
	return rl, nil
}
