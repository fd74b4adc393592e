package probe_test

import (
	"bytes"
	"testing"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/probe"
)

// FuzzProbe: Image never panics on any bytes, never reports a partition
// with a negative start or size, and blockloop.Decide never panics on
// what it found. (An external test: probe never imports blockloop.)
// Seeds: testdata/fuzz/FuzzProbe (heads of real mkfs images).
func FuzzProbe(f *testing.F) {
	probe.FuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := probe.Image(bytes.NewReader(data), int64(len(data)), probe.Options{})
		if err != nil {
			t.Fatalf("Probe of in-memory data: %v", err)
		}
		for _, part := range p.Partitions {
			if part.Start < 0 || part.Size < 0 {
				t.Fatalf("partition %+v", part)
			}
		}
		_ = blockloop.Decide(blockloop.PlanInput{Probe: &p, Kernel: map[string]bool{"ext4": true}})
		for _, size := range []int64{3 << 20, 100 << 20} {
			if int64(len(data)) > size/2 {
				continue
			}
			p, err := probe.Image(probe.SparseImage(data, size), size, probe.Options{})
			if err != nil {
				t.Fatalf("Probe of a sparse image: %v", err)
			}
			_ = blockloop.Decide(blockloop.PlanInput{Probe: &p})
		}
	})
}
