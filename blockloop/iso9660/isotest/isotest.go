// Package isotest builds ISO 9660 fixtures with xorriso for the tests of
// package iso9660 and userfs; their trees are compared with readkittest.
package isotest

import (
	"bytes"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// Xorriso returns the path of xorriso, skipping the test when it is missing
// (failing it when CI=true).
func Xorriso(t testing.TB) string {
	t.Helper()
	return testkit.Tool(t, "xorriso")
}

// BuildISO runs `xorriso -as mkisofs -quiet ARGS -o OUT SRC` and returns OUT,
// a file in a temporary directory of t. The output is written sparse (runs
// of zero blocks are holes), so a 4.5 GiB image of a sparse file costs
// almost no disk.
func BuildISO(t testing.TB, src string, args ...string) string {
	t.Helper()
	x := Xorriso(t)
	out := filepath.Join(t.TempDir(), "image.iso")
	f, err := os.Create(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	// Names are read as UTF-8 whatever the caller's locale: without it
	// xorriso writes non-ASCII names as underscores.
	argv := append([]string{"-as", "mkisofs", "-quiet", "-input-charset", "UTF-8", "-output-charset", "UTF-8"}, args...)
	argv = append(argv, "-o", "-", src)
	cmd := testkit.Command(x, argv...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	n, cerr := copySparse(f, stdout)
	if err := cmd.Wait(); err != nil || cerr != nil {
		t.Fatalf("xorriso %s: %v %v\n%s", strings.Join(argv, " "), err, cerr, stderr.String())
	}
	if err := f.Truncate(n); err != nil {
		t.Fatal(err)
	}
	return out
}

// copySparse copies r to f, seeking over all-zero 1 MiB blocks.
func copySparse(f *os.File, r io.Reader) (int64, error) {
	buf := make([]byte, 1<<20)
	var off int64
	for {
		n, err := io.ReadFull(r, buf)
		if n > 0 {
			if !allZero(buf[:n]) {
				if _, werr := f.WriteAt(buf[:n], off); werr != nil {
					return off, werr
				}
			}
			off += int64(n)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return off, nil
		}
		if err != nil {
			return off, err
		}
	}
}

var zeros = make([]byte, 1<<20)

func allZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

// OldTime is the modification time RichTree gives some of its files.
var OldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.UTC)

// LongName is a 200-byte name with spaces and mixed case (Rock Ridge NM
// continued over several entries).
var LongName = "A Long Name " + strings.Repeat("abcDEFghij", 18) + "-end.txt"

// LongTarget is a symlink target of 300 bytes over many components.
var LongTarget = strings.Repeat("component-x/", 24) + "../final"

// RichTree makes the Rock Ridge fixture tree in a temporary directory of t:
// long and unicode names, modes (0755, 0600, setuid, a 0750 directory),
// owners (when root), symlinks of every kind, hard links, a fifo, old
// timestamps, an empty file, a directory spanning several sectors and a
// tree 12 levels deep.
func RichTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	w := &writer{t: t, root: root}
	w.file("hello.txt", "hello, world\n", 0o644)
	w.file(LongName, "long name\n", 0o644)
	w.file("unicodé 日本語/ü.txt", "unicode\n", 0o644)
	w.file("script.sh", "#!/bin/sh\necho hi\n", 0o755)
	w.file("secret.txt", "secret\n", 0o600)
	w.file("setuid-bin", "x", 0o4755)
	w.file("empty", "", 0o644)
	w.file("old.txt", "old\n", 0o644)
	w.file("sub/file.txt", "in sub\n", 0o644)
	w.random("sub/Nested Dir/inner.bin", 300<<10+17)
	w.random("sub/big.bin", 3<<20+5)
	w.dir("dir0750", 0o750)
	w.file("dir0750/x", "x\n", 0o640)
	for i := 0; i < 80; i++ {
		w.file(fmt.Sprintf("many/file-%03d-%s", i, strings.Repeat("n", 90)), fmt.Sprint(i), 0o644)
	}
	deep := "d1/d2/d3/d4/d5/d6/d7/d8/d9/d10/d11/d12"
	w.file(deep+"/deep.txt", "deep\n", 0o644)
	w.symlink("link-rel", "sub/file.txt")
	w.symlink("link-abs", "/etc/hostname")
	w.symlink("link-dir", "sub")
	w.symlink("sub/link-up", "../hello.txt")
	w.symlink("link-dangling", "../nope/x")
	w.symlink("link-long", LongTarget)
	w.link("hello.txt", "sub/hard-link")
	if err := syscall.Mkfifo(filepath.Join(root, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	if os.Geteuid() == 0 {
		w.chown("secret.txt", 1234, 5678)
		w.chown("dir0750", 42, 43)
	}
	w.chtimes("old.txt", OldTime)
	w.chtimes("sub/Nested Dir", OldTime)
	return root
}

// JolietTree is a tree Joliet can hold (no symlinks, hard links or fifos):
// nested directories, mixed case, spaces and unicode names.
func JolietTree(t testing.TB) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "src")
	w := &writer{t: t, root: root}
	w.file("Hello World.txt", "hello\n", 0o644)
	w.file("README", "readme\n", 0o644)
	w.file("Dir One/Dir Two/Dir Three/nested file.TXT", "nested\n", 0o644)
	w.file("Dir One/second.md", "second\n", 0o644)
	w.file("unicodé 日本語/ü.txt", "unicode\n", 0o644)
	w.random("data/blob.bin", 200<<10+3)
	w.file("a/b/c/d/e/f/g/h/i/j/deep.txt", "deep\n", 0o644)
	return root
}

type writer struct {
	t    testing.TB
	root string
}

func (w *writer) path(p string) string { return filepath.Join(w.root, filepath.FromSlash(p)) }

func (w *writer) file(p, content string, mode fs.FileMode) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(w.path(p)), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.WriteFile(w.path(p), []byte(content), 0o644); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Chmod(w.path(p), mode); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) random(p string, n int) {
	w.t.Helper()
	b := make([]byte, n)
	x := uint64(n) * 0x9E3779B97F4A7C15
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	w.file(p, string(b), 0o644)
}

