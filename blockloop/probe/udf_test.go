package probe

import (
	"strconv"
	"testing"
)

// TestProbeUDFLargeBlocks: mkudffs makes UDF volumes with 8, 16 and
// 32 KiB blocks (ECMA-167 allows every power of two to 32 KiB); blkid
// 2.38 stops at 4 KiB and names none of them, Probe names each, with the
// label and the block size. The 1 KiB case is in probeCases, against blkid.
func TestProbeUDFLargeBlocks(t *testing.T) {
	for _, bs := range []string{"8192", "16384", "32768"} {
		t.Run(bs, func(t *testing.T) {
			path := mkfs("mkudffs", 16<<20, "-b", bs, "--media-type=hd", "--label=Big "+bs)(t, t.TempDir())
			p, err := File(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != "udf" || p.Kind != KindFilesystem || p.Label != "Big "+bs || p.Version != "2.01" || itoa64(p.BlockSize) != bs {
				t.Errorf("%+v", p)
			}
		})
	}
}

func itoa64(n int64) string { return strconv.FormatInt(n, 10) }
