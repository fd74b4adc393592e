package vdi

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
// how they were made). The images are of a 3 MiB disk with a few bytes in
// one block; their trailing zeros are dropped (a block cut by the end of
// the file reads as zeros).
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	qemu := disktest.QemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	b := make([]byte, 3<<20-4096)
	copy(b[1<<20+10:], "hello, block 1")
	os.WriteFile(src, b, 0o644)
	src0 := filepath.Join(dir, "src0.raw") // data at the start of block 0
	b0 := append([]byte("block 0"), b[7:]...)
	os.WriteFile(src0, b0, 0o644)
	for name, o := range map[string][]string{"dynamic": nil, "static": {"-o", "static=on"}} {
		img := filepath.Join(dir, name+".vdi")
		args := append([]string{"convert", "-f", "raw", "-O", "vdi"}, o...)
		if name == "static" {
			testkit.Run(t, qemu, append(args, src0, img)...)
		} else {
			testkit.Run(t, qemu, append(args, src, img)...)
		}
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		if name == "static" {
			// Keep the header, the block map and the start of block 0.
			raw = raw[:4096]
		}
		raw = bytes.TrimRight(raw, "\x00")
		im, err := Open(bytes.NewReader(raw), int64(len(raw)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, len(b))
		im.ReadAt(got, 0)
		if name == "dynamic" && !bytes.Equal(got, b) {
			t.Fatalf("%s: trimmed image reads differently", name)
		}
		testkit.WriteSeed(t, "FuzzOpen", name, raw)
		if name == "dynamic" {
			d := append([]byte(nil), raw...)
			d[76] = TypeDiff
			copy(d[424:440], d[392:408])
			testkit.WriteSeed(t, "FuzzOpen", "differencing", d)
		}
	}
}
