package readkit

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func TestSanitizeName(t *testing.T) {
	for in, want := range map[string]string{
		"a/b\x00c": "a_b_c", "..": "", ".": "", "": "", "...": "...", "\xff\xfe": "\xff\xfe", "é": "é",
	} {
		if got := SanitizeName(in); got != want {
			t.Errorf("SanitizeName(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestDecodeCP437(t *testing.T) {
	// The bytes of "Ça coûte 5£ ß░" in code page 437.
	b := []byte{0x80, 'a', ' ', 'c', 'o', 0x96, 't', 'e', ' ', '5', 0x9C, ' ', 0xE1, 0xB0, 0xFF}
	if got, want := DecodeCP437(b), "Ça coûte 5£ ß░\u00a0"; got != want {
		t.Errorf("DecodeCP437 = %q, want %q", got, want)
	}
	if got := DecodeCP437([]byte("README  TXT")); got != "README  TXT" {
		t.Errorf("ASCII changed: %q", got)
	}
	if len(cp437) != 128 {
		t.Errorf("cp437 has %d runes", len(cp437))
	}
}

func TestUnixMode(t *testing.T) {
	for m, want := range map[fs.FileMode]uint32{
		0o644:                    0o100644,
		fs.ModeDir | 0o755:       0o040755,
		fs.ModeSymlink | 0o777:   0o120777,
		fs.ModeNamedPipe | 0o600: 0o010600,
		fs.ModeSocket | 0o700:    0o140700,
		fs.ModeDevice | fs.ModeCharDevice | 0o620: 0o020620,
		fs.ModeDevice | 0o660:                     0o060660,
		fs.ModeSetuid | fs.ModeSetgid | 0o755:     0o106755,
		fs.ModeDir | fs.ModeSticky | 0o777:        0o041777,
	} {
		if got := UnixMode(m); got != want {
			t.Errorf("UnixMode(%v) = %o, want %o", m, got, want)
		}
		if back := FileMode(want); back != m {
			t.Errorf("FileMode(%o) = %v, want %v", want, back, m)
		}
	}
}

func TestReadFull(t *testing.T) {
	r := bytes.NewReader([]byte("0123456789"))
	p := make([]byte, 4)
	if err := ReadFull("x", r, 10, p, 6); err != nil || string(p) != "6789" {
		t.Errorf("read %q: %v", p, err)
	}
	var fe *FormatError
	if err := ReadFull("x", r, 10, p, 7); !errors.As(err, &fe) || fe.Format != "x" || fe.Offset != 7 {
		t.Errorf("past the end: %v", err)
	}
	if err := ReadFull("x", r, -1, p, 8); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short read of an unsized image: %v", err)
	}
	if err := ReadFull("x", r, 10, p, -1); !errors.As(err, &fe) {
		t.Errorf("negative offset: %v", err)
	}
}

func TestErrors(t *testing.T) {
	if err := Unsupported("fat", "FAT32 version %d", 1); !errors.Is(err, errors.ErrUnsupported) || err.Error() != "fat: FAT32 version 1: unsupported operation" {
		t.Errorf("Unsupported: %v", err)
	}
	var le *LimitError
	if err := OverLimit("udf", 5, "MaxDepth", 9, 8); !errors.As(err, &le) || le.Limit != "MaxDepth" || err.Error() != "udf: image exceeds MaxDepth at byte 5: 9 > 8" {
		t.Errorf("OverLimit: %v", err)
	}
	if err := Malformed("iso9660", 7, "bad %s", "thing"); err.Error() != "iso9660: malformed image at byte 7: bad thing" {
		t.Errorf("Malformed: %v", err)
	}
}

func TestReadExtents(t *testing.T) {
	img := bytes.NewReader([]byte("abcdefghijklmnopqrstuvwxyz"))
	xs := []Extent{{Offset: 10, Length: 3}, {Offset: 0, Length: 2}, {Offset: 20, Length: 4}} // "klm" "ab" "uvwx"
	p := make([]byte, 9)
	if n, err := ReadExtents(img, xs, p, 0); n != 9 || err != nil || string(p) != "klmabuvwx" {
		t.Errorf("whole: %d %q %v", n, p[:n], err)
	}
	if n, err := ReadExtents(img, xs, p[:4], 2); n != 4 || err != nil || string(p[:4]) != "mabu" {
		t.Errorf("across extents: %d %q %v", n, p[:n], err)
	}
	if n, err := ReadExtents(img, xs, p, 5); n != 4 || err != io.EOF || string(p[:4]) != "uvwx" {
		t.Errorf("past the end: %d %q %v", n, p[:n], err)
	}
	if _, err := ReadExtents(img, xs, p, -1); err == nil {
		t.Error("negative offset read")
	}
	short := []Extent{{Offset: 24, Length: 5}} // the image ends after 2
	if n, err := ReadExtents(img, short, p[:5], 0); n != 2 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("extent past the image: %d %v", n, err)
	}
}

func TestOverlaps(t *testing.T) {
	if Overlaps([]Extent{{Offset: 0, Length: 4}, {Offset: 8, Length: 4}, {Offset: 4, Length: 4}}) {
		t.Error("adjacent extents overlap")
	}
	if !Overlaps([]Extent{{Offset: 8, Length: 4}, {Offset: 0, Length: 4}, {Offset: 10, Length: 1}}) {
		t.Error("overlap not found")
	}
}

func TestClaims(t *testing.T) {
	var c Claims[uint32, uint32]
	if !c.Claim(1, 100) || !c.Claim(1, 100) {
		t.Error("the same owner is refused")
	}
	if c.Claim(2, 100) || c.Claim(2, 101, 100) {
		t.Error("another owner takes a claimed key")
	}
	if !c.Claim(2, 101) {
		t.Error("a failed claim took its keys")
	}
	// Clusters of 512 bytes from byte 4096 (cluster 2).
	var cc ClusterClaims
	d := ClusterDir{Cluster: 5, Parent: 2, ParentRoot: true, Extents: []Extent{{Offset: 4096 + 3*512, Length: 1024}}}
	if !cc.ClaimDir(d, 4096, 512) || !cc.ClaimDir(d, 4096, 512) {
		t.Error("directory refused")
	}
	other := ClusterDir{Cluster: 9, Parent: 5, Extents: []Extent{{Offset: 4096 + 4*512, Length: 512}}} // cluster 6, d's
	if cc.ClaimDir(other, 4096, 512) {
		t.Error("a cluster of two directories")
	}
	again := d
	again.Parent, again.ParentRoot = 7, false // d listed by another parent
	if cc.ClaimDir(again, 4096, 512) {
		t.Error("a directory listed by two parents")
	}
}

// node is a tree in memory, for the lookup and fs.FS tests.
type node struct {
	name  string
	mode  fs.FileMode
	data  string
	kids  []*node
	dir   Listing[*node]
	calls int // lists
}

func (n *node) IsDir() bool { return n.mode.IsDir() }

func (n *node) Entries() ([]*node, error) {
	if !n.IsDir() {
		return nil, ErrNotDir
	}
	return n.dir.Entries(func() ([]*node, map[string]*node, error) {
		n.calls++
		return n.kids, ByName(n.kids, func(k *node) string { return strings.ToLower(k.name) }), nil
	})
}

func (n *node) Child(name string) (*node, error) {
	if _, err := n.Entries(); err != nil {
		return nil, err
	}
	return n.dir.Find(strings.ToLower(name))
}

func (n *node) ReaderAt() io.ReaderAt { return strings.NewReader(n.data) }

func (n *node) FileInfo() fs.FileInfo {
	return FileInfo(n.name, int64(len(n.data)), n.mode, time.Unix(1e9, 0), n)
}

func tree() *node {
	file := func(name, data string) *node { return &node{name: name, mode: 0o644, data: data} }
	dir := func(name string, kids ...*node) *node { return &node{name: name, mode: fs.ModeDir | 0o755, kids: kids} }
	return dir("/",
		file("README.TXT", "hello\n"),
		dir("b", file("z", "zz"), file("a", ""), dir("empty")),
		&node{name: "link", mode: fs.ModeSymlink | 0o777, data: "b/z"},
	)
}

func TestLookup(t *testing.T) {
	root := tree()
	for p, want := range map[string]string{"": "/", "/": "/", "readme.txt": "README.TXT", "/B/z/": "z", "b/./a": "a", "b/../b/empty": "empty"} {
		e, err := Lookup("x", root, p, 8)
		if err != nil || e.name != want {
			t.Errorf("Lookup(%q) = %v, %v, want %s", p, e, err, want)
		}
	}
	if _, err := Lookup("x", root, "b/nothing", 8); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := Lookup("x", root, "README.TXT/x", 8); !errors.Is(err, ErrNotDir) {
		t.Errorf("file as a directory: %v", err)
	}
	var le *LimitError
	if _, err := Lookup("x", root, "b/empty/x", 2); !errors.As(err, &le) || le.Value != 3 || le.Max != 2 {
		t.Errorf("too deep: %v", err)
	}
	root.Entries()
	if root.calls != 1 {
		t.Errorf("the root was listed %d times", root.calls)
	}
}

func TestFS(t *testing.T) {
	fsys := NewFS("x", tree(), 8)
	if err := fstest.TestFS(fsys, "README.TXT", "b/z", "b/a", "b/empty", "link"); err != nil {
		t.Fatal(err)
	}
	fi, err := fs.Stat(fsys, "b/z")
	if err != nil || fi.Sys().(*node).name != "z" || fi.Size() != 2 {
		t.Errorf("Stat: %v, %v", fi, err)
	}
	if fi, err := fs.Stat(fsys, "link"); err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("a link is followed: %v, %v", fi, err)
	}
	if _, err := fsys.Open("/b"); !errors.Is(err, fs.ErrInvalid) {
		t.Errorf("a rooted path: %v", err)
	}
	if _, err := fsys.Open("b/nothing"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("missing: %v", err)
	}
	if _, err := fs.ReadDir(fsys, "README.TXT"); !errors.Is(err, ErrNotDir) {
		t.Errorf("ReadDir of a file: %v", err)
	}
	var paths []string
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		paths = append(paths, p)
		return err
	})
	if got := strings.Join(paths, " "); got != ". README.TXT b b/a b/empty b/z link" {
		t.Errorf("WalkDir: %s", got)
	}
}

func TestWithDefaults(t *testing.T) {
	type limits struct {
		A int
		B int64
		C uint32
	}
	def := limits{A: 1, B: 2, C: 3}
	if got := WithDefaults(limits{}, def); got != def {
		t.Errorf("zero: %+v", got)
	}
	if got := WithDefaults(limits{A: 9, B: -1}, def); got != (limits{A: 9, B: 2, C: 3}) {
		t.Errorf("one set, one negative: %+v", got)
	}
}
