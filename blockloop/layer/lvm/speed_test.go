package lvm

import (
	"bytes"
	"testing"
)

// BenchmarkRead reads 64 MiB sequentially in 1 MiB reads (MB/s): the PV's
// bytes straight, then the same bytes as a linear LV of two segments and
// as a striped LV of two stripes (64 KiB) over two PVs, all from memory:
// what mapping an LV onto its PVs costs beside the read itself.
func BenchmarkRead(b *testing.B) {
	const ext = 4 << 20
	const n = 64 << 20
	const pes = n/ext + 2
	pv := buildPV(testText(pes, ""), testPEStart+pes*ext, 512)
	for i := testPEStart; i < len(pv); i++ {
		pv[i] = byte(i)
	}
	linear := func(md *Metadata) {
		md.ExtentSize = ext
		md.LVs = []MetaLV{{Name: "lv", Status: []string{"VISIBLE"}, Segments: []Segment{
			{StartExtent: 0, ExtentCount: pes / 2, Type: "striped", Stripes: []Stripe{{PV: "pv0", StartExtent: 2}}},
			{StartExtent: pes / 2, ExtentCount: n/ext - pes/2, Type: "striped", Stripes: []Stripe{{PV: "pv0", StartExtent: 0}}},
		}}}
	}
	striped := func(md *Metadata) {
		md.ExtentSize = ext
		md.PVs = append(md.PVs, MetaPV{Name: "pv1", UUID: "other", PEStart: testPEStart, PECount: pes})
		md.LVs = []MetaLV{{Name: "lv", Status: []string{"VISIBLE"}, Segments: []Segment{
			{StartExtent: 0, ExtentCount: n / ext, Type: "striped", StripeSize: 64 << 10, Stripes: []Stripe{{PV: "pv0", StartExtent: 0}, {PV: "pv1", StartExtent: 0}}},
		}}}
	}
	buf := make([]byte, 1<<20)
	b.Run("pv", func(b *testing.B) {
		r := bytes.NewReader(pv)
		b.SetBytes(n)
		for b.Loop() {
			for off := int64(0); off < n; off += int64(len(buf)) {
				r.ReadAt(buf, testPEStart+off)
			}
		}
	})
	for _, tc := range []struct {
		name string
		edit func(*Metadata)
	}{{"linear", linear}, {"striped", striped}} {
		b.Run(tc.name, func(b *testing.B) {
			src := PVSource{Name: "pv", R: bytes.NewReader(pv), Size: int64(len(pv))}
			vg := &VG{Sources: map[string]PVSource{"pv0": src, "pv1": src}}
			md, err := ParseMetadata([]byte(testText(pes, "")))
			if err != nil {
				b.Fatal(err)
			}
			tc.edit(md)
			vg.Metadata = *md
			v, err := vg.Open("lv")
			if err != nil {
				b.Fatal(err)
			}
			b.SetBytes(n)
			for b.Loop() {
				for off := int64(0); off < n; off += int64(len(buf)) {
					if _, err := v.ReadAt(buf, off); err != nil {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
