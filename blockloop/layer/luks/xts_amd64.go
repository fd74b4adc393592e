//go:build amd64 && !purego

package luks

import "golang.org/x/sys/cpu"

// hasAESNI: the blocks of a sector are decrypted eight at a time by
// AESDEC (xts_amd64.s), which keeps the AES unit busy where one
// crypto/aes call per block waits for each block's result.
var hasAESNI = cpu.X86.HasAES && cpu.X86.HasSSE2

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
