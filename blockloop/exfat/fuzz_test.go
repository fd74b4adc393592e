package exfat

import (
	"bytes"
	"encoding/binary"
	iofs "io/fs"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to the reader. Seeds are in
// testdata/fuzz/<target>/ (tiny mkfs.exfat images and the tests' builder:
// see TestWriteFuzzSeeds). Run one for a while with (a short
// -fuzzminimizetime: minimizing inputs of tens of KiB otherwise stalls the
// run):
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/exfat/

// fuzzFS is a volume (512-byte clusters) whose FAT, directory and cluster
// heap are all data, cluster 2 at byte 0, with no up-case table.
func fuzzFS(data []byte) *FS {
	n := int64(len(data))
	f := &FS{r: bytes.NewReader(data), size: n, lim: DefaultLimits.withDefaults(), loc: time.UTC}
	f.use(&bootSector{bytesPerSector: 512, clusterSize: 512, fatBytes: n, clusters: uint32(max(n/512, 1)), rootCluster: 2})
	f.root = &Entry{Name: "/", Mode: iofs.ModeDir | 0o755, Ino: RootIno, fs: f, isRoot: true,
		cluster: 2, dirExtents: []Extent{{Offset: 0, Length: n &^ 31}}}
	return f
}

// FuzzDirEntries lists data as a root directory whose FAT and clusters are
// data too (its up-case table entry too), then its subdirectories and files.
func FuzzDirEntries(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		readkittest.Explore(fuzzFS(data).FS())
	})
}

// FuzzOpen opens the image that data describes (see unsparse), and walks
// and reads all of it.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		img := unsparse(data)
		fs, err := Open(img, img.size)
		if err != nil {
			return
		}
		fs.Label()
		fs.Lookup("a/b/c")
		readkittest.Explore(fs.FS())
	})
}

// unsparse makes an image of data, a list of chunks: a 4-byte little-endian
// offset, a 2-byte length, the bytes; zeros elsewhere. The image is 1 MiB
// (the least exFAT allows), or up to the end of the last chunk, at most 16
// MiB. mkfs.exfat's images are mostly zeros: this keeps their seeds small.
func unsparse(data []byte) *sparseImage {
	img := &sparseImage{size: 1 << 20}
	for len(data) >= 6 {
		off := int64(binary.LittleEndian.Uint32(data)) % (16 << 20)
		n := int(binary.LittleEndian.Uint16(data[4:]))
		data = data[6:]
		n = min(n, len(data))
		img.chunks = append(img.chunks, chunk{off, data[:n]})
		img.size = max(img.size, off+int64(n))
		data = data[n:]
	}
	return img
}

// sparse is the inverse of unsparse: the non-zero parts of b (runs of fewer
// than 16 zeros kept).
func sparse(b []byte) []byte {
	var out []byte
	for i := 0; i < len(b); {
		if b[i] == 0 {
			i++
			continue
		}
		j, zeros := i, 0
		for j < len(b) && j-i < 0xFFFF && zeros < 16 {
			if b[j] == 0 {
				zeros++
			} else {
				zeros = 0
			}
			j++
		}
		end := j - zeros
		var h [6]byte
		binary.LittleEndian.PutUint32(h[:], uint32(i))
		binary.LittleEndian.PutUint16(h[4:], uint16(end-i))
		out = append(append(out, h[:]...), b[i:end]...)
		i = j
	}
	return out
}
