package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

// hostileImage is a FAT16 image with 512-byte clusters holding a.bin and
// b.bin (6 clusters each), hello.txt, sub/ (spanning clusters) and sub2/.
func hostileImage(t *testing.T) []byte {
	t.Helper()
	src := t.TempDir()
	os.WriteFile(filepath.Join(src, "a.bin"), bytes.Repeat([]byte("a"), 3000), 0o644)
	os.WriteFile(filepath.Join(src, "b.bin"), bytes.Repeat([]byte("b"), 3000), 0o644)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644)
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.MkdirAll(filepath.Join(src, "sub2"), 0o755)
	for i := 0; i < 40; i++ {
		os.WriteFile(filepath.Join(src, "sub", "a long file name number "+itoa(i)), []byte("x"), 0o644)
	}
	os.WriteFile(filepath.Join(src, "sub2", "x"), []byte("x"), 0o644)
	img := mkfs(t, 16<<20, "-F", "16", "-s", "1")
	fill(t, img, src)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func openBytes(t *testing.T, b []byte, opts Options) (*FS, error) {
	return OpenOptions(bytes.NewReader(b), int64(len(b)), opts)
}

func mustLookup(t *testing.T, f *FS, p string) *Entry {
	t.Helper()
	e, err := f.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func setFAT16(b []byte, f *FS, n, v uint32) {
	binary.LittleEndian.PutUint16(b[f.bpb.fatOff+2*int64(n):], uint16(v))
}

// healthy checks that the files not broken on purpose still read.
func healthy(t *testing.T, f *FS, paths ...string) {
	t.Helper()
	for _, p := range paths {
		e, err := f.Lookup(p)
		if err != nil {
			t.Errorf("%s: %v", p, err)
			continue
		}
		if e.IsDir() {
			if _, err := e.Entries(); err != nil {
				t.Errorf("%s: %v", p, err)
			}
			continue
		}
		buf := make([]byte, e.Size)
		if n, err := e.ReaderAt().ReadAt(buf, 0); n != len(buf) || e.DataErr() != nil {
			t.Errorf("%s: %d bytes, %v %v", p, n, err, e.DataErr())
		}
	}
}

func TestHostileChains(t *testing.T) {
	orig := hostileImage(t)
	f0, err := openBytes(t, orig, Options{})
	if err != nil {
		t.Fatal(err)
	}
	healthy(t, f0, "a.bin", "b.bin", "hello.txt", "sub", "sub2")
	a := mustLookup(t, f0, "a.bin")
	c := a.cluster
	if len(a.Extents) != 1 {
		t.Fatalf("a.bin extents %v", a.Extents)
	}
	sub := mustLookup(t, f0, "sub")
	if sub.Size < 2048 {
		t.Fatalf("sub: %v", sub.dirExtents)
	}
	lastX := sub.dirExtents[len(sub.dirExtents)-1]
	subLast := uint32((lastX.Offset+lastX.Length-f0.bpb.dataOff)/512 + 1)
	for _, tc := range []struct {
		name  string
		patch func(b []byte)
		file  string // the entry that must fail
		want  string
	}{
		{"cycle", func(b []byte) { setFAT16(b, f0, c+3, c+1) }, "a.bin", "loops"},
		{"self", func(b []byte) { setFAT16(b, f0, c, c) }, "a.bin", "loops"},
		{"past the end", func(b []byte) { setFAT16(b, f0, c+1, 0xFFF0) }, "a.bin", "outside"},
		{"free", func(b []byte) { setFAT16(b, f0, c+1, 0) }, "a.bin", "outside"},
		{"bad", func(b []byte) { setFAT16(b, f0, c+1, 0xFFF7) }, "a.bin", "outside"},
		{"short", func(b []byte) { setFAT16(b, f0, c+2, 0xFFFF) }, "a.bin", "ends after 3 clusters"},
		{"huge size", func(b []byte) { binary.LittleEndian.PutUint32(b[a.Ino+28:], 0xFFFFFFFF) }, "a.bin", "clusters needed"},
		{"start outside", func(b []byte) { binary.LittleEndian.PutUint16(b[a.Ino+26:], 0xFFF0) }, "a.bin", "outside"},
		{"dir loop", func(b []byte) { setFAT16(b, f0, subLast, sub.cluster) }, "sub", "loops"},
		{"dir into a file", func(b []byte) { setFAT16(b, f0, subLast, c) }, "sub", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := bytes.Clone(orig)
			tc.patch(b)
			f, err := openBytes(t, b, Options{})
			if err != nil {
				t.Fatal(err)
			}
			e := mustLookup(t, f, tc.file)
			err = e.DataErr()
			if e.IsDir() && err == nil {
				_, err = e.Entries()
			} else if err != nil {
				if _, rerr := e.ReaderAt().ReadAt(make([]byte, 1), 0); rerr == nil {
					t.Error("read of a broken file succeeded")
				}
			}
			if tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)) {
				t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
			}
			var others []string
			for _, p := range []string{"a.bin", "b.bin", "hello.txt", "sub2", "sub2/x"} {
				if p != tc.file {
					others = append(others, p)
				}
			}
			healthy(t, f, others...)
		})
	}
}

