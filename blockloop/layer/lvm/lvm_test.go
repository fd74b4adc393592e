package lvm

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// readAll reads the whole volume through ReadAt in odd-sized pieces.
func readAll(t testing.TB, v *Volume) []byte {
	t.Helper()
	out := make([]byte, v.Size())
	for off := int64(0); off < v.Size(); {
		n := min(int64(100_003), v.Size()-off)
		if _, err := v.ReadAt(out[off:off+n], off); err != nil {
			t.Fatalf("ReadAt %d: %v", off, err)
		}
		off += n
	}
	if _, err := v.ReadAt(make([]byte, 1), v.Size()); err != io.EOF {
		t.Fatalf("ReadAt past the end: %v, want io.EOF", err)
	}
	return out
}

func findLV(t testing.TB, vg *VG, name string) LV {
	t.Helper()
	for _, lv := range vg.LVs() {
		if lv.Name == name {
			return lv
		}
	}
	t.Fatalf("no LV %s in %+v", name, vg.LVs())
	return LV{}
}

// An ext4 LV in three segments (lv2 removed from between lv1 and lv3,
// lv1 extended into the gap and past lv3) reads back as the ext4 image
// written at the extents lvm2 reports; lv3 too.
func TestLinearSegments(t *testing.T) {
	e := newLVM(t)
	img, dev := e.Image("pv.img", 64)
	e.Run("pvcreate", "-y", dev)
	e.Run("vgcreate", "vgt", dev)
	for _, n := range []string{"lv1", "lv2", "lv3"} {
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", n, "vgt")
	}
	e.Run("lvremove", "-y", "vgt/lv2")
	e.Run("lvextend", "-L", "20M", "vgt/lv1")
	if segs := e.Segments("vgt", "lv1"); len(segs) < 2 {
		t.Fatalf("lvm2 made lv1 of %d segment(s), the test wants several: %+v", len(segs), segs)
	}
	src := filepath.Join(e.Dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from lv1\n"), 0o644)
	big := make([]byte, 5<<20)
	rand.NewChaCha8([32]byte{1}).Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	fs := filepath.Join(e.Dir, "fs.img")
	blocklooptest.Ext4(t, fs, "lvroot", src, 20<<20)
	want, _ := os.ReadFile(fs)
	e.WriteLV("vgt", "lv1", want)
	third := make([]byte, 8<<20)
	rand.NewChaCha8([32]byte{3}).Read(third)
	e.WriteLV("vgt", "lv3", third)
	seqno := num(t, e.Report("vgs", "-o", "vg_seqno", "vgt")[0]["vg_seqno"])
	uuid := e.Report("pvs", "-o", "pv_uuid", dev)[0]["pv_uuid"]

	pv, err := ReadPV(source(t, img).R, source(t, img).Size)
	if err != nil {
		t.Fatal(err)
	}
	if pv.UUID != uuid || pv.VGName != "vgt" || int64(pv.Seqno) != seqno {
		t.Fatalf("ReadPV: uuid %s vg %s seqno %d; lvm2 says %s vgt %d", pv.UUID, pv.VGName, pv.Seqno, uuid, seqno)
	}
	vg, err := Assemble(source(t, img))
	if err != nil {
		t.Fatal(err)
	}
	lv1 := findLV(t, vg, "lv1")
	if lv1.Size != 20<<20 || !lv1.Openable || len(lv1.Types) != 1 || lv1.Types[0] != "linear" {
		t.Fatalf("lv1: %+v", lv1)
	}
	if len(vg.LVs()) != 2 {
		t.Fatalf("LVs: %+v, want lv1 and lv3", vg.LVs())
	}
	v, err := vg.Open("vgt/lv1")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v); !bytes.Equal(got, want) {
		t.Fatalf("lv1 reads differently from the ext4 image written into its extents")
	}
	v3, err := vg.Open("lv3")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v3); !bytes.Equal(got, third) {
		t.Fatalf("lv3 reads differently")
	}
	// lv3 is one run of the PV's bytes (losetup --offset reads it); lv1,
	// in pieces, is not.
	if _, _, ok := v.Extent(); ok {
		t.Error("lv1 in several places: Extent says it is one run")
	}
	r, off, ok := v3.Extent()
	in := make([]byte, len(third))
	if !ok {
		t.Fatal("lv3 is one run; Extent says not")
	}
	if _, err := r.ReadAt(in, off); err != nil || !bytes.Equal(in, third) {
		t.Fatalf("the PV at lv3's Extent (byte %d): %v, or other bytes", off, err)
	}
	// The LV read back is a clean ext4 with the files.
	out := filepath.Join(e.Dir, "lv1.img")
	os.WriteFile(out, readAll(t, v), 0o644)
	testkit.Run(t, testkit.Tool(t, "e2fsck"), "-fn", out)
	if _, err := vg.Open("lv2"); !errors.Is(err, ErrNoLV) {
		t.Fatalf("Open(lv2) after lvremove: %v, want ErrNoLV", err)
	}
}

