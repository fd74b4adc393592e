package probe

import (
	"bytes"
	"fmt"
	"strings"
)

// ISO 9660 and UDF (libblkid iso9660.c, udf.c).

func probeISO(rd *reader, p *Result) bool {
	if !rd.has(0x8001, "CD001") {
		return false
	}
	var pvd, joliet []byte
	for i := int64(0); i < 64 && (pvd == nil || joliet == nil); i++ {
		d := rd.at(0x8000+i*2048, 2048)
		if d == nil || d[0] == 255 {
			break
		}
		switch {
		case d[0] == 1 && pvd == nil:
			pvd = d
		case d[0] == 2 && joliet == nil && d[88] == '%' && d[89] == '/' && (d[90] == '@' || d[90] == 'C' || d[90] == 'E'):
			joliet = d
		}
	}
	if pvd == nil {
		return false
	}
	p.Type, p.Kind = "iso9660", KindFilesystem
	switch {
	case joliet != nil:
		p.Version = "Joliet Extension"
		if m, ok := mergeJoliet(joliet[40:72], pvd[40:72]); ok {
			p.Label = utf16Label(m, true)
		} else {
			p.Label = utf16Label(joliet[40:72], true)
		}
	default:
		p.Label = blkLabel(pvd[40:72])
	}
	if t := isoDate(pvd[830:847]); t != "" { // modification date, as blkid
		p.UUID = t
	} else {
		p.UUID = isoDate(pvd[813:830])
	}
	p.FSSize = claimed(mul(uint64(le32(pvd, 80)), uint64(le16(pvd, 128))))
	return true
}

// mergeJoliet rebuilds the label blkid shows from the Joliet label (UCS-2,
// at most 16 characters) and the primary one (32 ASCII characters, '_'
// for what ASCII cannot hold): where the Joliet label is the primary's
// prefix (ignoring case and '_'), its characters, then the rest of the
// primary label. ok is false where they differ.
func mergeJoliet(u16, ascii []byte) ([]byte, bool) {
	n := len(ascii)
	out := make([]byte, 0, 2*n+4)
	a, u := 0, 0
	for ; u+1 < n && a < n; a, u = a+1, u+2 {
		if u16[u] >= 0xD8 && u16[u] <= 0xDB && u+3 < n && u16[u+2] >= 0xDC && u16[u+2] <= 0xDF {
			out = append(out, u16[u], u16[u+1])
			u += 2
		}
		hi, lo := u16[u], u16[u+1]
		switch {
		case ascii[a] == '_':
			out = append(out, hi, lo)
		case hi == 0 && lo == '_':
			out = append(out, 0, ascii[a])
		case hi == 0 && upperASCII(ascii[a]) == upperASCII(lo):
			if ascii[a] >= 'A' && ascii[a] <= 'Z' {
				out = append(out, 0, lo)
			} else {
				out = append(out, 0, ascii[a])
			}
		default:
			return nil, false
		}
	}
	for ; a < n; a++ {
		out = append(out, 0, ascii[a])
	}
	return out, len(out) > 0
}

func upperASCII(c byte) byte {
	if c >= 'a' && c <= 'z' {
		return c - 32
	}
	return c
}

// udfVDSize is the size blkid reads of each UDF descriptor.
const udfVDSize = 440

