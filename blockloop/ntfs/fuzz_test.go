package ntfs

import (
	"bytes"
	"encoding/binary"
	"io"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to the reader. Seeds are in
// testdata/fuzz/<target>/ (from a tiny mkntfs image filled through
// ntfs-3g: see TestWriteFuzzSeeds). Run one for a while with:
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 30s -fuzzminimizetime 2s -parallel 1 ./blockloop/ntfs/

// padTo is the size of the images FuzzOpen makes.
const padTo = 3 << 19

// unpack makes a padTo-byte image of zeros from data, a sparse image:
// pieces of a 4-byte offset (modulo padTo), a 2-byte length and the bytes.
// An NTFS volume is mostly zeros between its structures; so its seed is
// small and the fuzzer moves and resizes the pieces too.
func unpack(data []byte) []byte {
	img := make([]byte, padTo)
	for len(data) >= 6 {
		off := int(binary.LittleEndian.Uint32(data) % padTo)
		n := min(int(binary.LittleEndian.Uint16(data[4:])), len(data)-6)
		copy(img[off:], data[6:6+n])
		data = data[6+n:]
	}
	return img
}

// pack is unpack's inverse for the seeds: the runs of non-zero sectors.
func pack(img []byte) []byte {
	var out []byte
	for s := 0; s < len(img); s += 512 {
		if !bytes.ContainsFunc(img[s:s+512], func(r rune) bool { return r != 0 }) {
			continue
		}
		e := s + 512
		for e < len(img) && e-s < 32<<10 && bytes.ContainsFunc(img[e:e+512], func(r rune) bool { return r != 0 }) {
			e += 512
		}
		out = binary.LittleEndian.AppendUint32(out, uint32(s))
		out = binary.LittleEndian.AppendUint16(out, uint16(e-s))
		out = append(out, img[s:e]...)
		s = e - 512
	}
	return out
}

// FuzzOpen opens data, a sparse image (see unpack), and walks and reads
// all of it.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		img := unpack(data)
		fs, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			return
		}
		fs.Info()
		walkAll(fs.Root())
		readkittest.Explore(fs.FS())
	})
}

// FuzzRunList decodes data as a run list and reads a 64-cluster stream
// over it, plain and compressed, on a volume of 64 clusters of 512 bytes.
func FuzzRunList(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, compressed bool) {
		defer testkit.Watchdog(t, 5*time.Second)()
		runs, err := decodeRuns(data, 0, 1000)
		if err != nil {
			return
		}
		vol := bytes.Repeat([]byte{0x12, 0x34}, 64*256)
		fs := &FS{r: bytes.NewReader(vol), size: int64(len(vol)), clusterSize: 512, clusters: 64, lim: DefaultLimits}
		n := runsLen(runs)
		a := &attr{typ: atData, runs: runs, highVCN: n - 1, allocSize: n * 512, dataSize: n * 512, initSize: n * 512}
		if compressed {
			a.flags, a.compUnit = afCompressed, 4
		}
		s, err := fs.newStream(a)
		if err != nil {
			return
		}
		s.extents()
		buf := make([]byte, 4096)
		for off := int64(0); off < min(s.size, 1<<20); off += 4096 {
			s.ReadAt(buf, off)
		}
	})
}

// FuzzLZNT1 decompresses data into a 64 KiB unit.
func FuzzLZNT1(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		dst := make([]byte, 64<<10)
		decompressLZNT1(dst, data)
	})
}

// walkAll lists every directory under e, looks each entry up by name,
// reads its streams and the first MiB of every file.
func walkAll(e *Entry) {
	stack := []*Entry{e}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids, _ := d.Entries()
		for _, k := range kids {
			d.Child(k.Name)
			for _, s := range k.Streams {
				if r, n, err := k.Stream(s); err == nil {
					io.Copy(io.Discard, io.NewSectionReader(r, 0, min(n, 1<<20)))
				}
			}
			if k.IsDir() {
				stack = append(stack, k)
			} else {
				io.Copy(io.Discard, io.NewSectionReader(k.ReaderAt(), 0, min(k.Size, 1<<20)))
			}
		}
	}
}
