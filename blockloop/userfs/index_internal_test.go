package userfs

import (
	"fmt"
	"io"
	"syscall"
	"testing"
	"time"
)

// fakeNode is a directory of n files, or a file.
type fakeNode struct {
	name string
	n    int
	ino  uint64
}

func (f fakeNode) Attr() Attr {
	a := Attr{Name: f.name, Ino: f.ino, Mode: syscall.S_IFREG | 0o644, Nlink: 1, Mtime: time.Unix(1e9, 0)}
	if f.n > 0 {
		a.Mode, a.Nlink = syscall.S_IFDIR|0o755, 2
	}
	return a
}

func (f fakeNode) Entries() ([]Node, error) {
	out := make([]Node, f.n)
	for i := range out {
		out[i] = fakeNode{name: fmt.Sprint("f", i), ino: uint64(i + 2)}
	}
	return out, nil
}

func (f fakeNode) Child(string) (Node, error) { return nil, io.EOF }
func (f fakeNode) ReaderAt() io.ReaderAt      { return nil }
func (f fakeNode) DataErr() error             { return nil }

// TestLargeTreeHook: indexTree calls the hook once past LargeTreeNodes
// names, never for a smaller tree.
func TestLargeTreeHook(t *testing.T) {
	x := &fsys{}
	for _, c := range []struct{ dirs, want int }{{1, 0}, {3, 1}} {
		// The root's directories, each of LargeTreeNodes/2 files.
		calls := 0
		root := rootOf(c.dirs)
		if _, err := indexTree(x, root, func() { calls++ }, nil); err != nil {
			t.Fatal(err)
		}
		if calls != c.want {
			t.Errorf("%d directories of %d files: hook called %d times, want %d", c.dirs, LargeTreeNodes/2, calls, c.want)
		}
	}
}

// rootOf is a root of dirs directories.
type rootOf int

func (r rootOf) Attr() Attr {
	return Attr{Name: "", Ino: 1, Mode: syscall.S_IFDIR | 0o755, Nlink: 2, Mtime: time.Unix(1e9, 0)}
}

func (r rootOf) Entries() ([]Node, error) {
	out := make([]Node, r)
	for i := range out {
		out[i] = fakeNode{name: fmt.Sprint("d", i), n: LargeTreeNodes / 2, ino: uint64(1000000 + i)}
	}
	return out, nil
}

func (r rootOf) Child(string) (Node, error) { return nil, io.EOF }
func (r rootOf) ReaderAt() io.ReaderAt      { return nil }
func (r rootOf) DataErr() error             { return nil }
