package vhdx

import (
	"bytes"
	"encoding/binary"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzOpen opens data as a VHDX file and reads a few ranges of the virtual
// disk. The parent of a differencing disk is the dynamic seed (the
// differencing seed was made from it).
//
// A VHDX file is at least a few MiB, mostly zeros (regions are 1 MiB
// aligned), so data is the file run-length encoded (see rle): runs of
// zeros and literal bytes. Seeds are qemu-img images encoded so, in
// testdata/fuzz/FuzzOpen (see TestWriteFuzzSeeds). Run with
//
//	go test -run '^$' -fuzz FuzzOpen -fuzztime 45s -fuzzminimizetime 2s -parallel 1 ./blockloop/disk/vhdx/
func FuzzOpen(f *testing.F) {
	parent := decodeRLE(readSeed(f, "dynamic"))
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		r := decodeRLE(data)
		opts := Options{
			Open: func(string) (io.ReaderAt, int64, error) {
				return parent, parent.size, nil
			},
			Limits: Limits{MaxParentDepth: 3, MaxTableBytes: 4 << 20},
		}
		im, err := Open(r, r.size, opts)
		if err != nil {
			return
		}
		_ = im.Info()
		disktest.ReadSome(t, im)
	})
}

// readSeed reads a seed file of testdata/fuzz/FuzzOpen.
func readSeed(f *testing.F, name string) []byte {
	b, err := os.ReadFile(filepath.Join("testdata", "fuzz", "FuzzOpen", name))
	if err != nil {
		f.Fatal(err)
	}
	_, q, ok := strings.Cut(strings.TrimSpace(string(b)), "[]byte(")
	if !ok || !strings.HasSuffix(q, ")") {
		f.Fatalf("seed %s: not a []byte corpus file", name)
	}
	s, err := strconv.Unquote(strings.TrimSuffix(q, ")"))
	if err != nil {
		f.Fatalf("seed %s: %v", name, err)
	}
	return []byte(s)
}

// rleReader is a file made of literal segments with zeros between them.
type rleReader struct {
	segs []rleSeg
	size int64
}

type rleSeg struct {
	off int64
	b   []byte
}

// encodeRLE encodes b as records (uvarint zero-run length, uvarint
// literal length, literal bytes); zero runs shorter than 32 stay literal.
func encodeRLE(b []byte) []byte {
	var out []byte
	for len(b) > 0 {
		z := 0
		for z < len(b) && b[z] == 0 {
			z++
		}
		lit := z
		for lit < len(b) {
			if b[lit] != 0 {
				lit++
				continue
			}
			n := 0
			for lit+n < len(b) && b[lit+n] == 0 && n < 32 {
				n++
			}
			if n == 32 || lit+n == len(b) {
				break
			}
			lit += n
		}
		out = binary.AppendUvarint(out, uint64(z))
		out = binary.AppendUvarint(out, uint64(lit-z))
		out = append(out, b[z:lit]...)
		b = b[lit:]
	}
	return out
}

// decodeRLE reads what encodeRLE writes; a malformed tail is dropped, and
// the file is at most 1 TiB.
func decodeRLE(d []byte) *rleReader {
	r := &rleReader{}
	for len(d) > 0 {
		z, n := binary.Uvarint(d)
		if n <= 0 {
			break
		}
		d = d[n:]
		l, n := binary.Uvarint(d)
		if n <= 0 || l > uint64(len(d)-n) || z > 1<<40 || r.size+int64(z) > 1<<40 {
			break
		}
		d = d[n:]
		r.size += int64(z)
		if l > 0 {
			r.segs = append(r.segs, rleSeg{r.size, d[:l]})
		}
		r.size += int64(l)
		d = d[l:]
	}
	return r
}

func (r *rleReader) ReadAt(p []byte, off int64) (int, error) {
	if off >= r.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if int64(n) > r.size-off {
		n, err = int(r.size-off), io.EOF
	}
	clear(p[:n])
	i := sort.Search(len(r.segs), func(i int) bool { return r.segs[i].off+int64(len(r.segs[i].b)) > off })
	for ; i < len(r.segs) && r.segs[i].off < off+int64(n); i++ {
		s := r.segs[i]
		if s.off >= off {
			copy(p[s.off-off:n], s.b)
		} else {
			copy(p[:n], s.b[off-s.off:])
		}
	}
	return n, err
}

func TestRLE(t *testing.T) {
	b := make([]byte, 300000)
	copy(b[5:], "abc")
	copy(b[100:], bytes.Repeat([]byte{1, 0, 0}, 40))
	copy(b[200000:], "end\x00\x00x")
	r := decodeRLE(encodeRLE(b))
	if r.size != int64(len(b)) {
		t.Fatalf("size %d", r.size)
	}
	got := make([]byte, len(b))
	for off := 0; off < len(b); off += 777 {
		r.ReadAt(got[off:min(off+777, len(b))], int64(off))
	}
	if !bytes.Equal(got, b) {
		t.Fatal("RLE round trip")
	}
}
