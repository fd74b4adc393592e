package qcow2

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// The fuzz targets feed hostile bytes to each decoding layer. Seeds are in
// testdata/fuzz/<target>/, cut from tiny qemu-img images (see
// TestWriteFuzzSeeds). Run one for a while with:
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 60s -parallel 1 ./blockloop/disk/qcow2/

// fuzzLimits keep a hostile image cheap.
var fuzzLimits = Limits{MaxL1Entries: 1 << 16, MaxCacheBytes: 1 << 20, MaxClusterCacheBytes: 1 << 20}

// FuzzOpen opens data as a whole image (with a 4 KiB backing file of 0x5a
// bytes) and reads a few ranges two ways, checking them against Map.
func FuzzOpen(f *testing.F) {
	backing := bytes.Repeat([]byte{0x5a}, 4096)
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		im, err := Open(bytes.NewReader(data), int64(len(data)), Options{
			Backing: func(name, format string) (io.ReaderAt, int64, error) {
				return bytes.NewReader(backing), int64(len(backing)), nil
			},
			Limits: fuzzLimits,
		})
		if err != nil {
			var fe *FormatError
			if !errors.As(err, &fe) && !errors.Is(err, ErrNotQcow2) && !errors.Is(err, errors.ErrUnsupported) && !errors.Is(err, io.ErrUnexpectedEOF) {
				t.Fatalf("Open: unexpected error %v", err)
			}
			return
		}
		size := im.Size()
		for _, r := range [][2]int64{{0, 64 << 10}, {size - 5000, 5000}, {size / 2, 70000}} {
			off, n := max(r[0], 0), min(r[1], size-max(r[0], 0))
			if n <= 0 {
				continue
			}
			whole := make([]byte, n)
			if _, err := im.ReadAt(whole, off); err != nil && err != io.EOF {
				continue
			}
			// Piecewise, through the caches, must agree.
			piece := make([]byte, n)
			for p := int64(0); p < n; p += 777 {
				if _, err := im.ReadAt(piece[p:min(p+777, n)], off+p); err != nil && err != io.EOF {
					t.Fatalf("piecewise read at %d failed after the whole read worked: %v", off+p, err)
				}
			}
			if !bytes.Equal(whole, piece) {
				t.Fatalf("whole and piecewise reads at %d differ", off)
			}
			ms, err := im.Map(off, n)
			if err != nil {
				t.Fatalf("Map failed after ReadAt worked: %v", err)
			}
			pos := off
			for _, m := range ms {
				if m.Off != pos || m.Len <= 0 || m.Off+m.Len > off+n {
					t.Fatalf("Map: %+v at %d", m, pos)
				}
				b := whole[m.Off-off : m.Off-off+m.Len]
				switch m.Kind {
				case Zero:
					if bytes.ContainsFunc(b, func(r rune) bool { return r != 0 }) {
						t.Fatalf("Zero mapping %+v reads non-zero", m)
					}
				case Backing:
					if bytes.ContainsFunc(b, func(r rune) bool { return r != 0x5a }) {
						t.Fatalf("Backing mapping %+v does not read the backing file", m)
					}
				}
				pos += m.Len
			}
			if pos != off+n {
				t.Fatalf("Map covers [%d, %d) of [%d, %d)", off, pos, off, off+n)
			}
		}
	})
}

// FuzzL2Entry decodes one L2 entry (and bitmap) for a byte of its
// cluster, for any cluster size, with and without extended L2 entries.
func FuzzL2Entry(f *testing.F) {
	f.Fuzz(func(t *testing.T, e, bitmap uint64, clusterBits uint8, ext bool, in uint32) {
		cb := uint(9 + clusterBits%13)
		if ext && cb < 14 {
			cb = 14
		}
		g := newGeom(cb, ext)
		cs := g.clusterSize
		off := int64(in) % cs
		s, why := g.decodeL2(e, bitmap, off)
		if why != "" {
			return
		}
		if s.n <= 0 || off+s.n > cs {
			t.Fatalf("segment %+v for byte %d of a %d-byte cluster", s, off, cs)
		}
		switch s.kind {
		case Data:
			if (s.host-off)%cs != 0 || s.host-off <= 0 {
				t.Fatalf("data at %#x for byte %d: cluster not aligned", s.host, off)
			}
		case Compressed:
			if s.clen <= 0 || s.clen > 2*cs || s.host < 0 || s.n != cs-off {
				t.Fatalf("compressed %+v", s)
			}
		case Zero, Backing:
		default:
			t.Fatalf("kind %v", s.kind)
		}
		if ext && s.kind != Compressed && (off+s.n)%(cs/32) != 0 {
			t.Fatalf("segment %+v does not end on a subcluster", s)
		}
	})
}

// FuzzHeader decodes data as the first cluster of an image: the header,
// the header extensions and the backing file name.
func FuzzHeader(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		h, err := decodeHeader(data, int64(len(data)))
		if err != nil {
			return
		}
		cs := 1 << h.clusterBits
		if err := h.decodeExtensions(data[:min(len(data), cs)]); err != nil {
			return
		}
		if len(h.backingFile) > maxBackingName || len(h.backingFormat) > maxBackingFmt || h.headerLen < v2HeaderLen {
			t.Fatalf("header %+v", h)
		}
	})
}

// TestFuzzSeedsOpen: the FuzzOpen seeds are images the reader opens and
// reads (so the fuzzer starts from the paths that matter).
func TestFuzzSeedsOpen(t *testing.T) {
	files, _ := filepath.Glob("testdata/fuzz/FuzzOpen/*")
	if len(files) == 0 {
		t.Fatal("no FuzzOpen seeds")
	}
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.SplitN(string(b), "\n", 3)
		q, ok := strings.CutPrefix(strings.TrimSuffix(lines[1], ")"), "[]byte(")
		data, err := strconv.Unquote(q)
		if !ok || err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		im, err := Open(strings.NewReader(data), int64(len(data)), Options{
			Backing: func(name, format string) (io.ReaderAt, int64, error) { return strings.NewReader("ZZZZ"), 4, nil },
		})
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		buf := make([]byte, im.Size())
		if _, err := im.ReadAt(buf, 0); err != nil {
			t.Errorf("%s: %v", p, err)
		}
		if !bytes.ContainsFunc(buf, func(r rune) bool { return r != 0 }) {
			t.Errorf("%s: reads as zeros", p)
		}
	}
}
