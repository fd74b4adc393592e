package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"strings"
	"unicode/utf16"
)

// The little decoders every prober uses: fixed-size integers, C strings,
// UUIDs, sizes that do not overflow.

func le16(b []byte, o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
func le32(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
func le64(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
func be32(b []byte, o int) uint32 { return binary.BigEndian.Uint32(b[o:]) }
func be64(b []byte, o int) uint64 { return binary.BigEndian.Uint64(b[o:]) }

// cstr is a NUL-terminated (or full) string with invalid UTF-8 kept as is,
// as blkid does.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func uuidString(b []byte) string {
	if allZero(b) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// mul returns a*b, or -1 when that does not fit an int64.
func mul(a, b uint64) int64 {
	if a != 0 && b > (1<<63-1)/a {
		return -1
	}
	return int64(a * b)
}

func claimed(n int64) int64 {
	if n < 0 {
		return 1<<63 - 1
	}
	return n
}

// blkLabel is a label as blkid's set_label keeps it: the bytes up to the
// first NUL, trailing whitespace cut, invalid UTF-8 kept as is.
func blkLabel(b []byte) string {
	return strings.TrimRight(cstr(b), " \t\n\v\f\r")
}

// utf16Label decodes UTF-16 (LE or BE) up to the first NUL, as blkid's
// set_utf8label, trailing whitespace cut.
func utf16Label(b []byte, bigEndian bool) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		if bigEndian {
			c = uint16(b[i])<<8 | uint16(b[i+1])
		}
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.TrimRight(string(utf16.Decode(u)), " \t\n\v\f\r")
}

func latin1Label(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteRune(rune(c))
	}
	return strings.TrimRight(sb.String(), " \t\n\v\f\r")
}
