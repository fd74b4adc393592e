package vhdx

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen from qemu-img
// images when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is
// how they were made): a 3 MiB disk with a few bytes in one block, dynamic
// and fixed with 1 MiB blocks, and a differencing disk of the dynamic one
// (see makeDiff), each run-length encoded (see encodeRLE).
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	qemu := disktest.QemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	b := make([]byte, 5<<20-4096)
	copy(b[1<<20+10:], "hello, block 1")
	os.WriteFile(src, b, 0o644)
	for name, o := range map[string]string{"dynamic": "block_size=1M", "fixed": "subformat=fixed,block_size=1M"} {
		img := filepath.Join(dir, name+".vhdx")
		testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vhdx", "-o", o, src, img)
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		enc := encodeRLE(raw)
		r := decodeRLE(enc)
		im, err := Open(r, r.size, Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(b))
		im.ReadAt(got, 0)
		if !bytes.Equal(got, b) {
			t.Fatalf("%s: encoded image reads differently", name)
		}
		testkit.WriteSeed(t, "FuzzOpen", name, enc)
		if name == "dynamic" {
			d, _ := makeDiff(t, raw, b, "parent.vhdx", true)
			testkit.WriteSeed(t, "FuzzOpen", "differencing", encodeRLE(d))
		}
	}
}
