package layer

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/loops-cli/loops/blockloop/layer/lvm/lvmtest"
)

// An LVM layer's name carries the LV and its PVs through a command line
// (no comma, which joins specs) and back.
func TestLVMNameRoundTrip(t *testing.T) {
	pvs := []PVRef{{Offset: 1 << 20, Size: 64 << 20, File: -1}, {File: 0}, {Offset: 0, Size: 512, File: -1}}
	name := LVMName("ubuntu-vg/ubuntu-lv", pvs)
	s := Spec{Kind: KindLVM, Name: name}
	got, err := ParseSpec(s.String())
	if err != nil || got != s {
		t.Fatalf("ParseSpec(%q) = %+v, %v", s.String(), got, err)
	}
	lv, back, err := ParseLVMName(got.Name)
	if err != nil || lv != "ubuntu-vg/ubuntu-lv" || !reflect.DeepEqual(back, pvs) {
		t.Fatalf("ParseLVMName(%q) = %q %+v %v", got.Name, lv, back, err)
	}
	for _, bad := range []string{"vg/lv", "vg/lv@", "@1+2", "vg/lv@1", "vg/lv@1+0", "vg/lv@-1+5", "vg/lv@fx", "vg/lv@f-1"} {
		if _, _, err := ParseLVMName(bad); err == nil {
			t.Errorf("ParseLVMName(%q) took it", bad)
		}
	}
	if _, err := Open(nil, 1<<20, []Spec{{Kind: KindLVM, Name: LVMName("vg/lv", []PVRef{{File: 2}})}}, nil); err == nil {
		t.Error("a PV file that was not given: opened")
	}
}

// TestSpanLVM: a stack over an LVM LV made by lvm2 (a linear part in two
// segments, then a striped one over the image's PV, at an offset, and a
// PV file) tells where each range lies plainly in a file, for a server to
// splice it; those bytes are the LV's. A range across a segment or a
// stripe chunk gives none.
func TestSpanLVM(t *testing.T) {
	e := lvmtest.New(t)
	a, devA := e.Image("a.img", 24)
	b, devB := e.Image("b.img", 24)
	e.Run("pvcreate", "-y", devA, devB)
	e.Run("vgcreate", "vgspan", devA, devB)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "4M", "-n", "lin", "vgspan", devA)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "4M", "-n", "gap", "vgspan", devA)
	e.Run("lvextend", "-L", "8M", "vgspan/lin", devA)
	e.Run("lvcreate", "-an", "-Zn", "-y", "-i", "2", "-I", "64k", "-L", "16M", "-n", "st", "vgspan")
	data := make([]byte, 16<<20)
	rand.Read(data)
	e.WriteLV("vgspan", "lin", data[:8<<20])
	e.WriteLV("vgspan", "st", data)
	e.Detach()
	// The image's PV at 1 MiB of a bigger image, as in a partition.
	imgA, err := os.ReadFile(a)
	if err != nil {
		t.Fatal(err)
	}
	disk := filepath.Join(e.Dir, "disk.img")
	if err := os.WriteFile(disk, append(make([]byte, 1<<20), imgA...), 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(disk)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fb, err := os.Open(b)
	if err != nil {
		t.Fatal(err)
	}
	defer fb.Close()
	pvs := []PVRef{{Offset: 1 << 20, Size: int64(len(imgA)), File: -1}, {File: 0}}
	for _, c := range []struct {
		lv         string
		want       []byte
		off, n     int64
		spliceable bool
		file       *os.File
	}{
		{"lin", data[:8<<20], 0, 1 << 20, true, f},
		{"lin", data[:8<<20], 4<<20 + 4096, 512 << 10, true, f}, // the second segment
		{"lin", data[:8<<20], 4<<20 - 4096, 8192, false, nil},   // across the segments
		{"st", data, 0, 64 << 10, true, f},
		{"st", data, 64 << 10, 64 << 10, true, fb},
		{"st", data, 96 << 10, 64 << 10, false, nil}, // across two chunks
	} {
		s, err := Open(f, 1<<20+int64(len(imgA)), []Spec{{Kind: KindLVM, Name: LVMName("vgspan/"+c.lv, pvs)}}, nil,
			Source{Name: "b", R: fb, Size: 24 << 20})
		if err != nil {
			t.Fatal(err)
		}
		sp, ok := s.(interface {
			Span(off, n int64) (*os.File, int64, bool)
		})
		if !ok {
			t.Fatal("the stack cannot tell where its bytes lie")
		}
		file, at, ok := sp.Span(c.off, c.n)
		if ok != c.spliceable || file != c.file {
			t.Errorf("%s: Span(%d, %d) = %v, %d, %v; want spliceable %v from %v", c.lv, c.off, c.n, file, at, ok, c.spliceable, c.file)
			continue
		}
		if ok {
			got := make([]byte, c.n)
			if _, err := file.ReadAt(got, at); err != nil || !bytes.Equal(got, c.want[c.off:c.off+c.n]) {
				t.Errorf("%s: the file at %d (Span of %d+%d) holds other bytes than the LV (%v)", c.lv, at, c.off, c.n, err)
			}
		}
		s.Close()
	}
}
