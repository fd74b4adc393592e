package luks

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/binary"
	"strings"
)

// cipherSpec is a dm-crypt cipher specification, "aes-xts-plain64":
// cipher, chain mode, IV generator.
type cipherSpec struct {
	name     string // as written
	mode     string // "xts", "cbc"
	iv       string // "plain64", "plain", "essiv:sha256"
	keyBytes int
}

// parseCipher checks a cipher specification with a key of keyBytes.
func parseCipher(spec string, keyBytes int) (cipherSpec, error) {
	cs := cipherSpec{name: spec, keyBytes: keyBytes}
	parts := strings.SplitN(spec, "-", 3)
	if len(parts) != 3 || parts[0] != "aes" {
		return cs, unsupported("the cipher %q (aes-xts-plain64, aes-cbc-essiv:sha256, aes-cbc-plain64)", spec)
	}
	cs.mode, cs.iv = parts[1], parts[2]
	switch cs.iv {
	case "plain64", "plain", "essiv:sha256":
	default:
		return cs, unsupported("the IV generator %q in cipher %q (plain64, plain, essiv:sha256)", cs.iv, spec)
	}
	switch {
	case cs.mode == "xts" && (keyBytes == 32 || keyBytes == 64) && cs.iv != "essiv:sha256":
	case cs.mode == "cbc" && (keyBytes == 16 || keyBytes == 24 || keyBytes == 32):
	default:
		return cs, unsupported("the cipher %q with a %d-bit key", spec, keyBytes*8)
	}
	return cs, nil
}

// sectorCipher decrypts whole sectors in place.
type sectorCipher interface {
	// decrypt decrypts len(b)/size sectors of size bytes; the first's IV
	// is iv, counted in 512-byte sectors.
	decrypt(b []byte, size int, iv uint64)
	// wipe zeroes the key schedule the cipher holds itself.
	wipe()
}

// newSectorCipher keys the cipher cs with key.
func newSectorCipher(cs cipherSpec, key []byte) (sectorCipher, error) {
	if len(key) != cs.keyBytes {
		return nil, unsupported("a %d-byte key for %q", len(key), cs.name)
	}
	if cs.mode == "xts" {
		half := len(key) / 2
		k1, err := aes.NewCipher(key[:half])
		if err != nil {
			return nil, err
		}
		k2, err := aes.NewCipher(key[half:])
		if err != nil {
			return nil, err
		}
		x := &xtsCipher{k1: k1, k2: k2, plain32: cs.iv == "plain"}
		if hasAESNI {
			x.dk, x.rounds = decryptSchedule(key[:half])
			x.ek, _ = encryptSchedule(key[half:])
		}
		return x, nil
	}
	b, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	cc := &cbcCipher{b: b, plain32: cs.iv == "plain"}
	if hasAESNI {
		cc.dk, cc.rounds = decryptSchedule(key)
	}
	if cs.iv == "essiv:sha256" {
		salt := sha256.Sum256(key)
		cc.essiv, err = aes.NewCipher(salt[:])
		clear(salt[:])
		if err != nil {
			return nil, err
		}
	}
	return cc, nil
}

// xtsCipher is aes-xts-plain64 (the tweak is the 64-bit little-endian
// sector number) or aes-xts-plain (its low 32 bits), IEEE 1619: each
// 16-byte block j of a sector is D(C xor T_j) xor T_j, T_0 the tweak
// encrypted with the second key, T_j+1 = T_j times x in GF(2^128). The
// tweaks of a sector are laid out first so that the XORs run over the
// whole sector at once.
type xtsCipher struct {
	k1, k2  cipher.Block
	plain32 bool
	dk      []byte // k1's AES-NI decryption schedule, nil without AES-NI
	ek      []byte // k2's AES-NI encryption schedule, nil without AES-NI
	rounds  int
}

func (x *xtsCipher) wipe() { clear(x.dk); clear(x.ek) }

