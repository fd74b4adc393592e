//go:build !amd64 || purego

package luks

const hasAESNI = false

func decryptBlocks(rounds int, dk, buf []byte) { panic("luks: no AES-NI here") }
