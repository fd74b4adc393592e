package vmdk

import (
	"bytes"
	"io"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzOpen opens data as a VMDK file (other files it names, extents and
// parents, are data again) and reads a few ranges of the virtual disk.
// Seeds are in testdata/fuzz/FuzzOpen (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/disk/vmdk/
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		opts := Options{
			Open: func(string) (io.ReaderAt, int64, error) {
				return bytes.NewReader(data), int64(len(data)), nil
			},
			Limits: Limits{MaxParentDepth: 3, MaxCacheBytes: 1 << 16, MaxTableBytes: 1 << 20, MaxGrainSize: 1 << 20},
		}
		im, err := Open(bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			return
		}
		_ = im.Info()
		disktest.ReadSome(t, im)
	})
}