func (x *xtsCipher) decrypt(b []byte, size int, iv uint64) {
	if x.dk != nil && x.ek != nil && size%128 == 0 {
		x.decryptAsm(b, size, iv)
		return
	}
	// One buffer for the sector's tweaks and the first one (which
	// escapes to crypto/aes: one allocation a call, not a sector).
	buf := make([]byte, size+16)
	t, t0 := buf[:size], buf[size:]
	step := uint64(size / 512)
	for i := 0; i+size <= len(b); i += size {
		n := iv
		if x.plain32 {
			n &= 0xffffffff
		}
		clear(t0)
		binary.LittleEndian.PutUint64(t0, n)
		x.k2.Encrypt(t0, t0)
		lo, hi := binary.LittleEndian.Uint64(t0), binary.LittleEndian.Uint64(t0[8:])
		for j := 0; j < size; j += 16 {
			binary.LittleEndian.PutUint64(t[j:], lo)
			binary.LittleEndian.PutUint64(t[j+8:], hi)
			carry := hi >> 63
			hi = hi<<1 | lo>>63
			lo = lo<<1 ^ 0x87*carry
		}
		s := b[i : i+size]
		subtle.XORBytes(s, s, t)
		if x.dk != nil {
			decryptBlocks(x.rounds, x.dk, s)
		} else {
			for j := 0; j < size; j += 16 {
				x.k1.Decrypt(s[j:j+16], s[j:j+16])
			}
		}
		subtle.XORBytes(s, s, t)
		iv += step
	}
}

// decryptAsm is decrypt on AES-NI in two passes a run of up to
// tweakBatch sectors: their first tweaks (the sector numbers encrypted
// with k2) eight at a time, then each sector's tweaks, XORs and AESDECs
// in one pass of xtsDecryptAsm.
func (x *xtsCipher) decryptAsm(b []byte, size int, iv uint64) {
	var tw [tweakBatch * 16]byte
	step := uint64(size / 512)
	nsec := len(b) / size
	for base := 0; base < nsec; base += tweakBatch {
		m := min(tweakBatch, nsec-base)
		run := tw[:(m+7)/8*8*16]
		clear(run)
		for k := 0; k < m; k++ {
			n := iv + uint64(base+k)*step
			if x.plain32 {
				n &= 0xffffffff
			}
			binary.LittleEndian.PutUint64(run[16*k:], n)
		}
		encryptBlocks8(x.rounds, x.ek, run)
		if xtsDecryptSectors(x.rounds, x.dk, b[base*size:(base+m)*size], size, run) {
			continue
		}
		for k := 0; k < m; k++ {
			i := (base + k) * size
			xtsDecryptSector(x.rounds, x.dk, b[i:i+size], run[16*k:16*k+16])
		}
	}
	clear(tw[:])
}

// tweakBatch is how many sectors' first tweaks decryptAsm encrypts at
// once.
const tweakBatch = 64

// cbcCipher is aes-cbc with the plain64, plain or essiv:sha256 IV.
type cbcCipher struct {
	b       cipher.Block
	essiv   cipher.Block // nil unless essiv
	plain32 bool
	dk      []byte // the AES-NI decryption schedule, nil without AES-NI
	rounds  int
}

func (c *cbcCipher) wipe() { clear(c.dk) }

func (c *cbcCipher) decrypt(b []byte, size int, iv uint64) {
	step := uint64(size / 512)
	var prev, cur, ivb [aes.BlockSize]byte
	var ct [4096]byte // a sector's ciphertext (AES-NI path)
	for i := 0; i+size <= len(b); i += size {
		clear(ivb[:])
		n := iv
		if c.plain32 {
			n &= 0xffffffff
		}
		binary.LittleEndian.PutUint64(ivb[:], n)
		if c.essiv != nil {
			c.essiv.Encrypt(ivb[:], ivb[:])
		}
		s := b[i : i+size]
		if c.dk != nil {
			// All blocks at once, then each XORed with the ciphertext
			// block before it (the IV for the first).
			copy(ct[:size], s)
			decryptBlocks(c.rounds, c.dk, s)
			subtle.XORBytes(s[:16], s[:16], ivb[:])
			subtle.XORBytes(s[16:], s[16:], ct[:size-16])
			iv += step
			continue
		}
		prev = ivb
		for j := 0; j+aes.BlockSize <= len(s); j += aes.BlockSize {
			blk := s[j : j+aes.BlockSize]
			copy(cur[:], blk)
			c.b.Decrypt(blk, blk)
			subtle.XORBytes(blk, blk, prev[:])
			prev = cur
		}
		iv += step
	}
}
