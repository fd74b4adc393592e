//go:build amd64 && !purego

package luks

import "golang.org/x/sys/cpu"

// hasAESNI: the blocks of a sector are decrypted eight at a time by
// AESDEC (xts_amd64.s), which keeps the AES unit busy where one
// crypto/aes call per block waits for each block's result.
var hasAESNI = cpu.X86.HasAES && cpu.X86.HasSSE2

// useVAES: a sector of 512-byte multiples is decrypted 32 blocks at a
// time by VAESDEC on ZMM registers (xtsDecryptVAES), where the CPU and
// the OS have AVX-512 with VAES and VPCLMULQDQ: about three times the
// AES-NI pass. A variable so that tests can compare both.
var useVAES = hasAESNI && cpu.X86.HasAVX512F && cpu.X86.HasAVX512VL &&
	cpu.X86.HasAVX512VAES && cpu.X86.HasAVX512VPCLMULQDQ

// decryptBlocksAsm decrypts n 16-byte blocks at buf in place with the
// round keys dk (rounds+1 of them, AESDEC's order).
//
//go:noescape
func decryptBlocksAsm(rounds int, dk *byte, buf *byte, n int)

func decryptBlocks(rounds int, dk, buf []byte) {
	if len(buf) >= 16 {
		decryptBlocksAsm(rounds, &dk[0], &buf[0], len(buf)/16)
	}
}

// xtsDecryptAsm decrypts one XTS sector of n blocks at buf in place (n a
// multiple of 8), the sector's first tweak (encrypted) at tweak: the
// tweaks computed in registers beside the AESDECs.
//
//go:noescape
func xtsDecryptAsm(rounds int, dk *byte, buf *byte, n int, tweak *byte)

// xtsDecryptVAES is xtsDecryptAsm on VAES for nsec consecutive sectors
// of n blocks each (n a multiple of 32), their first tweaks 16 bytes
// apart at tweaks.
//
//go:noescape
func xtsDecryptVAES(rounds int, dk *byte, buf *byte, n int, tweaks *byte, nsec int)

// xtsDecryptSectors decrypts the consecutive sectors of size bytes in s
// with VAES, their first tweaks in t (16 bytes each); false, doing
// nothing, where VAES is not used or the sizes do not fit it.
func xtsDecryptSectors(rounds int, dk, s []byte, size int, t []byte) bool {
	nsec := len(s) / max(size, 1)
	if !useVAES || size <= 0 || size%512 != 0 || len(s) != nsec*size || nsec == 0 || len(t) < 16*nsec {
		return false
	}
	xtsDecryptVAES(rounds, &dk[0], &s[0], size/16, &t[0], nsec)
	return true
}

// xtsDecryptSector decrypts the sector s (a multiple of 128 bytes) with
// k1's decryption schedule dk and its first tweak t0; false when s is no
// such multiple (then nothing is done).
func xtsDecryptSector(rounds int, dk, s, t0 []byte) bool {
	if len(s) == 0 || len(s)%128 != 0 || len(t0) < 16 {
		return false
	}
	xtsDecryptAsm(rounds, &dk[0], &s[0], len(s)/16, &t0[0])
	return true
}

// encryptBlocksAsm encrypts n 16-byte blocks at buf in place (n a
// multiple of 8) with the AESENC round keys ek.
//
//go:noescape
func encryptBlocksAsm(rounds int, ek *byte, buf *byte, n int)

// encryptBlocks8 encrypts buf (a multiple of 128 bytes) in place.
func encryptBlocks8(rounds int, ek, buf []byte) {
	if len(buf) >= 128 {
		encryptBlocksAsm(rounds, &ek[0], &buf[0], len(buf)/16)
	}
}
