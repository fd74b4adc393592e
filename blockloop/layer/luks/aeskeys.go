package luks

import (
	"encoding/binary"
	"sync"
)

// The AES decryption key schedule, for the AES-NI block decryption of
// xts_amd64.s: the round keys of FIPS-197's equivalent inverse cipher
// (the encryption schedule reversed, the middle keys through
// InvMixColumns), which AESDEC takes. crypto/aes keeps its own schedule
// out of reach.

// sbox is the AES S-box (multiplicative inverse in GF(2^8), then the
// affine transform), computed at its first use: not in the package init
// every loops command would pay.
var sbox = sync.OnceValue(func() *[256]byte {
	// Logarithms to the base 3, a generator: the inverse of 3^k is
	// 3^(255-k).
	var exp [256]byte
	var log [256]int
	x := byte(1)
	for k := range 255 {
		exp[k], log[x] = x, k
		x = gfMul(x, 3)
	}
	var s [256]byte
	for i := range 256 {
		var b byte
		if i != 0 {
			b = exp[(255-log[i])%255]
		}
		s[i] = b ^ rotl8(b, 1) ^ rotl8(b, 2) ^ rotl8(b, 3) ^ rotl8(b, 4) ^ 0x63
	}
	return &s
})

func rotl8(b byte, n uint) byte { return b<<n | b>>(8-n) }

// gfMul multiplies in GF(2^8) modulo x^8+x^4+x^3+x+1.
func gfMul(a, b byte) byte {
	var p byte
	for b != 0 {
		if b&1 != 0 {
			p ^= a
		}
		hi := a & 0x80
		a <<= 1
		if hi != 0 {
			a ^= 0x1b
		}
		b >>= 1
	}
	return p
}

func subWord(w uint32) uint32 {
	s := sbox()
	return uint32(s[w>>24])<<24 | uint32(s[w>>16&0xff])<<16 | uint32(s[w>>8&0xff])<<8 | uint32(s[w&0xff])
}

// encryptSchedule is the AESENC round keys of key (16, 24 or 32 bytes),
// (rounds+1)×16 bytes in the order they are used, and the rounds.
func encryptSchedule(key []byte) ([]byte, int) {
	w, nr := expandKey(key)
	ek := make([]byte, 16*(nr+1))
	for i, x := range w {
		binary.BigEndian.PutUint32(ek[4*i:], x)
	}
	clear(w)
	return ek, nr
}

// decryptSchedule is the AESDEC round keys of key (16, 24 or 32 bytes),
// (rounds+1)×16 bytes in the order they are used, and the rounds.
func decryptSchedule(key []byte) ([]byte, int) {
	w, nr := expandKey(key)
	dk := make([]byte, 16*(nr+1))
	for r := 0; r <= nr; r++ {
		k := dk[16*r : 16*r+16]
		for c := range 4 {
			binary.BigEndian.PutUint32(k[4*c:], w[4*(nr-r)+c])
		}
		if r > 0 && r < nr {
			for c := 0; c < 16; c += 4 {
				a0, a1, a2, a3 := k[c], k[c+1], k[c+2], k[c+3]
				k[c] = gfMul(a0, 14) ^ gfMul(a1, 11) ^ gfMul(a2, 13) ^ gfMul(a3, 9)
				k[c+1] = gfMul(a0, 9) ^ gfMul(a1, 14) ^ gfMul(a2, 11) ^ gfMul(a3, 13)
				k[c+2] = gfMul(a0, 13) ^ gfMul(a1, 9) ^ gfMul(a2, 14) ^ gfMul(a3, 11)
				k[c+3] = gfMul(a0, 11) ^ gfMul(a1, 13) ^ gfMul(a2, 9) ^ gfMul(a3, 14)
			}
		}
	}
	clear(w)
	return dk, nr
}

// expandKey is FIPS-197's key expansion of key (16, 24 or 32 bytes):
// 4×(rounds+1) words, and the rounds.
func expandKey(key []byte) ([]uint32, int) {
	nk := len(key) / 4
	nr := nk + 6
	w := make([]uint32, 4*(nr+1))
	for i := range nk {
		w[i] = binary.BigEndian.Uint32(key[4*i:])
	}
	rcon := uint32(1)
	for i := nk; i < len(w); i++ {
		t := w[i-1]
		switch {
		case i%nk == 0:
			t = subWord(t<<8|t>>24) ^ rcon<<24
			rcon = uint32(gfMul(byte(rcon), 2))
		case nk > 6 && i%nk == 4:
			t = subWord(t)
		}
		w[i] = w[i-nk] ^ t
	}
	return w, nr
}
