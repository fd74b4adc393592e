package readkit

import (
	"errors"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"
)

// Entry is what [NewFS] calls of a reader's entry.
type Entry[E any] interface {
	comparable
	Node[E]
	// ReaderAt reads a file's data.
	ReaderAt() io.ReaderAt
	// FileInfo is the entry's name, size, mode and time; Sys the entry.
	FileInfo() fs.FileInfo
}

// FS is a reader's tree as an [fs.FS]: an [fs.ReadDirFS] and an
// [fs.StatFS]. Symbolic links are not followed: Open and Stat of a link
// give the link itself (its mode has fs.ModeSymlink). Names are compared
// as the reader's Child compares them (FAT's case-insensitively). Safe for
// concurrent use as the reader is.
type FS[E Entry[E]] struct {
	format   string
	root     E
	maxDepth int
}

// NewFS is the fs.FS of the tree at root of reader format, whose paths are
// at most maxDepth names deep.
func NewFS[E Entry[E]](format string, root E, maxDepth int) *FS[E] {
	return &FS[E]{format: format, root: root, maxDepth: maxDepth}
}

// lookup is the entry at the fs path name.
func (f *FS[E]) lookup(op, name string) (E, error) {
	var zero E
	if !fs.ValidPath(name) {
		return zero, &fs.PathError{Op: op, Path: name, Err: fs.ErrInvalid}
	}
	if name == "." {
		return f.root, nil
	}
	e, err := Lookup(f.format, f.root, name, f.maxDepth)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return zero, &fs.PathError{Op: op, Path: name, Err: err}
	}
	return e, nil
}

// info is e's FileInfo, named "." for the root as fs.FS wants it.
func (f *FS[E]) info(e E) fs.FileInfo {
	fi := e.FileInfo()
	if e == f.root {
		return renamed{fi, "."}
	}
	return fi
}

// Open opens the entry at name: a directory is an fs.ReadDirFile, a file
// also an io.ReaderAt and io.Seeker.
func (f *FS[E]) Open(name string) (fs.File, error) {
	e, err := f.lookup("open", name)
	if err != nil {
		return nil, err
	}
	fi := f.info(e)
	if e.IsDir() {
		return &dir[E]{f: f, e: e, info: fi}, nil
	}
	return &file{SectionReader: io.NewSectionReader(e.ReaderAt(), 0, fi.Size()), info: fi}, nil
}

// Stat is the FileInfo of the entry at name; its Sys is the reader's entry.
func (f *FS[E]) Stat(name string) (fs.FileInfo, error) {
	e, err := f.lookup("stat", name)
	if err != nil {
		return nil, err
	}
	return f.info(e), nil
}

// ReadDir lists the directory at name, sorted by name.
func (f *FS[E]) ReadDir(name string) ([]fs.DirEntry, error) {
	e, err := f.lookup("readdir", name)
	if err != nil {
		return nil, err
	}
	if !e.IsDir() {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: ErrNotDir}
	}
	kids, err := e.Entries()
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: name, Err: err}
	}
	out := dirEntries(kids)
	slices.SortFunc(out, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
	return out, nil
}

func dirEntries[E Entry[E]](kids []E) []fs.DirEntry {
	out := make([]fs.DirEntry, len(kids))
	for i, k := range kids {
		out[i] = fs.FileInfoToDirEntry(k.FileInfo())
	}
	return out
}

// file is an open regular file (or symbolic link).
type file struct {
	*io.SectionReader
	info fs.FileInfo
}

func (f *file) Stat() (fs.FileInfo, error) { return f.info, nil }
func (f *file) Close() error               { return nil }

// dir is an open directory.
type dir[E Entry[E]] struct {
	f    *FS[E]
	e    E
	info fs.FileInfo
	pos  int
}

func (d *dir[E]) Stat() (fs.FileInfo, error) { return d.info, nil }
func (d *dir[E]) Close() error               { return nil }

func (d *dir[E]) Read([]byte) (int, error) {
	return 0, &fs.PathError{Op: "read", Path: d.info.Name(), Err: errors.New("is a directory")}
}

// ReadDir lists the directory in the reader's order, n entries at a time
// (all for n <= 0), as fs.ReadDirFile says.
func (d *dir[E]) ReadDir(n int) ([]fs.DirEntry, error) {
	kids, err := d.e.Entries()
	if err != nil {
		return nil, &fs.PathError{Op: "readdir", Path: d.info.Name(), Err: err}
	}
	rest := kids[min(d.pos, len(kids)):]
	if n > 0 {
		if len(rest) == 0 {
			return nil, io.EOF
		}
		rest = rest[:min(n, len(rest))]
	}
	d.pos += len(rest)
	return dirEntries(rest), nil
}

// renamed is a FileInfo under another name.
type renamed struct {
	fs.FileInfo
	name string
}

func (r renamed) Name() string { return r.name }

// FileInfo is an fs.FileInfo of a reader's entry: its name, size, mode
// and modification time; sys is the entry.
func FileInfo(name string, size int64, mode fs.FileMode, mtime time.Time, sys any) fs.FileInfo {
	return fileInfo{name, size, mode, mtime, sys}
}

type fileInfo struct {
	name  string
	size  int64
	mode  fs.FileMode
	mtime time.Time
	sys   any
}

func (i fileInfo) Name() string       { return i.name }
func (i fileInfo) Size() int64        { return i.size }
func (i fileInfo) Mode() fs.FileMode  { return i.mode }
func (i fileInfo) ModTime() time.Time { return i.mtime }
func (i fileInfo) IsDir() bool        { return i.mode.IsDir() }
func (i fileInfo) Sys() any           { return i.sys }
func (i fileInfo) String() string     { return fs.FormatFileInfo(i) }