func (w *writer) dir(p string, mode fs.FileMode) {
	w.t.Helper()
	if err := os.MkdirAll(w.path(p), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Chmod(w.path(p), mode); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) symlink(p, target string) {
	w.t.Helper()
	if err := os.MkdirAll(filepath.Dir(w.path(p)), 0o755); err != nil {
		w.t.Fatal(err)
	}
	if err := os.Symlink(target, w.path(p)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) link(old, p string) {
	w.t.Helper()
	if err := os.Link(w.path(old), w.path(p)); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) chown(p string, uid, gid int) {
	w.t.Helper()
	if err := os.Lchown(w.path(p), uid, gid); err != nil {
		w.t.Fatal(err)
	}
}

func (w *writer) chtimes(p string, tm time.Time) {
	w.t.Helper()
	if err := os.Chtimes(w.path(p), tm, tm); err != nil {
		w.t.Fatal(err)
	}
}

// Marker positions of BigTree's huge.bin.
var markers = map[int64]string{0: "HEADMARK", 4294965248 - 4: "MIDMARK!", 4294967296: "4GIBMARK"}

// BigTree makes a directory with a sparse 4.5 GiB huge.bin holding
// markers (see CheckMarkers) and a small file.
func BigTree(t testing.TB) (string, int64) {
	dir := filepath.Join(t.TempDir(), "big")
	os.MkdirAll(dir, 0o755)
	size := int64(4608) << 20
	f, err := os.Create(filepath.Join(dir, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for off, m := range markers {
		f.WriteAt([]byte(m), off)
	}
	f.WriteAt([]byte("TAILMARK"), size-8)
	os.WriteFile(filepath.Join(dir, "small.txt"), []byte("small\n"), 0o644)
	return dir, size
}

// CheckMarkers reads BigTree's markers through r.
func CheckMarkers(t testing.TB, r io.ReaderAt, size int64) {
	t.Helper()
	all := map[int64]string{size - 8: "TAILMARK"}
	for k, v := range markers {
		all[k] = v
	}
	for off, m := range all {
		b := make([]byte, len(m))
		if n, err := r.ReadAt(b, off); n != len(b) || string(b) != m {
			t.Errorf("at %d: %q %v, want %q", off, b[:n], err, m)
		}
	}
	// A read across the first extent's end (4 GiB - 2 KiB).
	b := make([]byte, 8192)
	if n, err := r.ReadAt(b, 4294965248-4096); n != len(b) || !bytes.Contains(b, []byte("MIDMARK!")) {
		t.Errorf("across the extent boundary: %d %v", n, err)
	}
	if n, err := r.ReadAt(b, size-10); n != 10 || err != io.EOF {
		t.Errorf("read at the end: %d %v", n, err)
	}
}
