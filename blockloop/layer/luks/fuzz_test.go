package luks

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
	"github.com/loops-cli/loops/internal/testkit"
)

// padded reads data, then zeros up to size: a seed keeps only the headers
// of an image and its keyslot areas and payload read as zeros.
type padded struct {
	data []byte
	size int64
}

func (p padded) ReadAt(b []byte, off int64) (int, error) {
	n := 0
	if off < int64(len(p.data)) {
		n = copy(b, p.data[off:])
	}
	clear(b[n:])
	return len(b), nil
}

// FuzzOpen opens data (padded with zeros to 1 MiB) as a LUKS volume,
// reads its Info and, when its key derivations are cheap, unlocks it with
// a passphrase (the zeros decrypt to no key) and reads a little.
// Seeds are in testdata/fuzz/FuzzOpen (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s ./blockloop/layer/luks/
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		r := padded{data: data, size: max(int64(len(data)), 1<<20)}
		v, err := Open(r, r.size)
		if err != nil {
			return
		}
		info := v.Info()
		if info.Size < 0 || info.Size > r.size {
			t.Fatalf("Info().Size = %d of an image of %d", info.Size, r.size)
		}
		for _, s := range v.slots {
			if s.kdf.iterations > 2000 || s.kdf.memoryKiB > 1024 || s.stripes > 4000 {
				return
			}
		}
		for _, d := range v.digests {
			if d.iterations > 2000 {
				return
			}
		}
		d, err := v.Unlock([]byte("pw"))
		if err != nil {
			return
		}
		b := make([]byte, 5000)
		d.ReadAt(b, 0)
		d.ReadAt(b, d.Size()-100)
		d.Close()
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen from images
// cryptsetup made when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed;
// this is how they were made): the headers of LUKS2 (PBKDF2, Argon2id,
// 4096-byte sectors, a token) and LUKS1 volumes, passphrase "pw".
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	pw := []byte("pw")
	for _, s := range []struct {
		name string
		keep int
		args []string
	}{
		{"luks2-pbkdf2", 32 << 10, append([]string{"--type", "luks2", "--luks2-metadata-size", "16k", "--sector-size", "512"}, lukstest.FastPBKDF2...)},
		{"luks2-argon2id", 32 << 10, []string{"--type", "luks2", "--pbkdf", "argon2id", "--pbkdf-memory", "1024", "--pbkdf-force-iterations", "4", "--cipher", "aes-cbc-essiv:sha256", "--key-size", "256"}},
		{"luks1", 4096, append([]string{"--type", "luks1"}, lukstest.FastPBKDF2...)},
	} {
		img := filepath.Join(t.TempDir(), "seed.img")
		os.WriteFile(img, make([]byte, 20<<20), 0o600)
		lukstest.Format(t, img, pw, s.args...)
		b, _ := os.ReadFile(img)
		testkit.WriteSeed(t, "FuzzOpen", s.name, b[:s.keep])
	}
}
