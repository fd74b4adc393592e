package udf

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"unicode/utf8"

	"github.com/loops-cli/loops/blockloop/readkit"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// richTree is a source tree with what a reader gets wrong: unicode and
// long names, empty files, a deep tree, a directory of 320 entries (its
// identifiers straddle blocks), a hard link and a symlink.
func richTree(t testing.TB) string {
	t.Helper()
	files := map[string]string{
		"hello.txt":       "hello\n",
		"empty":           "",
		"unicodé 日本語.txt": "unicode\n",
		"sub/deeper/a/b/c/d/e/f/g/h/i/j/deep.txt": "deep\n",
		"sub/empty-dir/":                    "",
		"sub/" + strings.Repeat("long", 16): "long name\n",
		"link":                              "->hello.txt",
		"data.bin":                          strings.Repeat("0123456789abcdef", 20000) + "tail",
	}
	for i := range 320 {
		files[fmt.Sprintf("many/file-with-a-longish-name-%03d.txt", i)] = fmt.Sprintf("%d\n", i)
	}
	src := writeTree(t, "src", files)
	if err := os.Link(filepath.Join(src, "hello.txt"), filepath.Join(src, "sub/hard")); err != nil {
		t.Fatal(err)
	}
	return src
}

// TestGenisoimage reads a UDF 1.02 bridge image made by genisoimage, file
// by file against the source tree and against 7-Zip's extraction.
func TestGenisoimage(t *testing.T) {
	src := richTree(t)
	iso := genisoimage(t, src, "-udf", "-R", "-J", "-V", "UDF BRIDGE")
	f := openImage(t, iso, Options{})
	if f.Label() != "UDF BRIDGE" || f.Revision() != 0x0102 || f.BlockSize() != 2048 || f.Size() == 0 {
		t.Errorf("label %q revision %#x block size %d", f.Label(), f.Revision(), f.BlockSize())
	}
	if r := f.Recognition(); !r.ISO9660 || r.NSR != 2 || r.String() != "CD001,CD001,CD001,BEA01,NSR02,TEA01" {
		t.Errorf("recognition %+v", r)
	}
	got := walkFS(t, f)
	want := walkSource(t, src)
	for p, in := range want {
		if in.Mode&fs.ModeSymlink != 0 { // genisoimage's UDF tree has no symlinks
			want[p] = readkittest.Info{SHA256: readkittest.Sum(nil)}
		}
		if in.Mode.IsDir() {
			in.Size = 0
			want[p] = in
		}
	}
	readkittest.Compare(t, want, got, readkittest.Fields{})
	readkittest.Compare(t, walkSource(t, extract7z(t, iso)), got, readkittest.Fields{})

	many, err := f.Lookup("/many")
	if err != nil {
		t.Fatal(err)
	}
	if kids, _ := many.Entries(); len(kids) != 320 || many.Size <= 2048 {
		t.Errorf("many: %d entries, %d bytes", len(kids), many.Size)
	}
	e, err := f.Lookup("unicodé 日本語.txt")
	if err != nil || e.Size != 8 || !e.Mode.IsRegular() || e.UnixMode() != 0o100444 {
		t.Errorf("unicode name: %v %+v", err, e)
	}
	if e.OwnerSet || e.ModTime.IsZero() {
		t.Errorf("unicode name: owner set %v, mtime %v", e.OwnerSet, e.ModTime)
	}
	if _, err := f.Lookup("sub/nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup of a missing file: %v", err)
	}
	if _, err := f.Lookup("hello.txt/x"); err == nil {
		t.Error("lookup through a file succeeded")
	}
	if r, err := f.Lookup("/"); err != nil || r != f.Root() || r.UnixMode()&0o170000 != 0o040000 {
		t.Errorf("root: %v %v", r, err)
	}
	// Reads past the end and across extents.
	d, _ := f.Lookup("data.bin")
	buf := make([]byte, 10)
	if n, err := d.ReaderAt().ReadAt(buf, d.Size-4); n != 4 || err != io.EOF || string(buf[:4]) != "tail" {
		t.Errorf("read at the end: %d %v %q", n, err, buf[:n])
	}
	if n, err := d.ReaderAt().ReadAt(buf, d.Size); n != 0 || err != io.EOF {
		t.Errorf("read past the end: %d %v", n, err)
	}
}

// udfclientTree is the tree copied with udfclient: it follows symlinks and
// makes no hard links, so there are none. udfclient writes names as 8-bit
// CS0 bytes, UTF-8 bytes included: such a name reads back as Latin-1.
func udfclientTree(t testing.TB, tmp string) (string, readkittest.Tree) {
	t.Helper()
	files := map[string]string{
		"hello.txt":         "hello\n",
		"empty":             "",
		"café.txt":          "latin\n",
		"sub/x/deep.txt":    "deep\n",
		"sub/small.bin":     strings.Repeat("\x00\x01", 50),
		"sub/empty-dir/":    "",
		"big.bin":           string(bytes.Repeat([]byte("0123456789abcdefghijklmnopqrstu\n"), 100000)),
		"a/b/c/d/e/f/g/h/i": "nine deep\n",
	}
	dir := writeTreeIn(t, tmp, "t", files)
	os.Chmod(filepath.Join(dir, "hello.txt"), 0o750)
	os.Chmod(filepath.Join(dir, "sub"), 0o700)
	want := readkittest.Tree{}
	for p, in := range walkSource(t, dir) {
		if in.Mode.IsDir() {
			in.Size = 0
		}
		want["t/"+latin1(p)] = in
	}
	want["t"] = readkittest.Info{Mode: fs.ModeDir | 0o755}
	return dir, want
}

