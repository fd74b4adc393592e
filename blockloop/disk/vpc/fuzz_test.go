package vpc

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzOpen opens data as a VHD file (the parent of a differencing image is
// data again, made a dynamic image with the UUID the header names) and
// reads a few ranges of the virtual disk.
// Seeds are in testdata/fuzz/FuzzOpen (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/disk/vpc/
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		opts := Options{
			Open: func(string) (io.ReaderAt, int64, error) {
				p := append([]byte(nil), data...)
				if len(p) >= FooterSize+DynHeaderSize {
					binary.BigEndian.PutUint32(p[60:], TypeDynamic)
					copy(p[68:84], p[FooterSize+40:])
					sealFooter(p)
				}
				return bytes.NewReader(p), int64(len(p)), nil
			},
			Limits: Limits{MaxParentDepth: 3, MaxTableBytes: 1 << 20, MaxBlockSize: 1 << 20},
		}
		im, err := Open(bytes.NewReader(data), int64(len(data)), opts)
		if err != nil {
			return
		}
		_ = im.Info()
		disktest.ReadSome(t, im)
	})
}
