package udf

import (
	"encoding/binary"
	"strings"
	"time"
	"unicode/utf16"
	"unicode/utf8"
)

// Descriptor tag identifiers (ECMA-167 3/7.2.1 and 4/7.2.1).
const (
	tagPrimaryVD     = 1
	tagAnchor        = 2
	tagPointerVD     = 3
	tagImplUseVD     = 4
	tagPartitionVD   = 5
	tagLogicalVD     = 6
	tagUnallocatedVD = 7
	tagTerminatingVD = 8
	tagFileSet       = 256
	tagFID           = 257
	tagAED           = 258
	tagIndirect      = 259
	tagTerminal      = 260
	tagFileEntry     = 261
	tagExtFileEntry  = 266
)

const tagSize = 16

// tag is a descriptor tag (ECMA-167 3/7.2).
type tag struct {
	ident    uint16
	version  uint16
	serial   uint16
	crc      uint16
	crcLen   uint16
	location uint32
}

// parseTag decodes and checks the 16-byte tag at the start of b: its
// checksum, and its CRC when the CRC length fits in b. It does not check
// the location (callers that know it do).
func parseTag(b []byte, off int64) (tag, error) {
	if len(b) < tagSize {
		return tag{}, formatErr(off, "descriptor tag truncated (%d bytes)", len(b))
	}
	t := tag{
		ident:    binary.LittleEndian.Uint16(b[0:]),
		version:  binary.LittleEndian.Uint16(b[2:]),
		serial:   binary.LittleEndian.Uint16(b[6:]),
		crc:      binary.LittleEndian.Uint16(b[8:]),
		crcLen:   binary.LittleEndian.Uint16(b[10:]),
		location: binary.LittleEndian.Uint32(b[12:]),
	}
	var sum byte
	for i := 0; i < tagSize; i++ {
		if i != 4 {
			sum += b[i]
		}
	}
	if sum != b[4] {
		return t, formatErr(off, "descriptor tag checksum %#02x, computed %#02x (tag identifier %d)", b[4], sum, t.ident)
	}
	if int(t.crcLen) > len(b)-tagSize {
		return t, formatErr(off, "descriptor tag CRC length %d past the descriptor (%d bytes)", t.crcLen, len(b)-tagSize)
	}
	if c := crc16(b[tagSize : tagSize+int(t.crcLen)]); c != t.crc {
		return t, formatErr(off, "descriptor CRC %#04x, computed %#04x (tag identifier %d)", t.crc, c, t.ident)
	}
	return t, nil
}

// crcTable is CRC-16 CCITT (polynomial 0x1021), most significant bit first.
var crcTable = func() (t [256]uint16) {
	for i := range t {
		c := uint16(i) << 8
		for range 8 {
			if c&0x8000 != 0 {
				c = c<<1 ^ 0x1021
			} else {
				c <<= 1
			}
		}
		t[i] = c
	}
	return t
}()

// crc16 is the descriptor CRC of ECMA-167 1/7.2.6: CRC-16 CCITT, initial 0.
func crc16(b []byte) uint16 {
	var c uint16
	for _, x := range b {
		c = c<<8 ^ crcTable[byte(c>>8)^x]
	}
	return c
}

// decodeCS0 decodes an OSTA CS0 string (OSTA UDF 2.1.1): a compression id
// then the characters, 8 bits each (id 8, 254: Latin-1) or 16 bits big
// endian (id 16, 255: UTF-16). An unknown id is read as 8 bits.
func decodeCS0(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	id, b := b[0], b[1:]
	switch id {
	case 16, 255:
		u := make([]uint16, len(b)/2)
		for i := range u {
			u[i] = binary.BigEndian.Uint16(b[2*i:])
		}
		return string(utf16.Decode(u))
	default:
		var sb strings.Builder
		sb.Grow(len(b))
		for _, c := range b {
			if c < utf8.RuneSelf {
				sb.WriteByte(c)
			} else {
				sb.WriteRune(rune(c))
			}
		}
		return sb.String()
	}
}

