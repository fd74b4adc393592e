package lvm

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
)

const (
	sectorSize   = 512
	labelScan    = 4 // the label is in one of the first 4 sectors
	labelHdrSize = 32
	uuidLen      = 32
	maxAreas     = 16 // disk_locn entries per list; lvm2 writes at most 2
)

var (
	labelID   = []byte("LABELONE")
	labelType = []byte("LVM2 001")
)

// Area is a disk location from the PV header: a byte offset from the
// start of the PV and a size (0: up to the end, for a data area).
type Area struct {
	Offset, Size int64
}

// PV is a physical volume: its label, header and the VG metadata found in
// its metadata areas (like `pvs -o +pv_uuid,vg_name`).
type PV struct {
	UUID          string // as lvm prints it: 6-4-4-4-4-4-6 characters
	DeviceSize    int64  // bytes, as the header says (0 when unknown)
	LabelSector   int
	DataAreas     []Area
	MetadataAreas []Area

	// VGName and Seqno are the latest metadata's; both empty/zero when the
	// PV has no metadata area (pvcreate --metadatacopies 0) or is in no VG.
	VGName string
	Seqno  uint64
	// Metadata is the VG parsed from the latest copy (nil as above).
	Metadata *Metadata

	r    io.ReaderAt
	size int64
}

// ReadPV reads the LVM2 label and PV header of r (size bytes) and the VG
// metadata of its metadata areas, keeping the copy of the highest seqno.
// A metadata area that cannot be read is an error. Needs read access
// only; it matches `pvs` and `pvck`.
func ReadPV(r io.ReaderAt, size int64) (*PV, error) {
	if size < labelScan*sectorSize {
		return nil, fmt.Errorf("%w (%d bytes is too small)", ErrNotPV, size)
	}
	head := make([]byte, labelScan*sectorSize)
	if _, err := r.ReadAt(head, 0); err != nil {
		return nil, fmt.Errorf("lvm: reading the label: %w", err)
	}
	for s := 0; s < labelScan; s++ {
		sec := head[s*sectorSize : (s+1)*sectorSize]
		if !bytes.Equal(sec[:8], labelID) {
			continue
		}
		pv, err := decodeLabel(sec, s)
		if err != nil {
			return nil, err
		}
		pv.r, pv.size = r, size
		if err := pv.readMetadata(); err != nil {
			return nil, err
		}
		return pv, nil
	}
	return nil, ErrNotPV
}

// decodeLabel decodes the label header and PV header in sector s.
func decodeLabel(sec []byte, s int) (*PV, error) {
	off := int64(s) * sectorSize
	le := binary.LittleEndian
	if got := le.Uint64(sec[8:]); got != uint64(s) {
		return nil, formatErr(off+8, "label says it is in sector %d, found in sector %d", got, s)
	}
	if want, got := le.Uint32(sec[16:]), calcCRC(initialCRC, sec[20:]); want != got {
		return nil, &ChecksumError{Offset: off, What: "label", Want: want, Got: got}
	}
	if !bytes.Equal(sec[24:32], labelType) {
		return nil, formatErr(off+24, "label type %q, want %q", sec[24:32], labelType)
	}
	ph := le.Uint32(sec[20:])
	if ph < labelHdrSize || ph > sectorSize-uuidLen-8 {
		return nil, formatErr(off+20, "PV header offset %d out of the sector", ph)
	}
	b := sec[ph:]
	pv := &PV{LabelSector: s, UUID: FormatUUID(string(b[:uuidLen]))}
	pv.DeviceSize = int64(le.Uint64(b[uuidLen:]))
	if pv.DeviceSize < 0 {
		return nil, formatErr(off+int64(ph)+uuidLen, "device size %d", uint64(pv.DeviceSize))
	}
	p := uuidLen + 8
	var err error
	if pv.DataAreas, p, err = decodeAreas(b, p, off+int64(ph)); err != nil {
		return nil, err
	}
	if pv.MetadataAreas, _, err = decodeAreas(b, p, off+int64(ph)); err != nil {
		return nil, err
	}
	return pv, nil
}

// decodeAreas decodes a list of disk_locn {offset, size} at b[p:], ending
// with an all-zero entry, and returns the position after it.
func decodeAreas(b []byte, p int, base int64) ([]Area, int, error) {
	var out []Area
	for {
		if p+16 > len(b) {
			return nil, 0, formatErr(base+int64(p), "PV header area list runs past the label sector")
		}
		o, s := binary.LittleEndian.Uint64(b[p:]), binary.LittleEndian.Uint64(b[p+8:])
		p += 16
		if o == 0 {
			return out, p, nil
		}
		if o > 1<<62 || s > 1<<62 {
			return nil, 0, formatErr(base+int64(p-16), "area offset %d size %d out of range", o, s)
		}
		if len(out) == maxAreas {
			return nil, 0, formatErr(base+int64(p-16), "more than %d areas", maxAreas)
		}
		out = append(out, Area{Offset: int64(o), Size: int64(s)})
	}
}

// FormatUUID spells a 32-character UUID the way lvm prints it, with
// dashes: 6-4-4-4-4-4-6. Other lengths are returned as they are; bytes
// outside printable ASCII become '?'.
func FormatUUID(u string) string {
	b := []byte(u)
	for i, c := range b {
		if c < 0x21 || c > 0x7e {
			b[i] = '?'
		}
	}
	if len(b) != uuidLen {
		return string(b)
	}
	s := string(b)
	return s[0:6] + "-" + s[6:10] + "-" + s[10:14] + "-" + s[14:18] + "-" + s[18:22] + "-" + s[22:26] + "-" + s[26:32]
}
