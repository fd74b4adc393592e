// Package fattest is what the tests of the FAT and exFAT readers share:
// source trees and images made with the real mkfs tools, and what their
// tree comparisons (readkittest's) look at. It imports neither reader
// (they are siblings).
package fattest

import (
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
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

// Fields is what the FAT and exFAT tests compare of two trees (see
// readkittest.Compare): paths, types, sizes and contents, and the mtimes of
// files within 2 s (FAT records even seconds).
var Fields = readkittest.Fields{ModTime: readkittest.Within(2 * time.Second), FileTimes: true}
