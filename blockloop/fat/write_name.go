package fat

import (
	"encoding/binary"
	"fmt"
	"syscall"
	"unicode"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// checkName refuses a name Linux's vfat refuses (vfat_valid_longname):
// empty, "." or "..", longer than 255 UTF-16 units, holding a control
// character or one of * ? < > | " : \ /; and, where vfat would strip
// them, trailing dots or spaces (the name served would not be the one
// asked for).
func checkName(name string) ([]uint16, error) {
	if name == "" || name == "." || name == ".." {
		return nil, errnoErr(syscall.EINVAL, "name %q", name)
	}
	for _, r := range name {
		if r < 0x20 || r == '*' || r == '?' || r == '<' || r == '>' || r == '|' || r == '"' || r == ':' || r == '\\' || r == '/' || r == unicode.ReplacementChar {
			return nil, errnoErr(syscall.EINVAL, "name %q holds %q, which FAT does not allow", name, r)
		}
	}
	if last := name[len(name)-1]; last == '.' || last == ' ' {
		return nil, errnoErr(syscall.EINVAL, "name %q ends in %q, which FAT drops", name, last)
	}
	u := utf16.Encode([]rune(name))
	if len(u) > 255 {
		return nil, errnoErr(syscall.ENAMETOOLONG, "name of %d UTF-16 units (FAT takes 255)", len(u))
	}
	return u, nil
}

// caseInfo is Linux's shortname_info: whether the letters of a part of a
// name are all lower, all upper, and whether the part fits 8.3 as is.
type caseInfo struct{ lower, upper, valid bool }

// shortChar is one UTF-16 unit as an 8.3 character (to_shortname_char):
// 0 bytes for a skipped unit ('.', ' '), '_' for one 8.3 cannot hold.
func shortChar(w uint16, info *caseInfo) (byte, bool) {
	switch w {
	case '.', ' ':
		info.valid = false
		return 0, false
	case '[', ']', ';', ',', '+', '=':
		info.valid = false
		return '_', true
	}
	var c byte
	switch {
	case w < 0x80:
		c = byte(w)
	default:
		b, ok := readkit.CP437Byte(rune(w))
		if !ok {
			info.valid = false
			return '_', true
		}
		c = b
	}
	if c >= 0x7F {
		info.lower, info.upper = false, false
		if up, ok := readkit.CP437Byte(unicode.ToUpper(readkit.CP437Rune(c))); ok {
			c = up
		}
		return c, true
	}
	prev := c
	if c >= 'a' && c <= 'z' {
		c -= 'a' - 'A'
	}
	if c >= 'A' && c <= 'Z' {
		if c == prev {
			info.lower = false
		} else {
			info.upper = false
		}
	}
	return c, true
}

// shortAlias makes the 8.3 name of long name u in directory d as Linux's
// vfat does (vfat_create_shortname, shortname=winnt): a name that fits 8.3
// with each part all lower or all upper case is stored as 8.3 only, with
// the NT case bits for lower-case parts (lfn false); any other gets
// long-name entries and an alias, with a "~N" tail (N 1..9, then a hex
// form) when the name does not fit 8.3 as is.
func (d *Node) shortAlias(u []uint16) (name [11]byte, ntCase uint8, lfn bool, err error) {
	ulen := len(u)
	extStart := -1
	sz := ulen
	for i := ulen - 1; i >= 0; i-- {
		if u[i] == '.' {
			if i != ulen-1 {
				extStart = i
			}
			break
		}
	}
	if extStart >= 0 {
		ns := 0
		for ns < extStart && (u[ns] == '.' || u[ns] == ' ') {
			ns++
		}
		if ns != extStart {
			sz = extStart
			extStart++
		} else {
			extStart = -1
		}
	}
	isShort := true
	bi := caseInfo{true, true, true}
	ei := caseInfo{true, true, true}
	var base [8]byte
	baselen := 0
	numtail, numtail2 := 6, 2
	for i := 0; i < sz; i++ {
		c, ok := shortChar(u[i], &bi)
		if !ok {
			continue
		}
		if baselen < 2 && baselen+1 > 2 {
			numtail2 = baselen
		}
		if baselen < 6 && baselen+1 > 6 {
			numtail = baselen
		}
		base[baselen] = c
		baselen++
		if baselen >= 8 {
			if i+1 < sz {
				isShort = false
			}
			break
		}
	}
	if baselen == 0 {
		return name, 0, false, errnoErr(syscall.EINVAL, "name %q has no character an 8.3 name can hold", string(utf16.Decode(u)))
	}
	var ext [3]byte
	extlen := 0
	if extStart >= 0 {
		for i := extStart; extlen < 3 && i < ulen; i++ {
			c, ok := shortChar(u[i], &ei)
			if !ok {
				continue
			}
			ext[extlen] = c
			extlen++
			if extlen >= 3 {
				if i+1 != ulen {
					isShort = false
				}
				break
			}
		}
	}
	if base[0] == 0xE5 {
		base[0] = 0x05
	}
	for i := range name {
		name[i] = ' '
	}
	copy(name[:], base[:baselen])
	copy(name[8:], ext[:extlen])
	if isShort && bi.valid && ei.valid {
		if _, taken := d.shorts[name]; taken {
			return name, 0, false, errnoErr(syscall.EEXIST, "8.3 name %q", string(name[:]))
		}
		if (bi.upper || bi.lower) && (ei.upper || ei.lower) {
			if !bi.upper && bi.lower {
				ntCase |= 0x08
			}
			if !ei.upper && ei.lower {
				ntCase |= 0x10
			}
			return name, ntCase, false, nil
		}
		return name, 0, true, nil
	}
	if baselen > 6 {
		baselen = numtail
		name[7] = ' '
	}
	name[baselen] = '~'
	for i := byte(1); i < 10; i++ {
		name[baselen+1] = '0' + i
		if _, taken := d.shorts[name]; !taken {
			return name, 0, true, nil
		}
	}
	// Linux takes jiffies here; a hash of the name is as unlikely to
	// collide and is reproducible.
	h := uint32(2166136261)
	for _, w := range u {
		h = (h ^ uint32(w)) * 16777619
	}
	if baselen > 2 {
		baselen = numtail2
		name[7] = ' '
	}
	name[baselen+4] = '~'
	name[baselen+5] = '1' + byte(h>>16&7)
	for tries := 0; tries < 0x10000; tries++ {
		copy(name[baselen:], fmt.Sprintf("%04X", h&0xFFFF))
		if _, taken := d.shorts[name]; !taken {
			return name, 0, true, nil
		}
		h -= 11
	}
	return name, 0, false, errnoErr(syscall.EEXIST, "no free 8.3 alias for %q", string(utf16.Decode(u)))
}

// longNameEntries encodes long name u as VFAT long-name entries for 8.3 name
// short, in the order they are stored (the last part first).
func longNameEntries(u []uint16, short [11]byte) []byte {
	n := (len(u) + 12) / 13
	sum := shortSum(short)
	out := make([]byte, 32*n)
	for k := 0; k < n; k++ {
		seq := n - k // stored from the last part
		b := out[32*k : 32*k+32]
		b[0] = byte(seq)
		if k == 0 {
			b[0] |= 0x40
		}
		b[11] = attrLFN
		b[13] = sum
		var chars [13]uint16
		for i := range chars {
			j := (seq-1)*13 + i
			switch {
			case j < len(u):
				chars[i] = u[j]
			case j == len(u):
				chars[i] = 0
			default:
				chars[i] = 0xFFFF
			}
		}
		for i := 0; i < 5; i++ {
			binary.LittleEndian.PutUint16(b[1+2*i:], chars[i])
		}
		for i := 0; i < 6; i++ {
			binary.LittleEndian.PutUint16(b[14+2*i:], chars[5+i])
		}
		for i := 0; i < 2; i++ {
			binary.LittleEndian.PutUint16(b[28+2*i:], chars[11+i])
		}
	}
	return out
}
