package ntfs

import (
	"encoding/binary"
	"fmt"
	"unicode/utf16"
)

// Attribute types.
const (
	atStandardInfo = 0x10
	atAttrList     = 0x20
	atFileName     = 0x30
	atVolumeName   = 0x60
	atVolumeInfo   = 0x70
	atData         = 0x80
	atIndexRoot    = 0x90
	atIndexAlloc   = 0xA0
	atBitmap       = 0xB0
	atReparse      = 0xC0
	atEnd          = 0xFFFFFFFF
)

// Attribute flags.
const (
	afCompressed = 0x0001
	afEncrypted  = 0x4000
	afSparse     = 0x8000
)

// MFT record flags.
const (
	mfInUse = 0x0001
	mfDir   = 0x0002
)

// record is one decoded MFT record (fixups applied).
type record struct {
	num   int64
	off   int64 // byte offset in the image, for errors
	flags uint16
	seq   uint16
	links uint16
	base  int64 // the base record of an extension record; 0 for a base record
	attrs []*attr
}

// attr is one attribute header and what it points to.
type attr struct {
	typ      uint32
	name     string
	flags    uint16
	id       uint16
	resident bool
	value    []byte // resident value

	// non-resident
	lowVCN, highVCN int64
	runs            []run
	compUnit        uint8 // log2 of clusters per compression unit
	allocSize       int64
	dataSize        int64
	initSize        int64

	off int64 // byte offset in the image, for errors
}

// applyFixups checks and undoes the update sequence of the multi-sector
// structure b (an MFT record or index block): the last two bytes of every
// 512-byte stride hold the update sequence number, and their true values
// are in the update sequence array.
func applyFixups(b []byte, off int64) error {
	usaOff := int(binary.LittleEndian.Uint16(b[4:]))
	usaCount := int(binary.LittleEndian.Uint16(b[6:]))
	if usaCount == 0 || usaCount-1 != len(b)/512 || usaOff&1 != 0 || usaOff < 8 || usaOff+2*usaCount > len(b) || usaOff+2*usaCount > 512-2 {
		return formatErr(off+4, "update sequence array at %d of %d entries does not fit a %d-byte structure", usaOff, usaCount, len(b))
	}
	usn := b[usaOff : usaOff+2]
	for i := 1; i < usaCount; i++ {
		end := i*512 - 2
		if b[end] != usn[0] || b[end+1] != usn[1] {
			return formatErr(off+int64(end), "update sequence mismatch in sector %d (a torn write)", i-1)
		}
		b[end], b[end+1] = b[usaOff+2*i], b[usaOff+2*i+1]
	}
	return nil
}

// parseRecord decodes MFT record num from b (recordSize bytes as read,
// fixups not yet applied), read at image offset off.
func parseRecord(b []byte, num, off int64, maxRuns int) (*record, error) {
	if string(b[:4]) != "FILE" {
		if string(b[:4]) == "BAAD" {
			return nil, formatErr(off, "MFT record %d is marked bad (BAAD)", num)
		}
		return nil, formatErr(off, "MFT record %d has no FILE signature", num)
	}
	if err := applyFixups(b, off); err != nil {
		return nil, fmt.Errorf("MFT record %d: %w", num, err)
	}
	return decodeRecord(b, num, off, maxRuns)
}

// decodeRecord is parseRecord of a record whose update sequence is
// undone already.
func decodeRecord(b []byte, num, off int64, maxRuns int) (*record, error) {
	if string(b[:4]) != "FILE" {
		if string(b[:4]) == "BAAD" {
			return nil, formatErr(off, "MFT record %d is marked bad (BAAD)", num)
		}
		return nil, formatErr(off, "MFT record %d has no FILE signature", num)
	}
	r := &record{num: num, off: off}
	r.seq = binary.LittleEndian.Uint16(b[0x10:])
	r.links = binary.LittleEndian.Uint16(b[0x12:])
	aoff := int(binary.LittleEndian.Uint16(b[0x14:]))
	r.flags = binary.LittleEndian.Uint16(b[0x16:])
	used := int(binary.LittleEndian.Uint32(b[0x18:]))
	r.base = int64(binary.LittleEndian.Uint64(b[0x20:]) & 0xFFFFFFFFFFFF)
	if used > len(b) || used < 0x30 {
		return nil, formatErr(off+0x18, "MFT record %d uses %d of its %d bytes", num, used, len(b))
	}
	if aoff < 0x30 || aoff&7 != 0 || aoff >= used {
		return nil, formatErr(off+0x14, "MFT record %d: attributes at %d", num, aoff)
	}
	for aoff+4 <= used {
		typ := binary.LittleEndian.Uint32(b[aoff:])
		if typ == atEnd {
			return r, nil
		}
		if aoff+16 > used {
			break
		}
		n := int(binary.LittleEndian.Uint32(b[aoff+4:]))
		if n < 16 || n&7 != 0 || n > used-aoff {
			return nil, formatErr(off+int64(aoff)+4, "MFT record %d: attribute 0x%x of %d bytes overruns the record", num, typ, n)
		}
		a, err := parseAttr(b[aoff:aoff+n], off+int64(aoff), maxRuns)
		if err != nil {
			return nil, fmt.Errorf("MFT record %d: %w", num, err)
		}
		r.attrs = append(r.attrs, a)
		aoff += n
	}
	return nil, formatErr(off+int64(aoff), "MFT record %d: attributes do not end before byte %d", num, used)
}