// probeUDF finds the volume recognition sequence (an NSR02/NSR03
// descriptor, from 32 KiB) for block sizes 512 to 32768 (blkid 2.38 stops
// at 4096; ECMA-167 allows every power of two to 32768, and mkudffs makes
// them), then the anchor (AVDP, tag 2) at block 256 or 512 whose tag
// location gives the real block size, then
// walks the main volume descriptor sequence for the label (the logical
// volume identifier), the UUID (from the volume set identifier) and the
// UDF revision, as blkid.
func probeUDF(rd *reader, p *Result) bool {
	vsd2048 := -1
	var bs int64
	var anchor []byte
find:
	for _, b := range []int64{512, 1024, 2048, 4096, 8192, 16384, 32768} {
		vsdLen := max(b, 2048)
		nsr := vsdLen == 2048 && vsd2048 == 1
		if vsdLen == 2048 && vsd2048 == 0 {
			continue
		}
		if !nsr {
			for i := int64(0); i < 64; i++ {
				v := rd.at(0x8000+i*vsdLen, 7)
				if v == nil {
					return false
				}
				id := string(v[1:6])
				if v[1] == 0 {
					break
				}
				if id == "NSR02" || id == "NSR03" {
					nsr = true
					break
				}
				if id != "BEA01" && id != "BOOT2" && id != "CD001" && id != "CDW02" && id != "TEA01" {
					break
				}
			}
			if vsdLen == 2048 {
				vsd2048 = 0
				if nsr {
					vsd2048 = 1
				}
			}
		}
		if !nsr {
			continue
		}
		for _, sec := range []int64{256, 512} {
			vd := rd.at(sec*b, udfVDSize)
			if vd == nil {
				return false
			}
			if int64(le32(vd, 12)) == sec && le16(vd, 0) == 2 {
				bs, anchor = b, vd
				break find
			}
		}
	}
	if anchor == nil {
		return false
	}
	p.Type, p.Kind, p.BlockSize = "udf", KindFilesystem, bs
	count := int64(le32(anchor, 16)) / bs
	loc := int64(le32(anchor, 20))
	var lvidLen, lvidLoc uint32
	var rev uint16
	haveLabel, haveUUID := false, false
	var partEnd int64 // where the last partition ends, in blocks
	virtual := false  // a VAT: the partition may run past a disc image's end
	for i := int64(0); i < min(count, 1024); i++ {
		vd := rd.at((loc+i)*bs, udfVDSize)
		if vd == nil {
			return false // blkid gives up too
		}
		typ := le16(vd, 0)
		if typ == 0 || int64(le32(vd, 12)) != loc+i || typ == 8 {
			break
		}
		switch typ {
		case 5: // partition descriptor
			partEnd = max(partEnd, int64(le32(vd, 188))+int64(le32(vd, 192)))
		}
		if typ == 6 {
			// The partition maps follow the 440 bytes read: a type 2 map
			// of a virtual partition fits in the block's first 512.
			if maps := rd.at((loc+i)*bs, 512); maps != nil && bytes.Contains(maps[440:], []byte("*UDF Virtual Partition")) {
				virtual = true
			}
		}
		switch typ {
		case 1: // primary volume descriptor
			if !haveUUID && udfCharset(vd[200:264]) {
				if u, ok := udfUUID(vd[72:200]); ok {
					p.UUID, haveUUID = u, true
				}
			}
		case 6: // logical volume descriptor
			if (lvidLen == 0 || lvidLoc == 0) && le32(vd, 268) != 0 {
				lvidLen, lvidLoc = le32(vd, 432), le32(vd, 436)
			}
			if rev == 0 && cstr(vd[217:240]) == "*OSTA UDF Compliant" {
				rev = le16(vd, 240)
			}
			if !haveLabel && udfCharset(vd[20:84]) {
				if l, ok := dstring(vd[84:212]); ok {
					p.Label, haveLabel = l, true
				}
			}
		}
	}
	if lvidLoc != 0 && lvidLen >= udfVDSize {
		vd := rd.at(int64(lvidLoc)*bs, udfVDSize)
		if vd != nil && le16(vd, 0) == 9 && le32(vd, 12) == lvidLoc && le32(vd, 76) >= 46 {
			off := int64(lvidLoc)*bs + 80 + 8*int64(le32(vd, 72))
			if iu := rd.at(off, 46); iu != nil {
				if r := le16(iu, 40); r != 0 && rev < r {
					rev = r
				}
				if r := le16(iu, 42); r != 0 && rev < r {
					rev = r
				}
			}
		}
	}
	if rev != 0 {
		p.Version = fmt.Sprintf("%x.%02x", rev>>8, rev&0xFF)
	}
	p.FSSize = udfSize(rd, bs, anchor, partEnd, virtual)
	return true
}

