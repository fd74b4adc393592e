package userfs

import (
	"io"
	"time"
)

// Node is one file, directory or symbolic link of an image, as a reader of
// a format (iso9660, udf, fat, exfat) presents it. Each format has an
// adapter in this package (node_<format>.go); the FUSE server knows only
// Node.
type Node interface {
	// Attr is the node's attributes; called once per lookup.
	Attr() Attr
	// Entries lists a directory without "." and "..".
	Entries() ([]Node, error)
	// Child looks a name up in a directory (fs.ErrNotExist when absent).
	Child(name string) (Node, error)
	// ReaderAt reads a regular file's data.
	ReaderAt() io.ReaderAt
	// DataErr says why the data cannot be read, or nil.
	DataErr() error
}

// Attr are a node's attributes.
type Attr struct {
	Name string
	Ino  uint64 // stable, unique per file (hard links share one)
	Mode uint32 // POSIX st_mode: S_IFMT type bits and permissions
	Size int64
	// UID and GID are the image's, when Owned; formats without owners
	// (FAT, exFAT, ISO 9660 without Rock Ridge, UDF with "not set") leave
	// Owned false and the server applies the mount's owner.
	UID, GID uint32
	Owned    bool
	Nlink    uint32
	Rdev     uint64
	Mtime    time.Time
	Atime    time.Time // zero: Mtime
	Ctime    time.Time // zero: Mtime
	Target   string    // a symbolic link's target
	// Extents are the byte ranges of the image holding a regular file's
	// data, in order, when the format stores it plainly (the server then
	// splices reads from the image file); nil otherwise.
	Extents []Extent
}

// Extent is a byte range of the image holding part of a file's data; Zero
// extents are not stored and read as zeros.
type Extent struct {
	Offset, Length int64
	Zero           bool
}

// Tree is an image opened by a format reader.
type Tree struct {
	Root      Node
	Type      string // "iso9660", "udf", "vfat", "exfat"
	Label     string
	BlockSize int   // for statfs
	Size      int64 // bytes of the filesystem, for statfs
	// Metadata are image ranges the reader will read a lot of (NTFS's
	// $MFT), read ahead once the tree is served from a file.
	Metadata []Extent
}
