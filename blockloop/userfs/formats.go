package userfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"sort"

	gofs "github.com/hanwen/go-fuse/v2/fs"
)

// format opens one reader's tree; a feature it does not implement is an
// error matching errors.ErrUnsupported.
type format func(r io.ReaderAt, size int64, opts Options) (*Tree, error)

// formats are the readers, by the filesystem type blkid names.
var formats = map[string]format{
	"iso9660": openISO9660,
	"vfat":    openFAT,
	"exfat":   openExFAT,
	"udf":     openUDF,
	"ntfs":    openNTFS,
}

// Types lists the filesystem types the server can serve, sorted.
func Types() []string {
	out := make([]string, 0, len(formats))
	for t := range formats {
		out = append(out, t)
	}
	sort.Strings(out)
	return out
}

// ErrUnknownType is returned by Open for a type no reader serves.
var ErrUnknownType = errors.New("no userspace reader for this filesystem type")

// Open reads the filesystem of type opts.Type ("" for iso9660) from r.
func Open(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	typ := opts.Type
	if typ == "" {
		typ = "iso9660"
	}
	f, ok := formats[typ]
	if !ok {
		return nil, fmt.Errorf("%s: %w", typ, ErrUnknownType)
	}
	return f(r, size, opts)
}

// NewRoot is the root node of the filesystem of tree, whose data is read
// from f (the image file, the filesystem at opts.Offset: reads splice from
// it). Serve uses it; it is exported for callers that mount with their own
// go-fuse options.
func NewRoot(tree *Tree, f *os.File, opts Options) gofs.InodeEmbedder { return newRoot(tree, f, opts) }

func newRoot(tree *Tree, f *os.File, opts Options) *node {
	return newFsys(tree, f.Fd(), opts).newNode(tree.Root)
}

// newFsys is what the nodes of a mount of tree share; fd is the image file
// reads splice from.
func newFsys(tree *Tree, fd uintptr, opts Options) *fsys {
	x := &fsys{tree: tree, fd: fd, base: opts.Offset, splice: !opts.NoSplice, umask: opts.Umask, log: opts.Log}
	x.uid, x.gid = uint32(os.Getuid()), uint32(os.Getgid())
	if opts.SetOwner {
		x.uid, x.gid = opts.UID, opts.GID
	}
	return x
}