// latin1 is what a reader shows for UTF-8 bytes written as 8-bit CS0.
func latin1(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		b.WriteRune(rune(s[i]))
	}
	if !utf8.ValidString(b.String()) {
		panic(s)
	}
	return b.String()
}

// udfclientCase is an image made by mkudffs and filled by udfclient with
// udfclientTree.
type udfclientCase struct {
	name   string
	size   int64
	bs     int
	rev    uint16
	args   []string
	sevenZ bool // 7-Zip reads it too
}

// udfclientCases cover each block size udfclient writes, revision, allocation descriptor
// and media type (cdrw has a sparable partition). udfclient runs out of
// space at 4096-byte blocks in 64 MiB; the images are sparse.
var udfclientCases = []udfclientCase{
	{"hd-2048-2.01", 64 << 20, 2048, 0x0201, []string{"--media-type=hd", "--udfrev=2.01"}, true},
	{"hd-4096-2.01", 256 << 20, 4096, 0x0201, []string{"--media-type=hd", "--udfrev=2.01"}, false},
	{"hd-512-1.02", 64 << 20, 512, 0x0102, []string{"--media-type=hd", "--udfrev=1.02"}, true},
	// 1 KiB and 8 KiB blocks: 7-Zip reads neither (it tries 512, 2048 and
	// 4096), blkid names the first; udfclient wrote and reads both.
	{"hd-1024-2.01", 128 << 20, 1024, 0x0201, []string{"--media-type=hd", "--udfrev=2.01"}, false},
	{"hd-8192-2.01", 512 << 20, 8192, 0x0201, []string{"--media-type=hd", "--udfrev=2.01"}, false},
	{"hd-2048-1.50-short", 64 << 20, 2048, 0x0150, []string{"--media-type=hd", "--udfrev=1.50", "--ad=short"}, true},
	{"hd-2048-2.01-long-noefe", 64 << 20, 2048, 0x0201, []string{"--media-type=hd", "--udfrev=2.01", "--ad=long", "--noefe"}, true},
	{"cdrw-2048-1.50", 64 << 20, 2048, 0x0150, []string{"--media-type=cdrw", "--udfrev=1.50"}, false},
	{"cdrw-2048-2.01", 64 << 20, 2048, 0x0201, []string{"--media-type=cdrw", "--udfrev=2.01"}, false},
}

// fixtures are the udfclient images, made once for all the tests (in
// parallel) and removed by TestMain.
var fixtures struct {
	once sync.Once
	dir  string
	imgs map[string]string
	want readkittest.Tree
	err  error
}

// udfclientImages returns the images of udfclientCases by name, and what
// they hold.
func udfclientImages(t testing.TB) (map[string]string, readkittest.Tree) {
	t.Helper()
	mk := testkit.Tool(t, "mkudffs")
	uc := testkit.Tool(t, "udfclient")
	fixtures.once.Do(func() {
		fixtures.dir, fixtures.err = os.MkdirTemp("", "udf-fixtures-")
		if fixtures.err != nil {
			return
		}
		dir, want := udfclientTree(t, fixtures.dir)
		fixtures.want = want
		fixtures.imgs = map[string]string{}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for _, tc := range udfclientCases {
			tmp := filepath.Join(fixtures.dir, tc.name)
			if err := os.Mkdir(tmp, 0o755); err != nil {
				fixtures.err = err
				return
			}
			wg.Go(func() {
				img, err := buildUDF(mk, uc, tmp, dir, tc.size, tc.bs, tc.args...)
				mu.Lock()
				defer mu.Unlock()
				fixtures.imgs[tc.name] = img
				if err != nil && fixtures.err == nil {
					fixtures.err = err
				}
			})
		}
		wg.Wait()
	})
	if fixtures.err != nil {
		t.Fatal(fixtures.err)
	}
	return fixtures.imgs, fixtures.want
}

func TestMain(m *testing.M) {
	code := testkit.Main(m, nil)
	if fixtures.dir != "" {
		os.RemoveAll(fixtures.dir)
	}
	os.Exit(code)
}

