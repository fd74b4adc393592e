package luks

import (
	"bytes"
	"crypto/aes"
	"crypto/rand"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// The S-box's first values and a few known ones (FIPS-197, figure 7).
func TestSbox(t *testing.T) {
	s := sbox()
	for in, want := range map[int]byte{0x00: 0x63, 0x01: 0x7c, 0x53: 0xed, 0xff: 0x16, 0x10: 0xca} {
		if s[in] != want {
			t.Errorf("S(%#02x) = %#02x, want %#02x", in, s[in], want)
		}
	}
}

// TestDecryptBlocks: the AES-NI block decryption and its key schedule
// give crypto/aes's plaintext, for AES-128, -192 and -256 and runs of 0
// to 40 blocks (the eight-block loop and the one-block tail).
func TestDecryptBlocks(t *testing.T) {
	if !hasAESNI {
		testkit.Skip(t, "no AES-NI on this CPU or build: the crypto/aes path is used")
	}
	for _, kl := range []int{16, 24, 32} {
		key := make([]byte, kl)
		rand.Read(key)
		b, _ := aes.NewCipher(key)
		dk, nr := decryptSchedule(key)
		for n := 0; n <= 40; n++ {
			ct := make([]byte, 16*n)
			rand.Read(ct)
			want := make([]byte, len(ct))
			for i := 0; i < len(ct); i += 16 {
				b.Decrypt(want[i:], ct[i:i+16])
			}
			got := bytes.Clone(ct)
			decryptBlocks(nr, dk, got)
			if !bytes.Equal(got, want) {
				t.Fatalf("AES-%d, %d blocks: differs from crypto/aes", kl*8, n)
			}
		}
	}
}

// TestXTSAsm: the one-pass XTS decryption (tweaks in registers), on
// AES-NI and, where the CPU has it, on VAES, gives what the crypto/aes
// path gives, for 256 and 512-bit keys, every sector size, plain64 and
// plain (IVs past 2^32), over more sectors than one batch of tweaks.
func TestXTSAsm(t *testing.T) {
	if !hasAESNI {
		testkit.Skip(t, "no AES-NI on this CPU or build: the crypto/aes path is used")
	}
	paths := []bool{false}
	if useVAES {
		paths = append(paths, true)
		defer func() { useVAES = true }()
	}
	for _, vaes := range paths {
		useVAES = vaes
		for _, spec := range []string{"aes-xts-plain64", "aes-xts-plain"} {
			for _, kl := range []int{32, 64} {
				for _, sector := range []int{512, 1024, 2048, 4096} {
					cs, err := parseCipher(spec, kl)
					if err != nil {
						t.Fatal(err)
					}
					key := make([]byte, kl)
					rand.Read(key)
					c, _ := newSectorCipher(cs, key)
					x := c.(*xtsCipher)
					ref := *x
					ref.dk = nil
					ct := make([]byte, (tweakBatch+6)*sector) // two batches of first tweaks
					rand.Read(ct)
					iv := uint64(1<<32 - 3)
					got, want := bytes.Clone(ct), bytes.Clone(ct)
					x.decrypt(got, sector, iv)
					ref.decrypt(want, sector, iv)
					if !bytes.Equal(got, want) {
						t.Fatalf("%s, %d-bit key, %d-byte sectors, VAES %v: the one-pass decryption differs from crypto/aes at byte %d", spec, kl*8, sector, vaes, firstDiff(got, want))
					}
				}
			}
		}
	}
}
