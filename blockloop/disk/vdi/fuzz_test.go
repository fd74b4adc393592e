package vdi

import (
	"bytes"
	"encoding/binary"
	"io"
	"runtime"
	"testing"
	"time"
)

// FuzzOpen opens data as a VDI file (the parent of a differencing image is
// data again, made a dynamic image) and reads a few ranges of the virtual
// disk.
// Seeds are in testdata/fuzz/FuzzOpen (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/disk/vdi/
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer watchdog()()
		opts := Options{
			Open: func(string) (io.ReaderAt, int64, error) {
				p := append([]byte(nil), data...)
				if len(p) >= 80 {
					binary.LittleEndian.PutUint32(p[76:], TypeDynamic)
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
		readSome(t, im)
	})
}

// readSome reads the start, the end, and a few ranges in between.
func readSome(t *testing.T, im *Image) {
	buf := make([]byte, 70000)
	size := im.Size()
	for _, off := range []int64{0, 4096, size / 3, size / 2, size - 65536, size - 1, size} {
		if off < 0 {
			continue
		}
		n, err := im.ReadAt(buf, off)
		if n < 0 || n > len(buf) {
			t.Fatalf("ReadAt returned %d", n)
		}
		if err == nil && n != len(buf) {
			t.Fatalf("ReadAt(%d at %d) = %d, nil", len(buf), off, n)
		}
	}
}

// watchdog panics (with every goroutine's stack) when a fuzz input takes
// over 5 s: the fuzzer then keeps it as a failing input.
func watchdog() func() {
	t := time.AfterFunc(5*time.Second, func() {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		panic("fuzz input took over 5s:\n" + string(buf[:n]))
	})
	return func() { t.Stop() }
}
