package vmdk

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestConcurrentSequential reads compressed images sequentially from
// several goroutines at once (each its own stream, in pieces of its own
// size, and pairs of goroutines sharing one stream), with default and
// tiny caches, so that the decompression ahead runs against the reads;
// then checks that no prefetch goroutine is left.
func TestConcurrentSequential(t *testing.T) {
	dir, src := disktest.Source(t, 3<<20+4096)
	want, _ := os.ReadFile(src)
	before := runtime.NumGoroutine()
	for _, c := range []struct {
		name string
		lim  Limits
	}{
		{"default", Limits{}},
		{"tiny", Limits{MaxCacheBytes: 512}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".vmdk")
			testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			im, err := Open(f, st.Size(), Options{Limits: c.lim})
			if err != nil {
				t.Fatal(err)
			}
			disktest.ReadConcurrently(t, im, want)
		})
	}
	// The decompression ahead stops with the reads.
	disktest.NoGoroutinesLeft(t, before)
}