// udfSize is how long the UDF volume says it is (blkid does not say): 0
// when an anchor at its end (block N-1 or N-257) is in the image, or on a
// write-once disc with a VAT (an image of it ends at the last written
// block); else where its partition or its reserve descriptor sequence
// ends, whichever is further: a truncated image lacks that much at least.
func udfSize(rd *reader, bs int64, anchor []byte, partEnd int64, virtual bool) int64 {
	n := rd.size / bs
	for _, blk := range []int64{n - 1, n - 257} {
		if blk > 256 {
			if vd := rd.at(blk*bs, 16); vd != nil && le16(vd, 0) == 2 && int64(le32(vd, 12)) == blk {
				return 0
			}
		}
	}
	if virtual {
		return 0
	}
	end := partEnd
	for _, ext := range []int{16, 24} { // the main and reserve sequences
		if l := int64(le32(anchor, ext)); l > 0 {
			end = max(end, int64(le32(anchor, ext+4))+(l+bs-1)/bs)
		}
	}
	return claimed(mul(uint64(end), uint64(bs)))
}

func udfCharset(cs []byte) bool {
	return cs[0] == 0 && string(cs[1:24]) == "OSTA Compressed Unicode" && cs[24] == 0
}

// dstring decodes a CS0 dstring: a compression id (8: Latin-1, 16:
// UTF-16BE), the characters, and their length in the last byte.
func dstring(d []byte) (string, bool) {
	c := d[1 : len(d)-1]
	n := int(d[len(d)-1])
	if n > 0 {
		n--
	}
	n = min(n, len(c))
	switch d[0] {
	case 8:
		return latin1Label(c[:n]), true
	case 16:
		return utf16Label(c[:n], true), true
	}
	return "", false
}

// udfUUID derives blkid's UUID from the volume set identifier: its first
// 16 UTF-8 bytes, lower-cased where they are hex digits, else hex-encoded.
func udfUUID(volset []byte) (string, bool) {
	c := volset[1 : len(volset)-1]
	n := int(volset[len(volset)-1])
	if n > 0 {
		n--
	}
	n = min(n, len(c))
	var s string
	switch volset[0] {
	case 8:
		s = latin1Label(c[:n])
	case 16:
		u := c[:n]
		s = utf16Raw(u)
	default:
		return "", false
	}
	buf := make([]byte, 17)
	copy(buf, s)
	buf = buf[:16]
	if len(s) < 8 {
		return "", false
	}
	hexPos := 16
	for i := 0; i < 16; i++ {
		if !isHex(buf[i]) {
			hexPos = i
			break
		}
	}
	switch {
	case hexPos < 8:
		return fmt.Sprintf("%x", buf[:8]), true
	case hexPos < 16:
		return strings.ToLower(string(buf[:8])) + fmt.Sprintf("%x", buf[8:12]), true
	}
	return strings.ToLower(string(buf[:16])), true
}

// utf16Raw decodes UTF-16BE up to a NUL, without trimming.
func utf16Raw(b []byte) string {
	var sb strings.Builder
	for i := 0; i+1 < len(b); i += 2 {
		c := rune(b[i])<<8 | rune(b[i+1])
		if c == 0 {
			break
		}
		if c >= 0xD800 && c <= 0xDBFF && i+3 < len(b) {
			c2 := rune(b[i+2])<<8 | rune(b[i+3])
			if c2 >= 0xDC00 && c2 <= 0xDFFF {
				c = 0x10000 + (c-0xD800)<<10 + (c2 - 0xDC00)
				i += 2
			}
		}
		sb.WriteRune(c)
	}
	return sb.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isoDate(b []byte) string {
	for _, c := range b[:16] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if string(b[:16]) == "0000000000000000" {
		return ""
	}
	s := string(b[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", s[0:4], s[4:6], s[6:8], s[8:10], s[10:12], s[12:14], s[14:16])
}
