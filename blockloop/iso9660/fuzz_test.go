package iso9660

import (
	"bytes"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to each parsing layer. Seeds are in
// testdata/fuzz/<target>/ (cut from xorriso images: see TestWriteFuzzSeeds).
// Run one for a while with (a short -fuzzminimizetime: minimizing 2 KiB
// inputs otherwise stalls the run):
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 60s -fuzzminimizetime 2s ./blockloop/iso9660/

// fuzzImage is an image of data with nothing chosen yet; Rock Ridge on.
func fuzzImage(data []byte) *Image {
	return &Image{
		r: bytes.NewReader(data), size: int64(len(data)), lim: DefaultLimits.withDefaults(),
		tree: TreeRockRidge, root: &Entry{dirLBA: 1<<32 - 1},
	}
}

// FuzzDirRecord parses data as a directory extent at block 0 of an image
// made of data: records, SUSP/Rock Ridge (CE into data), multi-extent
// merging, then one level of subdirectories.
func FuzzDirRecord(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		for _, tree := range []Tree{TreeRockRidge, TreeJoliet, TreePlain} {
			img := fuzzImage(data)
			img.tree = tree
			d := &Entry{Mode: fs.ModeDir, img: img, dirSize: uint32(len(data))}
			kids, err := d.Entries()
			if err != nil {
				continue
			}
			for _, k := range kids {
				if k.IsDir() {
					k.Entries()
				}
				if k.Mode.IsRegular() {
					readSome(k)
				}
			}
		}
	})
}

// FuzzSUSP parses data as a system use area, in an image made of data
// (so that CE continuations land in it).
func FuzzSUSP(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		img := fuzzImage(data)
		fl := img.parseSUSP(data, 0)
		if fl.slLen > maxTargetLen+1 || len(fl.name) > maxNameLen {
			t.Fatalf("name %d / target %d bytes: over the caps", len(fl.name), fl.slLen)
		}
		_ = fl.target()
	})
}

// FuzzPathTable parses data as a path table, both kinds.
func FuzzPathTable(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		for _, j := range []bool{false, true} {
			pt, err := ParsePathTable(data, j, 1000)
			if err == nil {
				for i, e := range pt {
					if i > 0 && (e.Parent < 1 || e.Parent > i) {
						t.Fatalf("record %d: parent %d", i+1, e.Parent)
					}
				}
			}
		}
	})
}

// FuzzOpen opens data as an image whose first 16 sectors (the system area,
// never read) are left out, and walks and reads all of it, in every tree.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		r := &offsetReader{data: data, off: 16 * SectorSize}
		size := int64(len(data)) + 16*SectorSize
		for _, tree := range []Tree{TreeAuto, TreeJoliet, TreePlain} {
			img, err := OpenOptions(r, size, Options{Tree: tree})
			if err != nil {
				continue
			}
			img.Check()
			img.PathTable()
			readkittest.Explore(img.FS())
		}
	})
}

func readSome(e *Entry) {
	buf := make([]byte, 4096)
	r := e.ReaderAt()
	for off := int64(0); off < e.Size && off < 1<<20; off += 4096 {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return
		}
	}
}

// offsetReader is data preceded by off zero bytes.
type offsetReader struct {
	data []byte
	off  int64
}

func (r *offsetReader) ReadAt(p []byte, off int64) (int, error) {
	n := 0
	for n < len(p) && off < r.off {
		p[n] = 0
		n++
		off++
	}
	if n == len(p) {
		return n, nil
	}
	if off-r.off >= int64(len(r.data)) {
		return n, io.EOF
	}
	m := copy(p[n:], r.data[off-r.off:])
	if n+m < len(p) {
		return n + m, io.EOF
	}
	return n + m, nil
}
