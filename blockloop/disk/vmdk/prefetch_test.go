package vmdk

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"testing"
	"time"

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
			pieces := []int{16 << 10, 512 << 10, 5000, 4096, 64 << 10, 1 << 20}
			errs := make(chan error, len(pieces)+2)
			read := func(piece int, next func() int64) {
				buf := make([]byte, piece)
				for {
					off := next()
					if off >= im.Size() {
						errs <- nil
						return
					}
					n, err := im.ReadAt(buf, off)
					if err != nil && n != int(im.Size()-off) {
						errs <- fmt.Errorf("read of %d at %d: %v", piece, off, err)
						return
					}
					if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
						errs <- fmt.Errorf("read of %d at %d differs", piece, off)
						return
					}
				}
			}
			for _, piece := range pieces {
				off := int64(-piece)
				go read(piece, func() int64 { off += int64(piece); return off })
			}
			// Two goroutines taking turns on one stream.
			next := make(chan int64, 1)
			next <- 0
			shared := func() int64 {
				o := <-next
				next <- o + 16<<10
				return o
			}
			go read(16<<10, shared)
			go read(16<<10, shared)
			for range len(pieces) + 2 {
				if err := <-errs; err != nil {
					t.Error(err)
				}
			}
		})
	}
	// The decompression ahead stops with the reads.
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running (%d before)", n, before)
	}
}
