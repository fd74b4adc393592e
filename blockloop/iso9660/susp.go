package iso9660

import (
	"bytes"
	"encoding/binary"
	"strings"
	"time"
)

const (
	maxNameLen   = 1024
	maxTargetLen = 4096
)

// suspFields is what the SUSP/Rock Ridge entries of one record say.
type suspFields struct {
	rrSeen bool // a Rock Ridge entry (or an ER naming RRIP) was seen

	hasPX                   bool
	mode, nlink, uid, gid   uint32
	serial                  uint32
	hasSerial               bool
	hasNM                   bool
	name                    []byte
	nmCont                  bool
	hasSL                   bool
	slParts                 []string
	slCont                  bool // the last component continues
	slLen                   int
	hasTF                   bool
	modify, access, change  time.Time
	hasPN                   bool
	rdev                    uint64
	hasCL, hasPL, re        bool
	cl, pl                  uint32
	zf                      bool
	truncated               bool // a limit or a bad continuation cut the parse short
	continuationOutOfBounds bool
}

func (f *suspFields) target() string {
	if len(f.slParts) == 1 && f.slParts[0] == "" {
		return "/"
	}
	return strings.Join(f.slParts, "/")
}

// parseSUSP parses a record's system use area (after the SP skip bytes) and
// the continuation areas it chains to, within the image's limits.
func (img *Image) parseSUSP(area []byte, recOff int64) *suspFields {
	f := &suspFields{}
	img.parseSUSPInto(f, area)
	return f
}

// parseSUSPInto is parseSUSP into f, which starts zero (no allocation
// for the common record: the name aliases area).
func (img *Image) parseSUSPInto(f *suspFields, area []byte) {
	total := len(area)
	if total > img.lim.MaxSUSPBytes {
		area = area[:img.lim.MaxSUSPBytes]
		total = len(area)
		f.truncated = true
	}
	for hop := 0; ; hop++ {
		ce := f.parseArea(area)
		if ce == nil {
			return
		}
		if hop >= img.lim.MaxCEHops {
			f.truncated = true
			return
		}
		off := int64(ce.lba)*SectorSize + int64(ce.offset)
		n := int64(ce.length)
		if n == 0 {
			return
		}
		if rest := int64(img.lim.MaxSUSPBytes - total); n > rest {
			n = rest
			f.truncated = true
		}
		if n <= 0 || !img.inImage(off, n) {
			f.continuationOutOfBounds = true
			return
		}
		buf := make([]byte, n)
		if err := img.readAt(buf, off); err != nil {
			f.continuationOutOfBounds = true
			return
		}
		total += int(n)
		area = buf
	}
}

type continuation struct{ lba, offset, length uint32 }

// parseArea parses one area's entries into f and returns its CE, if any.
func (f *suspFields) parseArea(b []byte) *continuation {
	var ce *continuation
	for len(b) >= 4 {
		sig := string(b[:2])
		n := int(b[2])
		if n < 4 || n > len(b) {
			break
		}
		e := b[4:n]
		b = b[n:]
		switch sig {
		case "ST":
			return ce
		case "CE":
			if len(e) >= 24 {
				ce = &continuation{
					lba:    binary.LittleEndian.Uint32(e[0:]),
					offset: binary.LittleEndian.Uint32(e[8:]),
					length: binary.LittleEndian.Uint32(e[16:]),
				}
			}
		case "ER":
			if len(e) >= 4 {
				idLen := int(e[0])
				if 4+idLen <= len(e) {
					id := e[4 : 4+idLen]
					if bytes.Contains(id, []byte("RRIP")) || bytes.Contains(id, []byte("1282")) {
						f.rrSeen = true
					}
				}
			}
		case "RR":
			f.rrSeen = true
		case "PX":
			f.rrSeen = true
			if len(e) >= 32 {
				f.hasPX = true
				f.mode = binary.LittleEndian.Uint32(e[0:])
				f.nlink = binary.LittleEndian.Uint32(e[8:])
				f.uid = binary.LittleEndian.Uint32(e[16:])
				f.gid = binary.LittleEndian.Uint32(e[24:])
				if len(e) >= 40 {
					f.serial = binary.LittleEndian.Uint32(e[32:])
					f.hasSerial = true
				}
			}
		case "PN":
			f.rrSeen = true
			if len(e) >= 16 {
				f.hasPN = true
				f.rdev = uint64(binary.LittleEndian.Uint32(e[0:]))<<32 | uint64(binary.LittleEndian.Uint32(e[8:]))
			}
		case "NM":
			f.rrSeen = true
			if len(e) >= 1 {
				flags := e[0]
				if flags&0x06 != 0 { // CURRENT or PARENT: no name
					break
				}
				if f.hasNM && !f.nmCont {
					break // a second, unrelated NM: keep the first name
				}
				f.hasNM = true
				f.nmCont = flags&0x01 != 0
				if room := maxNameLen - len(f.name); room > 0 {
					c := e[1:]
					if len(c) > room {
						c = c[:room]
						f.truncated = true
					}
					if f.name == nil {
						f.name = c[:len(c):len(c)] // aliased; a continuation copies
					} else {
						f.name = append(f.name, c...)
					}
				}
			}
		case "SL":
			f.rrSeen = true
			if len(e) >= 1 {
				f.hasSL = true
				f.parseSL(e[1:])
			}
		case "TF":
			f.rrSeen = true
			f.parseTF(e)
		case "CL":
			f.rrSeen = true
			if len(e) >= 8 {
				f.hasCL = true
				f.cl = binary.LittleEndian.Uint32(e)
			}
		case "PL":
			f.rrSeen = true
			if len(e) >= 8 {
				f.hasPL = true
				f.pl = binary.LittleEndian.Uint32(e)
			}
		case "RE":
			f.rrSeen = true
			f.re = true
		case "ZF":
			f.zf = true
		}
	}
	return ce
}

// parseSL appends the component records of one SL entry to the target.
func (f *suspFields) parseSL(c []byte) {
	for len(c) >= 2 {
		flags, n := c[0], int(c[1])
		if 2+n > len(c) {
			f.truncated = true
			return
		}
		text := string(c[2 : 2+n])
		c = c[2+n:]
		switch {
		case flags&0x02 != 0:
			text = "."
		case flags&0x04 != 0:
			text = ".."
		case flags&0x38 != 0: // ROOT, VOLROOT, HOST
			text = ""
			f.slParts = f.slParts[:0]
			f.slCont = false
			f.slLen = 0
		}
		if f.slLen+len(text)+1 > maxTargetLen {
			f.truncated = true
			return
		}
		f.slLen += len(text) + 1
		if f.slCont && len(f.slParts) > 0 {
			f.slParts[len(f.slParts)-1] += text
		} else {
			f.slParts = append(f.slParts, text)
		}
		f.slCont = flags&0x01 != 0
	}
}

func (f *suspFields) parseTF(e []byte) {
	if len(e) < 1 {
		return
	}
	flags := e[0]
	e = e[1:]
	size := 7
	if flags&0x80 != 0 {
		size = 17
	}
	f.hasTF = true
	for bit := 0; bit < 7; bit++ {
		if flags&(1<<bit) == 0 {
			continue
		}
		if len(e) < size {
			return
		}
		var t time.Time
		if size == 7 {
			t = parseDate7(e[:7])
		} else {
			t = parseDate17(e[:17])
		}
		e = e[size:]
		switch 1 << bit {
		case 0x02:
			f.modify = t
		case 0x04:
			f.access = t
		case 0x08:
			f.change = t
		}
	}
}
