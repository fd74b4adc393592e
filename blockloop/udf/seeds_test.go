package udf

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* from mkudffs, udfclient
// and genisoimage images when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are
// committed; this is how they were made). FuzzOpen seeds are sparse
// encodings (see sparseImage) of whole images.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	mk := testkit.Tool(t, "mkudffs")
	uc := testkit.Tool(t, "udfclient")
	tree := writeTree(t, "t", map[string]string{
		"hello.txt":    "hello\n",
		"sub/deep.txt": "deep\n",
		"sub/x/":       "",
		"blocks.bin":   strings.Repeat("0123456789abcdef", 40),
		"café":         "c\n",
	})
	build := func(dir string, size int64, bs int, args ...string) []byte {
		img, err := buildUDF(mk, uc, t.TempDir(), dir, size, bs, args...)
		if err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	cutAfterLast := func(b []byte, bs int) []byte {
		last := len(b)/bs - 1
		for last > 0 && readkit.AllZero(b[last*bs:(last+1)*bs]) {
			last--
		}
		return b[:(last+1)*bs]
	}

	hd512 := build(tree, 16<<20, 512, "--media-type=hd", "--udfrev=2.01")
	writeSeed(t, "FuzzOpen", "hd-512-tree", readBytes(t, hd512))
	writeSeed(t, "FuzzOpen", "hd-2048-empty", readBytes(t, build("", 2<<20, 2048, "--media-type=hd", "--udfrev=1.50")))
	writeSeed(t, "FuzzOpen", "cdr-vat", readBytes(t, cutAfterLast(build("", 2<<20, 2048, "--media-type=cdr"), 2048)))
	writeSeed(t, "FuzzOpen", "cdrw-sparable", readBytes(t, build("", 4<<20, 2048, "--media-type=cdrw", "--sparspace=16")))
	iso, err := os.ReadFile(genisoimage(t, tree, "-udf", "-R", "-J", "-V", "SEED"))
	if err != nil {
		t.Fatal(err)
	}
	writeSeed(t, "FuzzOpen", "genisoimage", readBytes(t, iso))

	for name, img := range map[string][]byte{"hd-512": hd512, "genisoimage": iso} {
		f, err := Open(bytes.NewReader(img), int64(len(img)))
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range []string{"", "t", "sub", "t/sub"} {
			d, err := f.Lookup(p)
			if err != nil || !d.IsDir() {
				continue
			}
			data, err := f.readAll(d.dirICB)
			if err != nil {
				t.Fatal(err)
			}
			seed := "root"
			if p != "" {
				seed = strings.ReplaceAll(p, "/", "-")
			}
			writeSeed(t, "FuzzFID", name+"-"+seed, data)
		}
		for _, p := range []string{"t/blocks.bin", "blocks.bin"} {
			e, err := f.Lookup(p)
			if err != nil {
				continue
			}
			ic, err := f.readICB(e.icb)
			if err != nil {
				t.Fatal(err)
			}
			writeSeed(t, "FuzzAllocDescs", name+"-"+filepath.Base(p), ic.ads)
		}
	}
}

func writeSeed(t *testing.T, target, name string, data []byte) {
	t.Helper()
	dir := filepath.Join("testdata", "fuzz", target)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	body := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", data)
	if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// readBytes is the sparse encoding of only the bytes of img the reader
// reads when it opens and walks it: the seed of a real image without the
// parts no UDF reader looks at (space bitmaps, ISO 9660 structures).
func readBytes(t *testing.T, img []byte) []byte {
	t.Helper()
	tr := &tracingReader{r: bytes.NewReader(img), mask: make([]bool, len(img))}
	f, err := Open(tr, int64(len(img)))
	if err != nil {
		t.Fatal(err)
	}
	readkittest.Explore(f.FS())
	cut := make([]byte, len(img))
	for i, read := range tr.mask {
		if read {
			cut[i] = img[i]
		}
	}
	seed := encodeSparse(cut)
	s := decodeSparse(seed)
	if _, err := Open(s, s.size); err != nil {
		t.Fatalf("the seed does not open: %v", err)
	}
	return seed
}

type tracingReader struct {
	r    *bytes.Reader
	mask []bool
}

func (t *tracingReader) ReadAt(p []byte, off int64) (int, error) {
	n, err := t.r.ReadAt(p, off)
	for i := range n {
		t.mask[off+int64(i)] = true
	}
	return n, err
}
