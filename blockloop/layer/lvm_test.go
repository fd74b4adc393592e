package layer

import (
	"reflect"
	"testing"
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
