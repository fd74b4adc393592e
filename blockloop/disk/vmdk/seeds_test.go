package vmdk

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/FuzzOpen from qemu-img
// images when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is
// how they were made). qemu-img pads its images to 64 KiB grains; compact
// rewrites them with the same header, descriptor, tables and grains, laid
// out back to back, so that the seeds stay a few KiB.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	qemu := disktest.QemuImg(t)
	dir := t.TempDir()
	src := filepath.Join(dir, "src.raw")
	b := make([]byte, 200000) // 4 grains, the last one partial
	copy(b[10:], "hello, grain 0")
	copy(b[65536*2+100:], bytes.Repeat([]byte("grain 2 "), 50))
	copy(b[199990:], "end")
	os.WriteFile(src, b, 0o644)
	one := filepath.Join(dir, "one.raw") // one allocated grain: uncompressed grains are 64 KiB
	b1 := make([]byte, 200000)
	copy(b1[65536*2+100:], "grain 2")
	os.WriteFile(one, b1, 0o644)
	for _, sub := range []string{"monolithicSparse", "streamOptimized"} {
		img := filepath.Join(dir, sub+".vmdk")
		src, b := src, b
		if sub == "monolithicSparse" {
			src, b = one, b1
		}
		testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat="+sub, src, img)
		raw, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		c := compact(t, raw)
		im, err := Open(bytes.NewReader(c), int64(len(c)), Options{})
		if err != nil {
			t.Fatal(err)
		}
		got := make([]byte, im.Size())
		im.ReadAt(got, 0)
		if !bytes.Equal(got[:len(b)], b) {
			t.Fatalf("%s: compacted image reads differently", sub)
		}
		testkit.WriteSeed(t, "FuzzOpen", sub, c)
		if sub == "streamOptimized" {
			// As VMware streams it: GD_AT_END and a footer.
			e := append([]byte(nil), c...)
			binary.LittleEndian.PutUint64(e[56:], gdAtEnd)
			foot := make([]byte, 1536)
			binary.LittleEndian.PutUint64(foot[0:], 1)
			binary.LittleEndian.PutUint32(foot[12:], markerFooter)
			copy(foot[512:], c[:512])
			testkit.WriteSeed(t, "FuzzOpen", "gd-at-end", append(e, foot...))
		}
	}
	// A descriptor with a flat extent (the fuzz target opens data itself
	// for every name) and a zero extent.
	img := filepath.Join(dir, "flat.vmdk")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=monolithicFlat", src, img)
	desc, _ := os.ReadFile(img)
	desc = bytes.TrimRight(desc, " \x00")
	desc = bytes.Replace(desc, []byte("RW 391 FLAT \"flat-flat.vmdk\" 0"), []byte("RW 1 FLAT \"flat-flat.vmdk\" 0\nRW 8 ZERO\nRDONLY 1 FLAT \"x\" 1"), 1)
	testkit.WriteSeed(t, "FuzzOpen", "descriptor", desc)
}

// compact rewrites a qemu-img sparse extent: header, descriptor (trimmed),
// grain directory with 1 entry per grain table, grain tables, then the
// allocated grains (compressed ones with their marker) back to back; the
// last grain's trailing zeros are dropped.
func compact(t *testing.T, raw []byte) []byte {
	h, err := parseSparseHeader(raw, 0)
	if err != nil {
		t.Fatal(err)
	}
	le := binary.LittleEndian
	desc := bytes.TrimRight(raw[h.descOffset*512:(h.descOffset+h.descSize)*512], "\x00")
	descSectors := uint64(len(desc)+511) / 512
	grain := int(h.granularity) * 512
	nGD := int((h.capacity + h.granularity*uint64(h.numGTEs) - 1) / (h.granularity * uint64(h.numGTEs)))
	gdSector := 1 + descSectors
	gtSector := gdSector + uint64(nGD*4+511)/512
	gtSectors := uint64(int(h.numGTEs)*4+511) / 512
	next := gtSector + uint64(nGD)*gtSectors
	out := make([]byte, next*512)
	copy(out, raw[:512])
	le.PutUint64(out[28:], 1)
	le.PutUint64(out[36:], descSectors)
	le.PutUint64(out[48:], gdSector) // the redundant directory is the same one
	le.PutUint64(out[56:], gdSector)
	le.PutUint64(out[64:], next)
	copy(out[512:], desc)
	var grains []byte
	for i := 0; i < nGD; i++ {
		gtOld := le.Uint32(raw[h.gdOffset*512+uint64(4*i):])
		gtNew := gtSector + uint64(i)*gtSectors
		le.PutUint32(out[gdSector*512+uint64(4*i):], uint32(gtNew))
		if gtOld == 0 {
			continue
		}
		for j := 0; j < int(h.numGTEs); j++ {
			e := le.Uint32(raw[int(gtOld)*512+4*j:])
			if e <= 1 {
				le.PutUint32(out[int(gtNew)*512+4*j:], e)
				continue
			}
			var blob []byte
			if h.flags&flagCompressed != 0 {
				n := int(le.Uint32(raw[int(e)*512+8:]))
				blob = raw[int(e)*512 : int(e)*512+12+n]
			} else {
				blob = raw[int(e)*512 : int(e)*512+grain]
			}
			le.PutUint32(out[int(gtNew)*512+4*j:], uint32(next+uint64(len(grains)/512)))
			grains = append(grains, blob...)
			grains = append(grains, make([]byte, (512-len(blob)%512)%512)...)
		}
	}
	return bytes.TrimRight(append(out, grains...), "\x00")
}
