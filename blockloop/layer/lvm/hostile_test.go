package lvm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

func openBuilt(b []byte) (*VG, error) {
	return Assemble(PVSource{Name: "pv.img", R: bytes.NewReader(b), Size: int64(len(b))})
}

// The hand-built PV reads, its LV as the bytes at its extents, and its
// metadata across the circular buffer's wrap.
func TestBuiltPV(t *testing.T) {
	size := testPEStart + 8*4096
	for _, rel := range []int{512, testMDASize - 100} {
		b := buildPV(testText(8, linearLV("lv0", 2, 3)), size, rel)
		for i := range 3 * 4096 {
			b[testPEStart+2*4096+i] = byte(i*7 + 1)
		}
		vg, err := openBuilt(b)
		if err != nil {
			t.Fatalf("rel %d: %v", rel, err)
		}
		v, err := vg.Open("vgh/lv0")
		if err != nil {
			t.Fatal(err)
		}
		if got := readAll(t, v); !bytes.Equal(got, b[testPEStart+2*4096:testPEStart+5*4096]) {
			t.Fatal("lv0 reads differently from its extents")
		}
	}
}

// Hostile PVs: each a clear, typed error, no panic and no hang.
func TestHostile(t *testing.T) {
	size := testPEStart + 8*4096
	good := testText(8, linearLV("lv0", 0, 2))
	deep := strings.Repeat("a {\n", 50) + strings.Repeat("}\n", 50)
	thin := strings.Replace(linearLV("tv", 0, 2), `type = "striped"`, `type = "thin"`, 1)
	cases := []struct {
		name  string
		b     []byte
		check func(error) bool
	}{
		{"label crc", flip(buildPV(good, size, 512), 600), isChecksum},
		{"mda header crc", flip(buildPV(good, size, 512), testMDA+300), isChecksum},
		{"metadata crc", flip(buildPV(good, size, 512), testMDA+520), isChecksum},
		{"huge metadata size", setU64(buildPV(good, size, 512), testMDA+48, 1<<60), isFormat},
		{"metadata offset past the area", setU64(buildPV(good, size, 512), testMDA+40, testMDASize+5), isFormat},
		{"mda past the PV", setLabelU64(buildPV(good, size, 512), 32+80, 1<<40), isFormat},
		{"deep nesting", buildPV(deep, size, 512), isFormat},
		{"number overflow", buildPV(strings.Replace(good, "pe_count = 8", "pe_count = 99999999999999999999999", 1), size, 512), isFormat},
		{"extent count overflow", buildPV(strings.Replace(strings.Replace(good, "extent_size = 8", "extent_size = 4294967296", 1), "pe_count = 8", "pe_count = 9007199254740992", 1), size, 512), isFormat},
		{"segment past the PV", buildPV(testText(8, linearLV("lv0", 6, 4)), size, 512), isFormat},
		{"PV shorter than its extents", buildPV(testText(100, linearLV("lv0", 90, 4)), size, 512), isFormat},
		{"unclosed string", buildPV(`vgh { id = "abc`, size, 512), isFormat},
		{"unclosed section", buildPV(`vgh { id = "abc"`, size, 512), isFormat},
		{"two VGs", buildPV(good+"\nother { }", size, 512), isFormat},
		{"segments overlapping", buildPV(testText(8, strings.Replace(linearLV("lv0", 0, 2), "start_extent = 0", "start_extent = 1", 1)), size, 512), isFormat},
		{"thin", buildPV(testText(8, thin), size, 512), isSegType("thin")},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			defer testkit.Watchdog(t, 5*time.Second)()
			vg, err := openBuilt(c.b)
			if err == nil {
				for _, lv := range vg.LVs() {
					if _, err = vg.Open(lv.Name); err != nil {
						break
					}
				}
			}
			if !c.check(err) {
				t.Fatalf("got %v (%T)", err, err)
			}
			t.Log(err)
		})
	}
}

// A thin LV is listed with its type, not openable, refused naming it.
func TestRefusedSegmentType(t *testing.T) {
	for _, typ := range []string{"thin", "thin-pool", "raid1", "mirror", "cache", "vdo", "snapshot"} {
		lv := strings.Replace(linearLV("x", 0, 2), `type = "striped"`, `type = "`+typ+`"`, 1)
		vg, err := openBuilt(buildPV(testText(8, lv), testPEStart+8*4096, 512))
		if err != nil {
			t.Fatal(err)
		}
		l := findLV(t, vg, "x")
		if l.Openable || len(l.Types) != 1 || l.Types[0] != typ {
			t.Fatalf("%s: %+v", typ, l)
		}
		_, err = vg.Open("x")
		var se *SegmentTypeError
		if !errors.As(err, &se) || se.Type != typ || !errors.Is(err, ErrUnsupported) || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), typ) {
			t.Fatalf("%s: %v", typ, err)
		}
	}
}

// Sources that are no PV, the same PV twice, or PVs without metadata.
func TestAssembleErrors(t *testing.T) {
	if _, err := openBuilt(make([]byte, 8192)); !errors.Is(err, ErrNotPV) {
		t.Fatalf("zeros: %v", err)
	}
	b := buildPV(testText(8, ""), testPEStart+8*4096, 512)
	if _, err := Assemble(PVSource{"a", bytes.NewReader(b), int64(len(b))}, PVSource{"b", bytes.NewReader(b), int64(len(b))}); err == nil || !strings.Contains(err.Error(), "same PV") {
		t.Fatalf("same PV twice: %v", err)
	}
	setU64(b, testMDA+40, 0) // no metadata copy
	if _, err := openBuilt(b); !errors.Is(err, ErrNoMetadata) {
		t.Fatalf("no metadata: %v", err)
	}
}

func flip(b []byte, off int) []byte { b[off] ^= 0x40; return b }

func setU64(b []byte, off int, v uint64) []byte {
	binary.LittleEndian.PutUint64(b[off:], v)
	if off >= testMDA && off < testMDA+mdaHeaderSize {
		sealMDA(b)
	}
	return b
}

// setLabelU64 sets a field of the label sector (offset within it) and
// reseals the label.
func setLabelU64(b []byte, off int, v uint64) []byte {
	sec := b[512:1024]
	binary.LittleEndian.PutUint64(sec[off:], v)
	binary.LittleEndian.PutUint32(sec[16:], calcCRC(initialCRC, sec[20:]))
	return b
}

func isChecksum(err error) bool { var e *ChecksumError; return errors.As(err, &e) }
func isFormat(err error) bool   { var e *FormatError; return errors.As(err, &e) }
func isSegType(typ string) func(error) bool {
	return func(err error) bool { var e *SegmentTypeError; return errors.As(err, &e) && e.Type == typ }
}
