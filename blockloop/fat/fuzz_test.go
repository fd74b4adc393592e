package fat

import (
	"bytes"
	iofs "io/fs"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to the reader. Seeds are in
// testdata/fuzz/<target>/ (tiny mkfs.vfat images: see TestWriteFuzzSeeds).
// Run one for a while with (a short -fuzzminimizetime: minimizing inputs
// of tens of KiB otherwise stalls the run):
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/fat/

// fuzzFS is a FAT16 volume whose FAT, root directory and data area are all
// data: clusters of 512 bytes, cluster 2 at byte 0.
func fuzzFS(data []byte) *FS {
	n := int64(len(data))
	f := &FS{r: bytes.NewReader(data), size: n, lim: DefaultLimits.withDefaults(), loc: time.UTC}
	f.use(&bpb{
		bits: 16, bytesPerSector: 512, clusterSize: 512,
		fatBytes: n, rootSize: n &^ 31, clusters: uint32(max(n/512, 1)),
	})
	f.root = &Entry{Name: "/", Mode: 0o755 | iofs.ModeDir, Ino: RootIno, fs: f, isRoot: true,
		dirExtents: []Extent{{Offset: 0, Length: n &^ 31}}}
	return f
}

// FuzzDirEntries lists data as a FAT16 root directory whose FAT and data
// clusters are data too, then its subdirectories and files.
func FuzzDirEntries(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		readkittest.Explore(fuzzFS(data).FS())
	})
}

// padTo is the size of the images FuzzOpen makes: data then zeros.
const padTo = 2 << 20

// FuzzOpen opens data, padded with zeros to 2 MiB, as an image, and walks
// and reads all of it.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		size := max(int64(len(data)), padTo)
		fs, err := Open(&zeroPadded{data}, size)
		if err != nil {
			return
		}
		fs.Label()
		fs.Lookup("a/b/c")
		readkittest.Explore(fs.FS())
	})
}

// zeroPadded is data followed by zeros.
type zeroPadded struct{ data []byte }

func (z *zeroPadded) ReadAt(p []byte, off int64) (int, error) {
	for i := range p {
		if o := off + int64(i); o < int64(len(z.data)) {
			p[i] = z.data[o]
		} else {
			p[i] = 0
		}
	}
	return len(p), nil
}
