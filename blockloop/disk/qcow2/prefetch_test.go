package qcow2_test

import (
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestConcurrentSequential reads compressed images sequentially from
// several goroutines at once (each its own stream, in pieces of its own
// size, and pairs of goroutines sharing one stream), with default and
// tiny caches, so that the decompression ahead runs against the reads;
// then checks that no prefetch goroutine is left.
func TestConcurrentSequential(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir)
	want, _ := os.ReadFile(src)
	before := runtime.NumGoroutine()
	for _, c := range []struct {
		name, opts string
		lim        qcow2.Limits
	}{
		{"zlib-64K", "cluster_size=65536", qcow2.Limits{}},
		{"zlib-4K-tiny", "cluster_size=4096", qcow2.Limits{MaxCacheBytes: 8192, MaxClusterCacheBytes: 4 * 4096}},
		{"zstd-4K", "cluster_size=4096,compression_type=zstd", qcow2.Limits{MaxClusterCacheBytes: 64 << 10}},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".qcow2")
			testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", c.opts, src, img)
			f, err := os.Open(img)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			st, _ := f.Stat()
			im, err := qcow2.Open(f, st.Size(), qcow2.Options{Limits: c.lim})
			if err != nil {
				t.Fatal(err)
			}
			disktest.ReadConcurrently(t, im, want)
		})
	}
	// The decompression ahead stops with the reads.
	disktest.NoGoroutinesLeft(t, before)
}
