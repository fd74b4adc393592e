package lvm

import (
	"bytes"
	"io"
	"os"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzReadPV reads data as a PV, assembles the VG its metadata describes
// (the other PVs missing) and reads a little of every LV that opens.
// Seeds are in testdata/fuzz/FuzzReadPV (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzReadPV -fuzztime 30s ./blockloop/layer/lvm/
func FuzzReadPV(f *testing.F) {
	f.Add(buildPV(testText(8, linearLV("lv0", 1, 3)), testPEStart+8*4096, testMDASize-64))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		src := PVSource{Name: "fuzz", R: bytes.NewReader(data), Size: int64(len(data))}
		pv, err := ReadPV(src.R, src.Size)
		if err != nil {
			return
		}
		_ = pv.UUID
		vg, err := Assemble(src)
		if miss, ok := err.(*MissingPVError); ok {
			vg, err = miss.Partial, nil
		}
		if err != nil {
			return
		}
		for _, lv := range vg.LVs() {
			v, err := vg.Open(lv.Name)
			if err != nil {
				continue
			}
			if r, off, ok := v.Extent(); ok && (r == nil || off < 0) {
				t.Fatalf("%s: Extent %v at %d", lv.Name, r, off)
			}
			if v.Size() != lv.Size {
				t.Fatalf("%s: Size %d, LVs says %d", lv.Name, v.Size(), lv.Size)
			}
			buf := make([]byte, 4096)
			for _, off := range []int64{0, v.Size() / 2, v.Size() - 1} {
				if off >= 0 {
					if _, err := v.ReadAt(buf, off); err != nil && err != io.EOF {
						t.Fatalf("%s at %d: %v", lv.Name, off, err)
					}
				}
			}
		}
	})
}

// FuzzParseMetadata parses data as a VG's text metadata.
func FuzzParseMetadata(f *testing.F) {
	f.Add([]byte(testText(8, linearLV("lv0", 1, 3))))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		md, err := ParseMetadata(data)
		if err != nil {
			return
		}
		for _, lv := range md.LVs {
			_ = lv.Extents()
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz from PVs made by lvm2 when
// LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they
// were made): a PV with a small metadata area (8 KiB extents from 64 KiB)
// holding a linear and a striped LV, its metadata wrapped round the
// circular buffer, cut after its first extents.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	e := newLVM(t)
	imgA, devA := e.Image("a.img", 4)
	_, devB := e.Image("b.img", 4)
	e.Run("pvcreate", "-y", "--metadatasize", "8k", "--dataalignment", "64k", devA, devB)
	e.Run("vgcreate", "-s", "8k", "vgf", devA, devB)
	for i := range 12 {
		e.Run("lvcreate", "-an", "-Zn", "-y", "-l", "1", "-n", "x"+string(rune('a'+i)), "vgf", devA)
	}
	e.Run("lvcreate", "-an", "-Zn", "-y", "-l", "2", "-n", "lin", "vgf", devA)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-i", "2", "-I", "4k", "-l", "4", "-n", "st", "vgf")
	b, _ := os.ReadFile(imgA)
	b = b[:96<<10]
	testkit.WriteSeed(t, "FuzzReadPV", "lvm2-pv", b)
	pv, err := ReadPV(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	a := pv.MetadataAreas[0]
	loc, size := rawLocnOf(b, int(a.Offset))
	t.Logf("metadata at %d+%d in an area of %d", loc, size, a.Size)
	text, _ := pv.readArea(a)
	testkit.WriteSeed(t, "FuzzParseMetadata", "lvm2-text", text)
}
