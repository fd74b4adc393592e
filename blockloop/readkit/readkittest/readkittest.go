// Package readkittest is the tree validator of the filesystem readers'
// tests: a tree read from a host directory (a source tree, another
// reader's extraction, a mount) and a tree read from a reader's fs.FS,
// compared file by file; fstest.TestFS on a reader's fs.FS; and the fuzz
// targets' walk of a hostile tree.
package readkittest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"syscall"
	"testing"
	"testing/fstest"
	"time"
)

// Info is what a comparison looks at of one path.
type Info struct {
	Mode    fs.FileMode
	Size    int64  // regular files only
	SHA256  string // regular files only
	ModTime time.Time
	Target  string // a symbolic link's
	UID     uint32
	GID     uint32
	Nlink   uint32 // non-directories only
}

// Tree maps slash-separated paths ("" is the root) to their Info.
type Tree map[string]Info

// Sum is the hex sha256 of b.
func Sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func sumOf(r io.Reader) (string, int64, error) {
	h := sha256.New()
	n, err := io.Copy(h, r)
	return hex.EncodeToString(h.Sum(nil)), n, err
}

// HostTree reads the directory tree at root (symbolic links not
// followed), owners and link counts included.
func HostTree(t testing.TB, root string) Tree {
	t.Helper()
	out := Tree{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			rel = ""
		}
		fi, err := os.Lstat(p)
		if err != nil {
			return err
		}
		in := Info{Mode: fi.Mode(), ModTime: fi.ModTime()}
		if st, ok := fi.Sys().(*syscall.Stat_t); ok {
			in.UID, in.GID = st.Uid, st.Gid
			if !fi.IsDir() {
				in.Nlink = uint32(st.Nlink)
			}
		}
		switch {
		case fi.Mode()&fs.ModeSymlink != 0:
			if in.Target, err = os.Readlink(p); err != nil {
				return err
			}
		case fi.Mode().IsRegular():
			f, err := os.Open(p)
			if err != nil {
				return err
			}
			in.SHA256, in.Size, err = sumOf(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
		}
		out[filepath.ToSlash(rel)] = in
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// FSTree reads a reader's tree through its fs.FS, every file's data
// included, and fails the test on any error. The owner, link count and
// symbolic link target come from the reader's entry (FileInfo.Sys) when
// it has such fields (UID, GID, Nlink, Target).
func FSTree(t testing.TB, fsys fs.FS) Tree {
	t.Helper()
	out := Tree{}
	err := fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		in := Info{Mode: fi.Mode(), ModTime: fi.ModTime()}
		entryFields(fi.Sys(), &in)
		if fi.IsDir() {
			in.Nlink = 0
		}
		if fi.Mode().IsRegular() {
			f, err := fsys.Open(p)
			if err != nil {
				return err
			}
			in.SHA256, in.Size, err = sumOf(f)
			f.Close()
			if err != nil {
				return fmt.Errorf("read %s: %w", p, err)
			}
			if in.Size != fi.Size() {
				return fmt.Errorf("%s: read %d bytes of %d", p, in.Size, fi.Size())
			}
		}
		if p == "." {
			p = ""
		}
		out[p] = in
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// entryFields copies UID, GID, Nlink and Target from a reader's entry.
func entryFields(sys any, in *Info) {
	v := reflect.ValueOf(sys)
	if v.Kind() == reflect.Pointer {
		v = v.Elem()
	}
	if v.Kind() != reflect.Struct {
		return
	}
	if f := v.FieldByName("UID"); f.IsValid() && f.CanUint() {
		in.UID = uint32(f.Uint())
	}
	if f := v.FieldByName("GID"); f.IsValid() && f.CanUint() {
		in.GID = uint32(f.Uint())
	}
	if f := v.FieldByName("Nlink"); f.IsValid() && f.CanUint() {
		in.Nlink = uint32(f.Uint())
	}
	if f := v.FieldByName("Target"); f.IsValid() && f.Kind() == reflect.String {
		in.Target = f.String()
	}
}

// Fields says what Compare compares besides paths, types, the sizes and
// contents of regular files, and symbolic link targets, which it always
// compares.
type Fields struct {
	Perm  bool // permission bits, setuid, setgid and sticky
	Owner bool
	Nlink bool
	// ModTime, when set, says whether two mtimes agree ([SameSecond],
	// [Within]); those of symbolic links are not compared.
	ModTime func(got, want time.Time) bool
	// FileTimes compares the mtimes of regular files only (FAT records
	// none for its root, Linux's directory mtimes change as it fills them).
	FileTimes bool
}

// SameSecond tells whether two times are in the same second.
func SameSecond(got, want time.Time) bool {
	return got.Truncate(time.Second).Equal(want.Truncate(time.Second))
}

// Within is a ModTime check: two times at most d apart.
func Within(d time.Duration) func(got, want time.Time) bool {
	return func(got, want time.Time) bool {
		diff := got.Sub(want)
		return diff <= d && diff >= -d
	}
}

// Compare reports every difference between want and got.
func Compare(t testing.TB, want, got Tree, f Fields) {
	t.Helper()
	var paths []string
	for p := range want {
		paths = append(paths, p)
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			paths = append(paths, p)
		}
	}
	sort.Strings(paths)
	for _, p := range paths {
		w, wok := want[p]
		g, gok := got[p]
		switch {
		case !wok:
			t.Errorf("%q: extra entry %v", p, g.Mode)
			continue
		case !gok:
			t.Errorf("%q: missing (%v)", p, w.Mode)
			continue
		}
		if w.Mode.Type() != g.Mode.Type() {
			t.Errorf("%q: type %v, want %v", p, g.Mode, w.Mode)
			continue
		}
		if f.Perm && w.Mode != g.Mode && w.Mode&fs.ModeSymlink == 0 {
			t.Errorf("%q: mode %v, want %v", p, g.Mode, w.Mode)
		}
		if w.Mode.IsRegular() && (w.Size != g.Size || w.SHA256 != g.SHA256) {
			t.Errorf("%q: size %d sha256 %.12s, want %d %.12s", p, g.Size, g.SHA256, w.Size, w.SHA256)
		}
		if w.Target != g.Target {
			t.Errorf("%q: symlink target %q, want %q", p, g.Target, w.Target)
		}
		if f.Owner && (w.UID != g.UID || w.GID != g.GID) {
			t.Errorf("%q: owner %d:%d, want %d:%d", p, g.UID, g.GID, w.UID, w.GID)
		}
		if f.Nlink && w.Nlink != g.Nlink {
			t.Errorf("%q: nlink %d, want %d", p, g.Nlink, w.Nlink)
		}
		timed := w.Mode&fs.ModeSymlink == 0 && (!f.FileTimes || w.Mode.IsRegular())
		if f.ModTime != nil && timed && !f.ModTime(g.ModTime, w.ModTime) {
			t.Errorf("%q: mtime %v, want %v", p, g.ModTime, w.ModTime)
		}
	}
}

// TestFS runs testing/fstest.TestFS on a reader's fs.FS (every file is
// opened, read, sought and stat'ed; every directory listed both ways),
// expecting at least the paths of want, and checks that FileInfo.Sys is
// the reader's entry (a pointer).
func TestFS(t testing.TB, fsys fs.FS, want Tree) {
	t.Helper()
	var expected []string
	for p := range want {
		if p != "" {
			expected = append(expected, p)
		}
	}
	if err := fstest.TestFS(fsys, expected...); err != nil {
		t.Error(err)
	}
	fi, err := fs.Stat(fsys, ".")
	if err != nil {
		t.Fatal(err)
	}
	if reflect.ValueOf(fi.Sys()).Kind() != reflect.Pointer {
		t.Errorf("root: FileInfo.Sys is %T, not the reader's entry", fi.Sys())
	}
}

// TestImageFS is TestFS on the fs.FS of the image file img opened by a
// reader's Open, the image read into memory first (TestFS reads files a
// few bytes at a time).
func TestImageFS[F interface{ FS() fs.FS }](t testing.TB, img string, open func(io.ReaderAt, int64) (F, error), want Tree) {
	t.Helper()
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f, err := open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	TestFS(t, f.FS(), want)
}

// Explore is the fuzz targets' walk of a hostile tree: every directory at
// most 64 deep is listed and stat'ed, each of its entries opened by path,
// the first MiB of every file read in 4 KiB reads and, when those
// succeeded, its last bytes. Errors are ignored: only a panic or a hang
// fails.
func Explore(fsys fs.FS) {
	fs.WalkDir(fsys, ".", func(p string, d fs.DirEntry, err error) error {
		if err != nil || d == nil {
			return nil
		}
		if strings.Count(p, "/") >= 64 {
			return fs.SkipDir
		}
		fs.Stat(fsys, p)
		f, err := fsys.Open(p)
		if err != nil {
			return nil
		}
		defer f.Close()
		if r, ok := f.(io.ReaderAt); ok && d.Type().IsRegular() {
			if fi, err := f.Stat(); err == nil {
				if readSome(r, fi.Size()) == nil {
					r.ReadAt(make([]byte, 4096), fi.Size()-100)
				}
			}
		}
		return nil
	})
	fs.Stat(fsys, path.Join("a", "b", "c"))
}

// readSome reads the first MiB (at most) of a file of size bytes in 4 KiB
// reads, and returns the first error other than io.EOF.
func readSome(r io.ReaderAt, size int64) error {
	buf := make([]byte, 4096)
	for off := int64(0); off < size && off < 1<<20; off += 4096 {
		if _, err := r.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}
