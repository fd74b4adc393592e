package luks

import (
	"crypto/subtle"
	"encoding/binary"
	"hash"
)

// afMerge recovers a key of len(key) bytes from its anti-forensic split
// src (stripes × len(key) bytes), LUKS's AF_merge: each stripe but the
// last is XORed into a buffer that is then diffused with the hash; the
// key is the last stripe XORed with the buffer.
func afMerge(key, src []byte, stripes int, newHash func() hash.Hash) {
	n := len(key)
	buf := make([]byte, n)
	defer clear(buf)
	h := newHash()
	var sum []byte
	for i := 0; i < stripes-1; i++ {
		subtle.XORBytes(buf, buf, src[i*n:(i+1)*n])
		sum = diffuse(buf, h, sum)
	}
	subtle.XORBytes(key, buf, src[(stripes-1)*n:stripes*n])
	clear(sum)
}

// diffuse replaces each digest-sized block of b by the hash of its index
// (big-endian 32 bits) and the block, the last, shorter block truncated.
func diffuse(b []byte, h hash.Hash, sum []byte) []byte {
	ds := h.Size()
	var idx [4]byte
	for i, o := 0, 0; o < len(b); i, o = i+1, o+ds {
		end := min(o+ds, len(b))
		h.Reset()
		binary.BigEndian.PutUint32(idx[:], uint32(i))
		h.Write(idx[:])
		h.Write(b[o:end])
		sum = h.Sum(sum[:0])
		copy(b[o:end], sum)
	}
	return sum
}

func constantTimeEqual(a, b []byte) bool { return subtle.ConstantTimeCompare(a, b) == 1 }
