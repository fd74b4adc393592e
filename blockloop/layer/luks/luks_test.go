package luks

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

var testPass = []byte("correct horse battery")

// encrypted makes an image of plainMiB random MiB followed by reduce
// free bytes and encrypts it in place with cryptsetup; it returns the
// image's path and the plaintext.
func encrypted(t testing.TB, plainMiB int, reduce int64, extra ...string) (string, []byte) {
	t.Helper()
	plain := make([]byte, plainMiB<<20)
	rand.Read(plain)
	img := filepath.Join(t.TempDir(), "luks.img")
	if err := os.WriteFile(img, append(plain, make([]byte, reduce)...), 0o600); err != nil {
		t.Fatal(err)
	}
	lukstest.Encrypt(t, img, testPass, strconv.FormatInt(reduce, 10), extra...)
	return img, plain
}

func openImage(t testing.TB, img string) (*Volume, *os.File) {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	v, err := Open(f, st.Size())
	if err != nil {
		t.Fatalf("Open(%s): %v", img, err)
	}
	return v, f
}

// TestDecrypt decrypts images cryptsetup encrypted, in each cipher, key
// size, sector size, key derivation and version the reader supports, and
// compares the payload with the plaintext byte for byte.
func TestDecrypt(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		version int
		cipher  string
		keyBits int
		sector  int
		kdf     string
	}{
		{"luks2-xts512-pbkdf2", nil, 2, "aes-xts-plain64", 512, 512, "pbkdf2-sha256"},
		{"luks2-argon2id", lukstest.FastArgon2id, 2, "aes-xts-plain64", 512, 512, "argon2id"},
		{"luks2-argon2i", []string{"--pbkdf", "argon2i", "--pbkdf-memory", "32768", "--pbkdf-force-iterations", "4"}, 2, "aes-xts-plain64", 512, 512, "argon2i"},
		{"luks2-sector4096", []string{"--sector-size", "4096"}, 2, "aes-xts-plain64", 512, 4096, "pbkdf2-sha256"},
		{"luks2-xts256", []string{"--key-size", "256"}, 2, "aes-xts-plain64", 256, 512, "pbkdf2-sha256"},
		{"luks2-xts-plain-sha1", []string{"--cipher", "aes-xts-plain", "--key-size", "256", "--hash", "sha1"}, 2, "aes-xts-plain", 256, 512, "pbkdf2-sha1"},
		{"luks2-cbc-essiv", []string{"--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"}, 2, "aes-cbc-essiv:sha256", 256, 512, "pbkdf2-sha256"},
		{"luks2-cbc-plain64-sha512", []string{"--cipher", "aes-cbc-plain64", "--key-size", "256", "--hash", "sha512"}, 2, "aes-cbc-plain64", 256, 512, "pbkdf2-sha512"},
		{"luks1-xts512", []string{"--type", "luks1"}, 1, "aes-xts-plain64", 512, 512, "pbkdf2-sha256"},
		{"luks1-cbc-essiv", []string{"--type", "luks1", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"}, 1, "aes-cbc-essiv:sha256", 256, 512, "pbkdf2-sha256"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			img, plain := encrypted(t, 3, 4<<20, tc.args...)
			v, _ := openImage(t, img)
			info := v.Info()
			if info.Version != tc.version || info.Cipher != tc.cipher || info.KeyBits != tc.keyBits || info.SectorSize != tc.sector ||
				len(info.Keyslots) != 1 || info.Keyslots[0].KDF != tc.kdf || info.PayloadOffset != 2<<20 || info.UUID == "" {
				t.Fatalf("Info() = %+v, want version %d, %s, %d bits, sector %d, one %s keyslot, payload at 2 MiB", info, tc.version, tc.cipher, tc.keyBits, tc.sector, tc.kdf)
			}
			st, _ := os.Stat(img)
			if want := st.Size() - info.PayloadOffset; info.Size != want {
				t.Errorf("Size = %d, want %d", info.Size, want)
			}
			if _, err := v.Unlock([]byte("wrong")); !errors.Is(err, ErrNoKey) || err.Error() != "no key available with this passphrase" {
				t.Errorf("Unlock(wrong) = %v, want ErrNoKey", err)
			}
			d, err := v.Unlock(testPass)
			if err != nil {
				t.Fatalf("Unlock: %v", err)
			}
			defer d.Close()
			got := make([]byte, len(plain))
			if n, err := d.ReadAt(got, 0); n != len(got) || err != nil {
				t.Fatalf("ReadAt = %d, %v", n, err)
			}
			if !bytes.Equal(got, plain) {
				t.Fatalf("payload differs from the plaintext at byte %d", firstDiff(got, plain))
			}
			// Unaligned reads and reads across the end.
			for _, r := range [][2]int{{1, 10}, {511, 2}, {4095, 4098}, {100000, 300000}, {len(plain) - 7, 7}} {
				b := make([]byte, r[1])
				if n, err := d.ReadAt(b, int64(r[0])); n != r[1] || err != nil || !bytes.Equal(b, plain[r[0]:r[0]+r[1]]) {
					t.Errorf("ReadAt(%d bytes at %d) = %d, %v, equal %v", r[1], r[0], n, err, bytes.Equal(b, plain[r[0]:r[0]+r[1]]))
				}
			}
			b := make([]byte, 1000)
			if n, err := d.ReadAt(b, d.Size()-10); n != 10 || err != io.EOF {
				t.Errorf("ReadAt across the end = %d, %v, want 10, EOF", n, err)
			}
			d.Close()
			if _, err := d.ReadAt(b, 0); !errors.Is(err, ErrClosed) {
				t.Errorf("ReadAt after Close = %v, want ErrClosed", err)
			}
		})
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}
