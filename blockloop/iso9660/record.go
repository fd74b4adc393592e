package iso9660

import (
	"encoding/binary"
	"time"
)

// Directory record flags (ECMA-119 9.1.6).
const (
	flagHidden     = 0x01
	flagDir        = 0x02
	flagAssociated = 0x04
	flagMulti      = 0x80
)

// record is one parsed directory record. Its slices alias the buffer it was
// parsed from.
type record struct {
	off       int64 // byte offset of the record in the image
	length    int   // bytes
	xar       uint8
	extent    uint32 // LBA of the extent (without the extended attribute record)
	size      uint32
	date      [7]byte
	flags     uint8
	unitSize  uint8
	gapSize   uint8
	ident     []byte
	systemUse []byte
}

// dataLBA is the first block of the file's data: the extended attribute
// record, if any, comes first.
func (r *record) dataLBA() int64 { return int64(r.extent) + int64(r.xar) }

func (r *record) isDot() bool    { return len(r.ident) == 1 && r.ident[0] == 0 }
func (r *record) isDotDot() bool { return len(r.ident) == 1 && r.ident[0] == 1 }

// parseRecord parses the directory record at the start of b (which is at
// byte off of the image). It returns (nil, 0, nil) for a zero length byte
// (padding up to the next sector).
func parseRecord(b []byte, off int64) (*record, int, error) {
	r := new(record)
	n, err := decodeRecord(r, b, off)
	if n == 0 || err != nil {
		return nil, 0, err
	}
	return r, n, nil
}

// decodeRecord is parseRecord into r (no allocation, for listings): it
// returns the record's length, 0 for padding.
func decodeRecord(r *record, b []byte, off int64) (int, error) {
	if len(b) == 0 || b[0] == 0 {
		return 0, nil
	}
	n := int(b[0])
	if n < 34 || n > len(b) {
		return 0, formatErr(off, "directory record length %d (%d bytes left in the sector)", n, len(b))
	}
	lfi := int(b[32])
	if lfi == 0 || 33+lfi > n {
		return 0, formatErr(off, "file identifier length %d in a %d-byte record", lfi, n)
	}
	*r = record{
		off:      off,
		length:   n,
		xar:      b[1],
		extent:   binary.LittleEndian.Uint32(b[2:]),
		size:     binary.LittleEndian.Uint32(b[10:]),
		flags:    b[25],
		unitSize: b[26],
		gapSize:  b[27],
		ident:    b[33 : 33+lfi],
	}
	copy(r.date[:], b[18:25])
	su := 33 + lfi
	if lfi%2 == 0 {
		su++ // padding byte after an even-length identifier
	}
	if su < n {
		r.systemUse = b[su:n]
	}
	return n, nil
}

// parseDate7 decodes the 7-byte recording date (ECMA-119 9.1.5), also used
// by Rock Ridge TF entries in short form.
func parseDate7(b []byte) time.Time {
	if len(b) < 7 || (b[0] == 0 && b[1] == 0 && b[2] == 0) {
		return time.Time{}
	}
	t := time.Date(1900+int(b[0]), time.Month(b[1]), int(b[2]), int(b[3]), int(b[4]), int(b[5]), 0, time.UTC)
	return t.Add(-tzOffset(b[6]))
}

// parseDate17 decodes the 17-byte digit form (ECMA-119 8.4.26.1).
func parseDate17(b []byte) time.Time {
	if len(b) < 17 {
		return time.Time{}
	}
	num := func(s []byte) (int, bool) {
		v := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, false
			}
			v = v*10 + int(c-'0')
		}
		return v, true
	}
	var f [7]int
	spans := [7][2]int{{0, 4}, {4, 6}, {6, 8}, {8, 10}, {10, 12}, {12, 14}, {14, 16}}
	for i, s := range spans {
		v, ok := num(b[s[0]:s[1]])
		if !ok {
			return time.Time{}
		}
		f[i] = v
	}
	if f[0] == 0 {
		return time.Time{}
	}
	t := time.Date(f[0], time.Month(f[1]), f[2], f[3], f[4], f[5], f[6]*10_000_000, time.UTC)
	return t.Add(-tzOffset(b[16]))
}

func tzOffset(b byte) time.Duration {
	q := int(int8(b))
	if q < -48 || q > 52 {
		return 0
	}
	return time.Duration(q) * 15 * time.Minute
}