// A striped LV over two PVs (64 KiB stripes) reads back as written; with
// one PV missing, Assemble names the other by UUID and the partial VG
// still opens the linear LV on the PV present.
func TestStripedTwoPVs(t *testing.T) {
	e := newLVM(t)
	imgA, devA := e.Image("a.img", 40)
	imgB, devB := e.Image("b.img", 40)
	e.Run("pvcreate", "-y", devA, devB)
	e.Run("vgcreate", "vgs2", devA, devB)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-i", "2", "-I", "64k", "-L", "16M", "-n", "st", "vgs2")
	e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", "onA", "vgs2", devA)
	data := make([]byte, 16<<20)
	rand.NewChaCha8([32]byte{2}).Read(data)
	e.WriteLV("vgs2", "st", data)
	uuidB := e.Report("pvs", "-o", "pv_uuid", devB)[0]["pv_uuid"]

	vg, err := Assemble(source(t, imgB), source(t, imgA))
	if err != nil {
		t.Fatal(err)
	}
	v, err := vg.Open("st")
	if err != nil {
		t.Fatal(err)
	}
	if got := readAll(t, v); !bytes.Equal(got, data) {
		t.Fatal("striped LV reads differently from what was written at lvm2's stripes")
	}

	_, err = Assemble(source(t, imgA))
	var miss *MissingPVError
	if !errors.As(err, &miss) || len(miss.UUIDs) != 1 || miss.UUIDs[0] != uuidB {
		t.Fatalf("Assemble without b: %v, want a MissingPVError naming %s", err, uuidB)
	}
	var stMiss *MissingPVError
	if st := findLV(t, miss.Partial, "st"); st.Openable || !errors.As(st.Why, &stMiss) || stMiss.UUIDs[0] != uuidB {
		t.Fatalf("st without b: %+v", st)
	}
	if _, err := miss.Partial.Open("onA"); err != nil {
		t.Fatalf("the LV on the PV present: %v", err)
	}
}

// The VG the Ubuntu server installer makes: ubuntu-vg with ubuntu-lv and
// a swap LV; LVs lists them as lvs does.
func TestUbuntuVG(t *testing.T) {
	e := newLVM(t)
	img, dev := e.Image("disk.img", 48)
	e.Run("pvcreate", "-y", dev)
	e.Run("vgcreate", "ubuntu-vg", dev)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", "swap_1", "ubuntu-vg")
	e.Run("lvcreate", "-an", "-Zn", "-y", "-l", "100%FREE", "-n", "ubuntu-lv", "ubuntu-vg")
	vg, err := Assemble(source(t, img))
	if err != nil {
		t.Fatal(err)
	}
	rows := e.Report("lvs", "-o", "lv_name,lv_size,lv_uuid,segtype", "ubuntu-vg")
	if len(vg.LVs()) != len(rows) {
		t.Fatalf("LVs %+v; lvs %+v", vg.LVs(), rows)
	}
	for _, r := range rows {
		lv := findLV(t, vg, r["lv_name"])
		if lv.Size != num(t, r["lv_size"]) || lv.UUID != r["lv_uuid"] || lv.VG != "ubuntu-vg" || len(lv.Types) != 1 || lv.Types[0] != r["segtype"] {
			t.Errorf("%s: %+v; lvs says %v", r["lv_name"], lv, r)
		}
	}
}

// Metadata written many times into a small metadata area wraps around its
// circular buffer; the latest copy is read across the wrap.
func TestWrappedMetadata(t *testing.T) {
	e := newLVM(t)
	img, dev := e.Image("pv.img", 24)
	e.Run("pvcreate", "-y", "--metadatasize", "8k", "--dataalignment", "64k", dev)
	e.Run("vgcreate", "-s", "64k", "vgw", dev)
	mdaSize := num(t, e.Report("pvs", "-o", "pv_mda_size", dev)[0]["pv_mda_size"])
	wrapped := false
	for i := 0; i < 300 && !wrapped; i++ {
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "64k", "-n", fmt.Sprintf("lv%d", i), "vgw")
		b := make([]byte, 8192)
		f, _ := os.Open(img)
		f.ReadAt(b, 0)
		f.Close()
		loc, size := rawLocnOf(b, 4096)
		wrapped = loc+size > uint64(mdaSize)
	}
	if !wrapped {
		t.Fatal("the metadata never wrapped in its area")
	}
	pv, err := ReadPV(source(t, img).R, source(t, img).Size)
	if err != nil {
		t.Fatal(err)
	}
	rows := e.Report("lvs", "-o", "lv_name", "vgw")
	if seq := num(t, e.Report("vgs", "-o", "vg_seqno", "vgw")[0]["vg_seqno"]); int64(pv.Seqno) != seq || len(pv.Metadata.LVs) != len(rows) {
		t.Fatalf("wrapped copy: seqno %d, %d LVs; lvm2 says %d, %d", pv.Seqno, len(pv.Metadata.LVs), seq, len(rows))
	}
}

// A PV with two metadata areas (--pvmetadatacopies 2) reads when its first
// area header is damaged, from the copy at its end.
func TestSecondMetadataArea(t *testing.T) {
	e := newLVM(t)
	img, dev := e.Image("pv.img", 32)
	e.Run("pvcreate", "-y", "--pvmetadatacopies", "2", dev)
	e.Run("vgcreate", "vg2m", dev)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", "data", "vg2m")
	pv, err := ReadPV(source(t, img).R, source(t, img).Size)
	if err != nil || len(pv.MetadataAreas) != 2 || pv.VGName != "vg2m" {
		t.Fatalf("ReadPV: %+v, %v", pv, err)
	}
	b, _ := os.ReadFile(img)
	b[pv.MetadataAreas[0].Offset+200] ^= 0xff
	pv2, err := ReadPV(bytes.NewReader(b), int64(len(b)))
	if err != nil || pv2.Seqno != pv.Seqno {
		t.Fatalf("with the first area damaged: %+v, %v", pv2, err)
	}
	b[pv.MetadataAreas[1].Offset+200] ^= 0xff
	var ce *ChecksumError
	if _, err := ReadPV(bytes.NewReader(b), int64(len(b))); !errors.As(err, &ce) {
		t.Fatalf("both areas damaged: %v, want a ChecksumError", err)
	}
}
