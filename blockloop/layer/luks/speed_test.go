package luks

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"testing"
)

// BenchmarkRead decrypts 64 MiB sequentially in 1 MiB reads (MB/s),
// through the cipher and sector size of each case, with a random key
// (decryption costs the same whatever the data).
func BenchmarkRead(b *testing.B) {
	data := make([]byte, 64<<20)
	rand.Read(data)
	for _, tc := range []struct {
		name   string
		cipher string
		key    int
		sector int
	}{
		{"xts512-sector512", "aes-xts-plain64", 64, 512},
		{"xts512-sector4096", "aes-xts-plain64", 64, 4096},
		{"cbc-essiv-sector512", "aes-cbc-essiv:sha256", 32, 512},
	} {
		b.Run(tc.name, func(b *testing.B) {
			cs, err := parseCipher(tc.cipher, tc.key)
			if err != nil {
				b.Fatal(err)
			}
			key := make([]byte, tc.key)
			rand.Read(key)
			v := &Volume{r: bytes.NewReader(data), size: int64(len(data)), segCipher: cs}
			v.info.Size, v.info.SectorSize = int64(len(data)), tc.sector
			d, err := v.device(key)
			if err != nil {
				b.Fatal(err)
			}
			buf := make([]byte, 1<<20)
			b.SetBytes(int64(len(data)))
			for b.Loop() {
				for off := int64(0); off < d.Size(); off += int64(len(buf)) {
					d.ReadAt(buf, off)
				}
			}
		})
	}
}

// BenchmarkDecrypt decrypts 1 MiB in place on one goroutine (MB/s of one
// core): the VAES and AES-NI paths where the CPU has them, and
// crypto/aes's.
func BenchmarkDecrypt(b *testing.B) {
	buf := make([]byte, 1<<20)
	key := make([]byte, 64)
	rand.Read(key)
	vaes := useVAES
	defer func() { useVAES = vaes }()
	for _, path := range []string{"vaes", "aesni", "go"} {
		if path == "vaes" && !vaes || path == "aesni" && !hasAESNI {
			continue
		}
		useVAES = path == "vaes"
		for _, sector := range []int{512, 4096} {
			cs, _ := parseCipher("aes-xts-plain64", 64)
			c, _ := newSectorCipher(cs, key)
			if path == "go" {
				c.(*xtsCipher).dk = nil
			}
			b.Run(fmt.Sprintf("xts512-sector%d-%s", sector, path), func(b *testing.B) {
				b.SetBytes(int64(len(buf)))
				for b.Loop() {
					c.decrypt(buf, sector, 0)
				}
			})
		}
	}
}
