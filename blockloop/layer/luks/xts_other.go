//go:build !amd64 || purego

package luks

const hasAESNI = false

var useVAES = false

func decryptBlocks(rounds int, dk, buf []byte) { panic("luks: no AES-NI here") }

func xtsDecryptSector(rounds int, dk, s, t0 []byte) bool { return false }

func xtsDecryptSectors(rounds int, dk, s []byte, size int, t []byte) bool { return false }

func encryptBlocks8(rounds int, ek, buf []byte) { panic("luks: no AES-NI here") }
