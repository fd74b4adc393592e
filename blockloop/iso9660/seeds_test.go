package iso9660_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* from xorriso images when
// LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they were
// made).
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	small := filepath.Join(t.TempDir(), "small")
	os.MkdirAll(filepath.Join(small, "a/b/c/d/e/f/g/h/i"), 0o755)
	os.WriteFile(filepath.Join(small, "hello.txt"), []byte("hi\n"), 0o644)
	os.WriteFile(filepath.Join(small, "a/b/c/d/e/f/g/h/i/deep.txt"), []byte("deep\n"), 0o600)
	os.WriteFile(filepath.Join(small, isotest.LongName), []byte("long\n"), 0o644)
	os.Symlink(isotest.LongTarget, filepath.Join(small, "link"))
	images := map[string]string{
		"rr":     isotest.BuildISO(t, small, "-R", "-J", "-rr_reloc_dir", "rr_moved"),
		"joliet": isotest.BuildISO(t, small, "--norock", "-J"),
		"plain":  isotest.BuildISO(t, small, "--norock"),
	}
	for name, iso := range images {
		b, err := os.ReadFile(iso)
		if err != nil {
			t.Fatal(err)
		}
		write(t, "FuzzOpen", name, bytes.TrimRight(b[16*2048:], "\x00"))
		for i := 16; i < 20; i++ {
			d := b[i*2048 : (i+1)*2048]
			if d[0] != 1 && d[0] != 2 {
				continue
			}
			root := d[156:]
			lba := binary.LittleEndian.Uint32(root[2:])
			size := binary.LittleEndian.Uint32(root[10:])
			dir := b[lba*2048 : lba*2048+size]
			write(t, "FuzzDirRecord", fmt.Sprintf("%s-vd%d", name, d[0]), dir)
			ptSize := binary.LittleEndian.Uint32(d[132:])
			ptLoc := binary.LittleEndian.Uint32(d[140:])
			write(t, "FuzzPathTable", fmt.Sprintf("%s-vd%d", name, d[0]), b[ptLoc*2048:ptLoc*2048+ptSize])
			// System use areas of the root's records.
			for pos, n := 0, 0; pos < len(dir) && dir[pos] != 0; pos += n {
				n = int(dir[pos])
				lfi := int(dir[pos+32])
				su := 33 + lfi + (1 - lfi%2)
				if su < n {
					write(t, "FuzzSUSP", fmt.Sprintf("%s-vd%d-%d", name, d[0], pos), dir[pos+su:pos+n])
				}
			}
		}
	}
}

func write(t *testing.T, target, name string, data []byte) {
	dir := filepath.Join("testdata", "fuzz", target)
	os.MkdirAll(dir, 0o755)
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}
