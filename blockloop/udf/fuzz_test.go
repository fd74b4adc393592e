package udf

import (
	"bytes"
	"encoding/binary"
	"io"
	"io/fs"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to each parsing layer. Seeds are in
// testdata/fuzz/<target>/ (cut from mkudffs, udfclient and genisoimage
// images: see TestWriteFuzzSeeds). Run one for a while with:
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 60s -parallel 1 ./blockloop/udf/

// sparseImage is a fuzz input read as an image: a 4-byte little-endian
// image size (at most 64 MiB), then records of a 4-byte byte offset, a
// 2-byte length and that many bytes; the rest of the image is zeros. Real
// images are mostly zeros: their seeds stay small.
type sparseImage struct {
	size   int64
	chunks []sparseChunk
}

type sparseChunk struct {
	off  int64
	data []byte
}

func decodeSparse(data []byte) *sparseImage {
	s := &sparseImage{}
	if len(data) < 4 {
		return s
	}
	s.size = int64(binary.LittleEndian.Uint32(data)) % (64<<20 + 1)
	for p := 4; p+6 <= len(data); {
		off := int64(binary.LittleEndian.Uint32(data[p:]))
		n := int(binary.LittleEndian.Uint16(data[p+4:]))
		p += 6
		n = min(n, len(data)-p)
		s.chunks = append(s.chunks, sparseChunk{off, data[p : p+n]})
		p += n
	}
	return s
}

// encodeSparse encodes an image as a sparseImage: its runs of bytes
// between runs of 16 zero bytes or more.
func encodeSparse(img []byte) []byte {
	out := binary.LittleEndian.AppendUint32(nil, uint32(len(img)))
	for pos := 0; pos < len(img); {
		for pos < len(img) && img[pos] == 0 {
			pos++
		}
		if pos == len(img) {
			break
		}
		end, zeros := pos, 0
		for end < len(img) && end-pos < 0xFFFF && zeros < 16 {
			if img[end] == 0 {
				zeros++
			} else {
				zeros = 0
			}
			end++
		}
		run := bytes.TrimRight(img[pos:end], "\x00")
		out = binary.LittleEndian.AppendUint32(out, uint32(pos))
		out = binary.LittleEndian.AppendUint16(out, uint16(len(run)))
		out = append(out, run...)
		pos = end
	}
	return out
}

func (s *sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	for _, c := range s.chunks {
		if c.off >= off+int64(n) || c.off+int64(len(c.data)) <= off {
			continue
		}
		lo := max(c.off, off)
		hi := min(c.off+int64(len(c.data)), off+int64(n))
		copy(p[lo-off:hi-off], c.data[lo-c.off:hi-c.off])
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// fixTag recomputes the checksum and CRC of a descriptor at the start of
// b (its CRC length cut to b), so that mutations inside descriptors are
// not all refused by their tag: the fuzzer reaches what they mean.
func fixTag(b []byte) {
	if len(b) < tagSize {
		return
	}
	n := min(int(binary.LittleEndian.Uint16(b[10:])), len(b)-tagSize)
	binary.LittleEndian.PutUint16(b[10:], uint16(n))
	binary.LittleEndian.PutUint16(b[8:], crc16(b[tagSize:tagSize+n]))
	var s byte
	for i := 0; i < tagSize; i++ {
		if i != 4 {
			s += b[i]
		}
	}
	b[4] = s
}

// FuzzOpen opens a sparse image (see sparseImage) and walks and reads all
// of it; then again with the tags of the descriptors starting its chunks
// fixed.
func FuzzOpen(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		openAll(decodeSparse(data))
		fixed := decodeSparse(bytes.Clone(data))
		for _, c := range fixed.chunks {
			if c.off%512 == 0 {
				fixTag(c.data)
			}
		}
		openAll(fixed)
	})
}

func openAll(img *sparseImage) {
	{
		Detect(img, img.size)
		for _, unhide := range []bool{false, true} {
			fsys, err := OpenOptions(img, img.size, Options{Unhide: unhide})
			if err != nil {
				continue
			}
			fsys.Label()
			fsys.Lookup("a/b/c")
			readkittest.Explore(fsys.FS())
		}
	}
}

// fuzzFS is a volume of 512-byte blocks whose image is data and whose one
// physical partition starts at block 0.
func fuzzFS(data []byte) *FS {
	f := &FS{r: bytes.NewReader(data), size: int64(len(data)), lim: DefaultLimits.withDefaults(), bs: 512}
	f.parts = []*partition{{kind: partPhysical, length: uint32(len(data) / 512)}}
	f.nmaps = 1
	f.root = &Entry{Name: "/", Mode: fs.ModeDir, fs: f, icb: lbAddr{lbn: 1 << 31}}
	return f
}

// FuzzFID lists data as a directory's data (the file identifiers) in an
// image made of data (so that the ICBs they name land in it), then one
// level of subdirectories, and reads the files.
func FuzzFID(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		listFuzz(t, data)
		// Again with the identifiers' tags fixed, and the tags of the
		// blocks of the image.
		fixed := bytes.Clone(data)
		for pos := 0; pos+38 <= len(fixed); {
			n := (38 + int(binary.LittleEndian.Uint16(fixed[pos+36:])) + int(fixed[pos+19]) + 3) &^ 3
			if pos+n > len(fixed) {
				break
			}
			binary.LittleEndian.PutUint16(fixed[pos+10:], uint16(n-tagSize))
			fixTag(fixed[pos : pos+n])
			pos += n
		}
		listFuzz(t, fixed)
	})
}

func listFuzz(t *testing.T, data []byte) {
	{
		fsys := fuzzFS(data)
		d := &Entry{Name: "d", Mode: fs.ModeDir, fs: fsys, icb: lbAddr{lbn: 1<<31 + 1},
			dirICB: &icb{size: int64(len(data)), adType: adEmbedded, ads: data}}
		kids, err := d.Entries()
		if err != nil {
			return
		}
		seen := map[string]bool{}
		for _, k := range kids {
			if seen[k.Name] || k.Name == "" || bytes.ContainsAny([]byte(k.Name), "/\x00") {
				t.Fatalf("bad or repeated name %q", k.Name)
			}
			seen[k.Name] = true
			if k.IsDir() {
				k.Entries()
			}
			readSome(k)
		}
	}
}

// FuzzAllocDescs reads data as allocation descriptors of each type, in an
// image made of data (so that allocation extent descriptors land in it),
// and checks that the extents cover the file exactly.
func FuzzAllocDescs(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		fsys := fuzzFS(data)
		for _, size := range []int64{int64(len(data)), 1 << 40} {
			for adType := adShort; adType <= adExt; adType++ {
				ic := &icb{size: size, adType: adType, ads: data}
				exts, err := fsys.fileExtents(ic)
				if err != nil {
					continue
				}
				var total int64
				for _, x := range exts {
					if x.Length <= 0 || !x.Zero && !fsys.inImage(x.Offset, x.Length) {
						t.Fatalf("extent %+v of a %d-byte image", x, len(data))
					}
					total += x.Length
				}
				if total != size {
					t.Fatalf("extents cover %d bytes of %d", total, size)
				}
			}
		}
		symlinkTarget(data, 0)
	})
}

func readSome(e *Entry) {
	e.UnixMode()
	if !e.Mode.IsRegular() {
		return
	}
	buf := make([]byte, 4096)
	r := e.ReaderAt()
	for off := int64(0); off < e.Size && off < 1<<20; off += 4096 {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return
		}
	}
	r.ReadAt(buf, e.Size-10)
}