// decodeDString decodes a dstring (ECMA-167 1/7.2.12): a CS0 string in a
// fixed field whose last byte is the length used. Trailing NULs are cut.
func decodeDString(b []byte) string {
	if len(b) < 2 {
		return ""
	}
	n := int(b[len(b)-1])
	if n > len(b)-1 {
		n = len(b) - 1
	}
	return strings.TrimRight(decodeCS0(b[:n]), "\x00")
}

// parseTimestamp decodes a 12-byte timestamp (ECMA-167 1/7.3) with its time
// zone. It returns the zero time for an unrecorded or invalid one.
func parseTimestamp(b []byte) time.Time {
	if len(b) < 12 {
		return time.Time{}
	}
	tz := binary.LittleEndian.Uint16(b[0:])
	year := int(int16(binary.LittleEndian.Uint16(b[2:])))
	month, day, hour, minute, sec := int(b[4]), int(b[5]), int(b[6]), int(b[7]), int(b[8])
	if year == 0 && month == 0 && day == 0 {
		return time.Time{}
	}
	if year < 1 || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 || sec > 60 ||
		b[9] > 99 || b[10] > 99 || b[11] > 99 {
		return time.Time{}
	}
	ns := (int(b[9])*10000 + int(b[10])*100 + int(b[11])) * 1000
	loc := time.UTC
	if tz>>12 == 1 { // local time with an offset from UTC
		off := int(int16(tz<<4) >> 4) // 12-bit signed minutes
		if off != -2047 && off >= -1440 && off <= 1440 {
			loc = time.FixedZone("", off*60)
		}
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, loc)
}

// lbAddr is a logical block address: a block of a partition (by its
// reference number, the index of its map in the logical volume).
type lbAddr struct {
	lbn  uint32
	part uint16
}

func parseLBAddr(b []byte) lbAddr {
	return lbAddr{lbn: binary.LittleEndian.Uint32(b), part: binary.LittleEndian.Uint16(b[4:])}
}

// Extent types: the top two bits of an allocation descriptor's length
// (ECMA-167 4/14.14.1.1).
const (
	extRecorded    = 0
	extAllocated   = 1 // allocated, not recorded: reads as zeros
	extUnallocated = 2 // neither: reads as zeros
	extNext        = 3 // the next extent of allocation descriptors
)

// Allocation descriptor types: ICB flags bits 0-2 (ECMA-167 4/14.6.8).
const (
	adShort    = 0
	adLong     = 1
	adExt      = 2
	adEmbedded = 3
)

// lext is an extent as an allocation descriptor records it: a logical
// address, a byte length and a type.
type lext struct {
	addr   lbAddr
	length int64
	typ    byte
}

// adSize is the size of one allocation descriptor of a type.
func adSize(adType int) int {
	switch adType {
	case adShort:
		return 8
	case adLong:
		return 16
	case adExt:
		return 20
	}
	return 0
}

// parseADs decodes the allocation descriptors in b (short_ad, long_ad or
// ext_ad; short ones are in partition part). It stops at a zero length, at
// the end of b, or after a descriptor of type 3 (the next extent of
// descriptors), which it returns as next.
func parseADs(b []byte, adType int, part uint16, off int64) (exts []lext, next *lext, err error) {
	sz := adSize(adType)
	if sz == 0 {
		return nil, nil, formatErr(off, "allocation descriptor type %d", adType)
	}
	for pos := 0; pos+sz <= len(b); pos += sz {
		d := b[pos : pos+sz]
		raw := binary.LittleEndian.Uint32(d)
		x := lext{length: int64(raw & 0x3FFFFFFF), typ: byte(raw >> 30)}
		if x.length == 0 {
			break
		}
		switch adType {
		case adShort:
			x.addr = lbAddr{lbn: binary.LittleEndian.Uint32(d[4:]), part: part}
		case adLong:
			x.addr = parseLBAddr(d[4:])
		case adExt:
			x.addr = parseLBAddr(d[12:])
		}
		if x.typ == extNext {
			return exts, &x, nil
		}
		exts = append(exts, x)
	}
	return exts, nil, nil
}
