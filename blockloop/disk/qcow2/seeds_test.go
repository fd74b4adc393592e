package qcow2_test

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* from tiny qemu-img images
// when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they
// were made). Data is written with printable patterns so that the corpus
// files stay small.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	dir := t.TempDir()
	img := func(name string) string { return filepath.Join(dir, name+".qcow2") }
	create := func(name, opts, size string) string {
		testkit.Run(t, disktest.QemuImg(t), "create", "-f", "qcow2", "-o", opts, img(name), size)
		return img(name)
	}
	text := filepath.Join(dir, "text.raw")
	os.WriteFile(text, []byte(strings.Repeat("Seeds for the qcow2 fuzzer. ", 586)[:16384]), 0o644)

	qemuIO(t, create("v2", "compat=0.10,cluster_size=512", "16k"), "write -P 0x41 0 1k", "write -P 0x42 5k 512")
	qemuIO(t, create("v3", "cluster_size=512", "16k"), "write -P 0x43 512 1k", "write -z 4k 2k", "write -P 0x44 15k 1k")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=512", text, img("zlib"))
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=512,compression_type=zstd", text, img("zstd"))
	testkit.Run(t, disktest.QemuImg(t), "create", "-f", "qcow2", "-o", "cluster_size=512", "-b", "v3.qcow2", "-F", "qcow2", img("overlay"), "20k")
	qemuIO(t, img("overlay"), "write -P 0x61 2k 1k", "write -z 8k 512")
	qemuIO(t, create("extl2", "cluster_size=16k,extended_l2=on", "64k"), "write -P 0x45 1k 2k", "write -z 8k 1k", "write -P 0x46 20k 16k")

	for _, name := range []string{"v2", "v3", "zlib", "zstd", "overlay"} {
		b := read(t, img(name))
		testkit.WriteSeed(t, "FuzzOpen", name, b)
	}
	for _, name := range []string{"v2", "v3", "zstd", "overlay", "extl2"} {
		b := read(t, img(name))
		cs := 1 << binary.BigEndian.Uint32(b[20:])
		first := bytes.TrimRight(b[:cs], "\x00")
		n := min(max(len(first)+7&^7+8, 120), cs)
		testkit.WriteSeed(t, "FuzzHeader", name, b[:n])
	}
	// L2 entries: standard, zero, compressed, and extended with bitmaps.
	for _, c := range []struct {
		name string
		ext  bool
		idx  []int
	}{{"v3", false, []int{1, 8, 30}}, {"zlib", false, []int{0, 5}}, {"zstd", false, []int{3}}, {"extl2", true, []int{0, 1, 2}}} {
		b := read(t, img(c.name))
		cb := binary.BigEndian.Uint32(b[20:])
		l1 := binary.BigEndian.Uint64(b[40:])
		l2 := binary.BigEndian.Uint64(b[l1:]) & 0x00fffffffffffe00
		for _, i := range c.idx {
			var e, bm uint64
			if c.ext {
				e, bm = binary.BigEndian.Uint64(b[l2+16*uint64(i):]), binary.BigEndian.Uint64(b[l2+16*uint64(i)+8:])
			} else {
				e = binary.BigEndian.Uint64(b[l2+8*uint64(i):])
			}
			testkit.WriteSeedValues(t, "FuzzL2Entry", fmt.Sprintf("%s-%d", c.name, i),
				fmt.Sprintf("uint64(%#x)\nuint64(%#x)\nuint8(%d)\nbool(%v)\nuint32(%d)", e, bm, cb-9, c.ext, 1000*i+7))
		}
	}
}

func read(t *testing.T, p string) []byte {
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