// parseAttr decodes one attribute b (its whole length) at image offset off.
func parseAttr(b []byte, off int64, maxRuns int) (*attr, error) {
	a := &attr{off: off}
	a.typ = binary.LittleEndian.Uint32(b)
	a.resident = b[8] == 0
	nameLen := int(b[9])
	nameOff := int(binary.LittleEndian.Uint16(b[10:]))
	a.flags = binary.LittleEndian.Uint16(b[12:])
	a.id = binary.LittleEndian.Uint16(b[14:])
	if nameLen > 0 {
		if nameOff+2*nameLen > len(b) {
			return nil, formatErr(off+10, "attribute 0x%x: name overruns it", a.typ)
		}
		a.name = decodeUTF16(b[nameOff : nameOff+2*nameLen])
	}
	if a.resident {
		if len(b) < 0x18 {
			return nil, formatErr(off, "resident attribute 0x%x of %d bytes", a.typ, len(b))
		}
		vlen := int(binary.LittleEndian.Uint32(b[0x10:]))
		voff := int(binary.LittleEndian.Uint16(b[0x14:]))
		if voff > len(b) || vlen > len(b)-voff {
			return nil, formatErr(off+0x10, "attribute 0x%x: value of %d bytes at %d overruns its %d bytes", a.typ, vlen, voff, len(b))
		}
		a.value = b[voff : voff+vlen]
		a.dataSize, a.initSize, a.allocSize = int64(vlen), int64(vlen), int64(vlen)
		return a, nil
	}
	if len(b) < 0x40 {
		return nil, formatErr(off, "non-resident attribute 0x%x of %d bytes", a.typ, len(b))
	}
	a.lowVCN = int64(binary.LittleEndian.Uint64(b[0x10:]))
	a.highVCN = int64(binary.LittleEndian.Uint64(b[0x18:]))
	mpOff := int(binary.LittleEndian.Uint16(b[0x20:]))
	a.compUnit = b[0x22]
	a.allocSize = int64(binary.LittleEndian.Uint64(b[0x28:]))
	a.dataSize = int64(binary.LittleEndian.Uint64(b[0x30:]))
	a.initSize = int64(binary.LittleEndian.Uint64(b[0x38:]))
	if a.lowVCN < 0 || a.highVCN < a.lowVCN-1 || a.allocSize < 0 || a.dataSize < 0 || a.initSize < 0 ||
		a.dataSize > a.allocSize || a.initSize > a.dataSize || a.allocSize > 1<<56 {
		return nil, formatErr(off+0x10, "attribute 0x%x: VCNs %d..%d, sizes %d/%d/%d", a.typ, a.lowVCN, a.highVCN, a.allocSize, a.dataSize, a.initSize)
	}
	if mpOff < 0x40 || mpOff > len(b) {
		return nil, formatErr(off+0x20, "attribute 0x%x: mapping pairs at %d", a.typ, mpOff)
	}
	runs, err := decodeRuns(b[mpOff:], a.lowVCN, maxRuns)
	if err != nil {
		return nil, fmt.Errorf("attribute 0x%x at byte %d: %w", a.typ, off, err)
	}
	if next := a.lowVCN + runsLen(runs); next != a.highVCN+1 {
		return nil, formatErr(off+int64(mpOff), "attribute 0x%x: run list covers VCNs %d..%d, header says %d..%d", a.typ, a.lowVCN, next-1, a.lowVCN, a.highVCN)
	}
	a.runs = runs
	return a, nil
}

// decodeUTF16 decodes little-endian UTF-16 (unpaired surrogates become
// U+FFFD).
func decodeUTF16(b []byte) string {
	ascii := true
	for i := 0; i+1 < len(b); i += 2 {
		if b[i] >= 0x80 || b[i+1] != 0 {
			ascii = false
			break
		}
	}
	if ascii {
		s := make([]byte, len(b)/2)
		for i := range s {
			s[i] = b[2*i]
		}
		return string(s)
	}
	u := make([]uint16, len(b)/2)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2*i:])
	}
	return string(utf16.Decode(u))
}