// TestMkudffs reads the images made by mkudffs and udfclient, against the
// source tree and 7-Zip where 7-Zip reads them.
func TestMkudffs(t *testing.T) {
	imgs, want := udfclientImages(t)
	for _, tc := range udfclientCases {
		t.Run(tc.name, func(t *testing.T) {
			img := imgs[tc.name]
			f := openImage(t, img, Options{})
			if f.Label() != testLabel || f.VolumeSetID() != testUUID+"LinuxUDF" || f.Revision() != tc.rev || f.BlockSize() != tc.bs {
				t.Errorf("label %q volume set %q revision %#x block size %d", f.Label(), f.VolumeSetID(), f.Revision(), f.BlockSize())
			}
			got := walkFS(t, f)
			readkittest.Compare(t, want, got, readkittest.Fields{Perm: true})
			readkittest.TestImageFS(t, img, Open, want)
			if tc.sevenZ {
				readkittest.Compare(t, walkSource(t, extract7z(t, img)), got, readkittest.Fields{})
			}
			if tc.name == "cdrw-2048-1.50" {
				// mkudffs records the spare area as a hidden file.
				u := openImage(t, img, Options{Unhide: true})
				if _, err := u.Lookup("Non-Allocatable Space"); err != nil {
					t.Errorf("unhide: %v", err)
				}
				if _, err := f.Lookup("Non-Allocatable Space"); !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("hidden file listed: %v", err)
				}
			}
			if strings.HasPrefix(tc.name, "cdrw") {
				if f.parts[0].kind != partSparable {
					t.Errorf("cdrw: partition map %v", f.parts[0].kind)
				}
				// udfclient writes big.bin in several extents on packet media.
				e, _ := f.Lookup("t/big.bin")
				if len(e.Extents) < 2 {
					t.Errorf("big.bin: %d extents", len(e.Extents))
				}
			}
			h, _ := f.Lookup("t/hello.txt")
			if h == nil || !h.OwnerSet || h.UID != uint32(os.Getuid()) || h.Nlink != 1 || h.UnixMode() != 0o100750 {
				t.Errorf("hello.txt: %+v", h)
			}
			if f.Root().OwnerSet { // mkudffs records the root's owner as not set
				t.Errorf("root owner set: %d %d", f.Root().UID, f.Root().GID)
			}
		})
	}
}

// TestVAT reads the empty volumes mkudffs makes for write-once media (a
// virtual partition: the VAT is the last block), cut after their last
// written block as a disc image would be.
func TestVAT(t *testing.T) {
	for _, tc := range []struct {
		rev  uint16
		args []string
	}{
		{0x0150, []string{"--media-type=cdr", "--udfrev=1.50"}},
		{0x0201, []string{"--media-type=cdr", "--udfrev=2.01"}},
		{0x0250, []string{"--media-type=bdr", "--udfrev=2.50"}},
	} {
		t.Run(fmt.Sprintf("%x", tc.rev), func(t *testing.T) {
			img := mkudffs(t, 16<<20, 2048, tc.args...)
			b, err := os.ReadFile(img)
			if err != nil {
				t.Fatal(err)
			}
			last := len(b)/2048 - 1
			for last > 0 && readkit.AllZero(b[last*2048:(last+1)*2048]) {
				last--
			}
			b = b[:(last+1)*2048]
			f, err := Open(bytes.NewReader(b), int64(len(b)))
			if err != nil {
				t.Fatal(err)
			}
			if f.Revision() != tc.rev || f.Label() != testLabel {
				t.Errorf("revision %#x label %q", f.Revision(), f.Label())
			}
			if f.parts[f.Root().icb.part].kind != partVirtual || len(f.parts[1].vat) == 0 {
				t.Errorf("root in a %v partition", f.parts[f.Root().icb.part].kind)
			}
			if kids, err := f.Root().Entries(); err != nil || len(kids) != 0 {
				t.Errorf("root: %v %v", kids, err)
			}
			// The full image (the VAT is not at its end) is refused clearly.
			full, _ := os.ReadFile(img)
			if _, err := Open(bytes.NewReader(full), int64(len(full))); !errors.Is(err, errors.ErrUnsupported) {
				t.Errorf("image with no VAT at the end: %v", err)
			}
		})
	}
}

// TestDetect: the recognition sequence of a bridge image, a UDF-only image,
// and of what is not UDF.
func TestDetect(t *testing.T) {
	img := mkudffs(t, 4<<20, 4096, "--media-type=hd")
	fh, _ := os.Open(img)
	defer fh.Close()
	r, err := Detect(fh, 4<<20)
	if err != nil || r.NSR != 3 || r.ISO9660 || r.Stride != 4096 || r.String() != "BEA01,NSR03,TEA01" {
		t.Errorf("4096: %+v %v", r, err)
	}
	// An ISO 9660 image without UDF.
	iso := genisoimage(t, writeTree(t, "src", map[string]string{"a": "a"}), "-R")
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	if r, err := Detect(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotUDF) || !r.ISO9660 || r.NSR != 0 {
		t.Errorf("ISO 9660 only: %+v %v", r, err)
	}
	if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotUDF) {
		t.Errorf("open ISO 9660 only: %v", err)
	}
	for _, data := range [][]byte{nil, make([]byte, 1<<20)} {
		if _, err := Detect(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotUDF) {
			t.Errorf("%d zero bytes: %v", len(data), err)
		}
		if _, err := Open(bytes.NewReader(data), int64(len(data))); !errors.Is(err, ErrNotUDF) {
			t.Errorf("open %d zero bytes: %v", len(data), err)
		}
	}
}
