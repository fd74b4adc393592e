package ntfs

import (
	"encoding/binary"
	"errors"
)

// errLZNT1 is why a compression unit does not decompress.
var errLZNT1 = errors.New("ntfs: LZNT1 data does not decompress")

// lznt1Chunk is the bytes one LZNT1 chunk decompresses to at most.
const lznt1Chunk = 4096

// decompressLZNT1 decompresses src (a compression unit's stored clusters)
// into dst (the unit, zeroed by the caller), chunk by chunk: each chunk
// has a 2-byte header (bit 15: compressed; bits 0-11: its size less 3) and
// fills the next 4096 bytes of dst; a chunk that fills fewer leaves zeros.
// It stops at a zero header or the end of src, and fails on a chunk that
// overruns src or dst or refers back before its start.
func decompressLZNT1(dst, src []byte) error {
	out := 0
	for len(src) >= 2 {
		h := binary.LittleEndian.Uint16(src)
		if h == 0 {
			return nil
		}
		if out >= len(dst) {
			return errLZNT1
		}
		n := int(h&0x0FFF) + 1
		if 2+n > len(src) {
			return errLZNT1
		}
		chunk := src[2 : 2+n]
		src = src[2+n:]
		end := min(out+lznt1Chunk, len(dst))
		if h&0x8000 == 0 {
			if n > end-out {
				return errLZNT1
			}
			copy(dst[out:], chunk)
		} else if err := lznt1Block(dst[out:end], chunk); err != nil {
			return err
		}
		out += lznt1Chunk
	}
	return nil
}

// lznt1Block decompresses one compressed chunk into dst (at most 4096
// bytes).
func lznt1Block(dst, src []byte) error {
	pos, i := 0, 0
	for i < len(src) {
		flags := src[i]
		i++
		for bit := 0; bit < 8 && i < len(src); bit++ {
			if flags&(1<<bit) == 0 {
				if pos >= len(dst) {
					return errLZNT1
				}
				dst[pos] = src[i]
				pos++
				i++
				continue
			}
			if i+2 > len(src) || pos == 0 {
				return errLZNT1
			}
			tok := int(binary.LittleEndian.Uint16(src[i:]))
			i += 2
			// The split between offset and length bits moves with the
			// position: 4 offset bits up to 16 bytes, 12 at 2048.
			lenBits := 12
			for p := pos - 1; p >= 0x10; p >>= 1 {
				lenBits--
			}
			back := tok>>lenBits + 1
			n := tok&(1<<lenBits-1) + 3
			if back > pos || pos+n > len(dst) {
				return errLZNT1
			}
			for k := 0; k < n; k++ { // may overlap itself: byte by byte
				dst[pos] = dst[pos-back]
				pos++
			}
		}
	}
	return nil
}
