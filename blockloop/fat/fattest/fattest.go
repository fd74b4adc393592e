// Package fattest is what the tests of the FAT and exFAT readers share:
// source trees and images made with the real mkfs tools, trees listed (with
// sizes, sha256 and mtimes) from the host and from a reader, compared, and
// the fuzz targets' walk. It imports neither reader (they are siblings):
// the helpers are generic over a reader's *Entry, whose fields a reader's
// tests hand them as a Stat.
package fattest

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// OldTime is an mtime (even seconds, local time) given to some source files.
var OldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.Local)

// WriteFile writes data to rel under root, making its directories.
func WriteFile(t testing.TB, root, rel string, data []byte) {
	t.Helper()
	p := filepath.Join(root, rel)
	if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
}

// Mkfs makes an image of size bytes with a mkfs tool ("mkfs.vfat") and its
// args, and returns its path.
func Mkfs(t testing.TB, tool string, size int64, args ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), strings.TrimPrefix(tool, "mkfs.")+".img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	testkit.Run(t, testkit.Tool(t, tool), append(args, img)...)
	return img
}

// OpenImage opens the image file img with a reader's Open, failing the
// test when it does not open. The file is closed at t's cleanup.
func OpenImage[F any](t testing.TB, img string, open func(r io.ReaderAt, size int64) (F, error)) F {
	t.Helper()
	r, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	st, _ := r.Stat()
	f, err := open(r, st.Size())
	if err != nil {
		t.Fatalf("open %s: %v", img, err)
	}
	return f
}

// BlkidLabel is the label blkid reads from the image; false when blkid is
// not installed.
func BlkidLabel(t testing.TB, img string) (string, bool) {
	p := testkit.LookTool("blkid")
	if p == "" {
		return "", false
	}
	out, _ := testkit.Command(p, "-p", "-o", "value", "-s", "LABEL", img).Output()
	return strings.TrimRight(string(out), "\n"), true
}

// FileInfo is what the comparisons look at.
type FileInfo struct {
	Dir     bool
	Size    int64
	Sum     string // sha256, hex
	ModTime time.Time
}

// Sum is the hex sha256 of b.
func Sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// WalkDir lists a host tree, by slash path.
func WalkDir(t testing.TB, root string) map[string]FileInfo {
	t.Helper()
	out := map[string]FileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		fi := FileInfo{Dir: d.IsDir(), ModTime: st.ModTime()}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi.Size, fi.Sum = int64(len(b)), Sum(b)
		}
		out[filepath.ToSlash(rel)] = fi
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// Compare checks that got has the same paths, types, sizes and contents as
// want, and (mtimes) the same file mtimes within 2 s.
func Compare(t testing.TB, want, got map[string]FileInfo, mtimes bool) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing from the image", p)
			continue
		}
		if g.Dir != w.Dir || g.Size != w.Size || g.Sum != w.Sum {
			t.Errorf("%s: got dir=%v size=%d sha=%.12s, want dir=%v size=%d sha=%.12s", p, g.Dir, g.Size, g.Sum, w.Dir, w.Size, w.Sum)
		}
		if mtimes && !w.Dir {
			if d := g.ModTime.Sub(w.ModTime); d > 2*time.Second || d < -2*time.Second {
				t.Errorf("%s: mtime %v, want %v", p, g.ModTime, w.ModTime)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the image only", p)
		}
	}
}

// Entry is what the walks call of a reader's *Entry.
type Entry[E any] interface {
	IsDir() bool
	Entries() ([]E, error)
	Child(name string) (E, error)
	DataErr() error
	ReaderAt() io.ReaderAt
}

// Stat is what the walks read of a reader's Entry fields (generic code
// reaches methods, not fields).
type Stat struct {
	Name    string
	Size    int64
	ModTime time.Time
}

// WalkFS lists a reader's tree from its root, reading every file, and
// fails the test on any error.
func WalkFS[E Entry[E]](t testing.TB, root E, stat func(E) Stat) map[string]FileInfo {
	t.Helper()
	out := map[string]FileInfo{}
	var walk func(e E, p string)
	walk = func(e E, p string) {
		kids, err := e.Entries()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, k := range kids {
			s := stat(k)
			kp := strings.TrimPrefix(p+"/"+s.Name, "/")
			fi := FileInfo{Dir: k.IsDir(), ModTime: s.ModTime}
			if !k.IsDir() {
				if err := k.DataErr(); err != nil {
					t.Fatalf("%s: %v", kp, err)
				}
				b := make([]byte, s.Size)
				if n, err := k.ReaderAt().ReadAt(b, 0); n != len(b) {
					t.Fatalf("%s: read %d of %d: %v", kp, n, len(b), err)
				}
				fi.Size, fi.Sum = s.Size, Sum(b)
			}
			out[kp] = fi
			if k.IsDir() {
				walk(k, kp)
			}
		}
	}
	walk(root, "")
	return out
}

// Walk is the fuzz targets' walk of a hostile tree: every directory at
// most 64 deep is listed and each of its entries looked up by name, and
// read is called for every file. Errors are ignored: only a panic or a
// hang fails.
func Walk[E Entry[E]](e E, stat func(E) Stat, read func(E)) {
	var walk func(e E, depth int)
	walk = func(e E, depth int) {
		if depth > 64 {
			return
		}
		if !e.IsDir() {
			read(e)
			return
		}
		kids, _ := e.Entries()
		for _, k := range kids {
			e.Child(stat(k).Name)
			walk(k, depth+1)
		}
	}
	walk(e, 0)
}

// ReadSome reads the first MiB (at most) of a file of size bytes in 4 KiB
// reads, and returns the first error other than io.EOF.
func ReadSome(r io.ReaderAt, size int64) error {
	buf := make([]byte, 4096)
	for off := int64(0); off < size && off < 1<<20; off += 4096 {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