func TestHostileTree(t *testing.T) {
	orig := hostileImage(t)
	f0, _ := openBytes(t, orig, Options{})
	sub, sub2 := mustLookup(t, f0, "sub"), mustLookup(t, f0, "sub2")

	// Two directories sharing clusters: the second is left out.
	b := bytes.Clone(orig)
	binary.LittleEndian.PutUint16(b[sub.Ino+26:], uint16(sub2.cluster))
	f, err := openBytes(t, b, Options{})
	if err != nil {
		t.Fatal(err)
	}
	kids, _ := f.Root().Entries()
	dirs := 0
	for _, k := range kids {
		if k.IsDir() {
			dirs++
		}
	}
	if dirs != 1 {
		t.Errorf("%d directories listed, want 1", dirs)
	}

	// A directory starting inside another one's chain is left out.
	b = bytes.Clone(orig)
	inside := sub.dirExtents[len(sub.dirExtents)-1]
	second := uint16((inside.Offset-f0.bpb.dataOff)/512 + 3)
	binary.LittleEndian.PutUint16(b[sub2.Ino+26:], second)
	f, _ = openBytes(t, b, Options{})
	if _, err := f.Lookup("sub2"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("sub2 inside sub's chain: %v", err)
	}
	if _, err := f.Lookup("sub/a long file name number 39"); err != nil {
		t.Errorf("sub: %v", err)
	}

	// A subdirectory entry pointing at its parent is left out.
	x := mustLookup(t, f0, "sub2/x")
	b = bytes.Clone(orig)
	b[x.Ino+11] = AttrDir
	binary.LittleEndian.PutUint16(b[x.Ino+26:], uint16(sub2.cluster))
	f, _ = openBytes(t, b, Options{})
	if kids, err := mustLookup(t, f, "sub2").Entries(); err != nil || len(kids) != 0 {
		t.Errorf("sub2 with a loop: %d entries, %v", len(kids), err)
	}

	// Limits.
	f, _ = openBytes(t, orig, Options{Limits: Limits{MaxDirSize: 1024}})
	_, err = mustLookup(t, f, "sub").Entries()
	var le *LimitError
	if !errors.As(err, &le) || le.Limit != "MaxDirSize" {
		t.Errorf("MaxDirSize: %v", err)
	}
	f, _ = openBytes(t, orig, Options{Limits: Limits{MaxDirEntries: 10}})
	if _, err = mustLookup(t, f, "sub").Entries(); !errors.As(err, &le) || le.Limit != "MaxDirEntries" {
		t.Errorf("MaxDirEntries: %v", err)
	}
	if _, err := f.Lookup(strings.Repeat("a/", 2000)); !errors.As(err, &le) {
		t.Errorf("MaxDepth: %v", err)
	}

	// Boot sector counts.
	for name, patch := range map[string]func(b []byte){
		"huge FAT":         func(b []byte) { binary.LittleEndian.PutUint16(b[22:], 0xFFFF) },
		"huge root (ok)":   func(b []byte) { binary.LittleEndian.PutUint16(b[17:], 0xFFF0) },
		"no sectors":       func(b []byte) { binary.LittleEndian.PutUint16(b[19:], 0); binary.LittleEndian.PutUint32(b[32:], 0) },
		"cluster size 3":   func(b []byte) { b[13] = 3 },
		"no reserved":      func(b []byte) { binary.LittleEndian.PutUint16(b[14:], 0) },
		"no FATs":          func(b []byte) { b[16] = 0 },
		"sector size 8192": func(b []byte) { binary.LittleEndian.PutUint16(b[11:], 8192) },
		"huge total": func(b []byte) {
			binary.LittleEndian.PutUint16(b[19:], 0)
			binary.LittleEndian.PutUint32(b[32:], 0xFFFFFFFF)
		},
		"truncated (ok)": func(b []byte) {},
		"root entries 0": func(b []byte) { binary.LittleEndian.PutUint16(b[17:], 0) },
	} {
		b := bytes.Clone(orig)
		patch(b)
		if name == "truncated (ok)" {
			b = b[:len(b)/2]
		}
		f, err := openBytes(t, b, Options{})
		if strings.HasSuffix(name, "(ok)") {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else {
				readkittest.Explore(f.FS())
			}
			continue
		}
		if err == nil {
			t.Errorf("%s: opened", name)
		}
	}
}

// TestCrossLinked: many files sharing one long chain cost at most the
// volume's clusters per listing; the files past that budget fail.
func TestCrossLinked(t *testing.T) {
	data := make([]byte, 256<<10) // FAT, root and clusters all in it (fuzzFS)
	f := fuzzFS(data)
	// Root: 1000 entries at the start; the chain 300 -> 301 -> ... -> 499
	// (its FAT entries overwrite a few of them).
	for i := 0; i < 1000; i++ {
		e := shortEntry(fmt.Sprintf("F%07d   ", i), AttrArchive, 0)
		binary.LittleEndian.PutUint16(e[26:], 300)
		binary.LittleEndian.PutUint32(e[28:], 200*512)
		copy(data[32*i:], e)
	}
	for c := 300; c < 500; c++ {
		binary.LittleEndian.PutUint16(data[2*c:], uint16(c+1))
	}
	binary.LittleEndian.PutUint16(data[2*499:], 0xFFFF)
	start := time.Now()
	kids, err := f.root.Entries()
	if err != nil {
		t.Fatal(err)
	}
	broken, ok := 0, 0
	for _, k := range kids {
		switch {
		case k.DataErr() == nil:
			ok++
		case strings.Contains(k.DataErr().Error(), "cross-linked"):
			broken++
		}
	}
	if len(kids) < 990 || ok < 1 || broken < 900 || time.Since(start) > 2*time.Second {
		t.Errorf("%d entries, %d fine, %d cross-linked, %v", len(kids), ok, broken, time.Since(start))
	}
}
