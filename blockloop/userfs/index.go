package userfs

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"syscall"

	"github.com/loops-cli/loops/blockloop/erofs"
)

// ErrNotIndexable is a filesystem the EROFS index route cannot describe
// (a file whose data the reader cannot read, a VM disk image); the FUSE
// route serves it.
var ErrNotIndexable = errors.New("cannot be served through an EROFS index")

// WriteIndex writes to w an EROFS index of the filesystem in f (at
// opts.Offset, of opts.Type): the tree exactly as Serve would show it
// (names, owners and modes with opts' owner and umask, mtimes, link
// counts, symlinks) whose file data stays in f, device 1 of the index
// (mount -t erofs -o ro,device=IMAGE INDEX DIR). Data the format does not
// store plainly (UDF embedded files) is copied into the index. EROFS keeps
// one time per inode: atime and ctime show the mtime. compactMtime: the
// kernel reads compact inodes' own mtimes (Linux 6.15 and later).
// Needs read access to f.
func WriteIndex(w io.Writer, f *os.File, opts Options, compactMtime bool) (erofs.Info, error) {
	if opts.Disk {
		return erofs.Info{}, fmt.Errorf("a VM disk image's data is not in its file: %w", ErrNotIndexable)
	}
	st, err := f.Stat()
	if err != nil {
		return erofs.Info{}, err
	}
	if !st.Mode().IsRegular() {
		return erofs.Info{}, fmt.Errorf("%s is not a regular file: %w", f.Name(), ErrNotIndexable)
	}
	size, err := section(f.Name(), st.Size(), opts)
	if err != nil {
		return erofs.Info{}, err
	}
	tree, err := Open(io.NewSectionReader(f, opts.Offset, size), size, opts)
	if err != nil {
		return erofs.Info{}, fmt.Errorf("userfs: %s: %w", f.Name(), err)
	}
	x := newFsys(tree, 0, opts)
	pre := &prefetch{fd: int(f.Fd()), base: opts.Offset, max: prefetchIndexMax, gap: prefetchGap}
	root, err := indexTree(x, tree.Root, opts.LargeTree, pre)
	if err != nil {
		return erofs.Info{}, fmt.Errorf("userfs: %s: %w", f.Name(), err)
	}
	info, err := erofs.Write(w, root, erofs.Options{
		DeviceSize: opts.Offset + size, Device: f, Offset: opts.Offset,
		CompactMtime: compactMtime, Label: tree.Label, Unit: tree.BlockSize,
	})
	if err == nil {
		pre.submit()
	}
	return info, err
}

// LargeTreeNodes is when WriteIndex calls Options.LargeTree.
const LargeTreeNodes = 20000

// indexTree describes the tree under root for erofs.Write, each node with
// the attributes the FUSE route shows (fsys.attrOf). Names sharing an
// inode number and a link count above one become hard links when their
// attributes agree.
func indexTree(x *fsys, root Node, large func(), pre *prefetch) (*erofs.Node, error) {
	type todo struct {
		n    Node
		e    *erofs.Node
		path string
	}
	out := indexNode(x.attrOf(root))
	links := map[uint64]*erofs.Node{}
	stack := []todo{{root, out, ""}}
	names := 0
	for len(stack) > 0 {
		if names > LargeTreeNodes && large != nil {
			large()
			large = nil
		}
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids, err := d.n.Entries()
		if err != nil {
			return nil, fmt.Errorf("%s/: %w", d.path, err)
		}
		d.e.Children = make([]*erofs.Node, 0, len(kids))
		names += len(kids)
		for _, k := range kids {
			a := x.attrOf(k)
			e := indexNode(a)
			switch a.Mode & syscall.S_IFMT {
			case syscall.S_IFDIR:
				stack = append(stack, todo{k, e, d.path + "/" + a.Name})
			case syscall.S_IFREG:
				if err := k.DataErr(); err != nil {
					return nil, fmt.Errorf("%s/%s: %w (%w)", d.path, a.Name, ErrNotIndexable, err)
				}
				if e.Extents == nil && e.Size > 0 {
					e.Data = k.ReaderAt()
				} else if pre != nil {
					pre.file(a)
				}
				if a.Nlink > 1 {
					if first := links[a.Ino]; first == nil {
						links[a.Ino] = e
					} else if sameLinked(first, e) {
						first.Link, e.Link = a.Ino+1, a.Ino+1
					}
				}
			}
			d.e.Children = append(d.e.Children, e)
		}
	}
	return out, nil
}

// indexNode is one node's attributes as erofs.Write takes them; extents
// that do not add up to the size leave the data to be copied.
func indexNode(a Attr) *erofs.Node {
	e := &erofs.Node{
		Name: a.Name, Mode: a.Mode, UID: a.UID, GID: a.GID, Mtime: a.Mtime, Nlink: a.Nlink,
		Rdev: a.Rdev, Size: a.Size, Target: a.Target,
	}
	if a.Mode&syscall.S_IFMT != syscall.S_IFREG {
		e.Size = 0
		return e
	}
	var sum int64
	xs := make([]erofs.Extent, 0, len(a.Extents))
	for _, x := range a.Extents {
		xs = append(xs, erofs.Extent{Offset: x.Offset, Length: x.Length, Zero: x.Zero})
		sum += x.Length
	}
	if len(xs) > 0 && sum == a.Size {
		e.Extents = xs
	}
	return e
}

// sameLinked tells whether two names can be one inode.
func sameLinked(a, b *erofs.Node) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Mtime.Equal(b.Mtime) &&
		a.Size == b.Size && a.Nlink == b.Nlink && slices.Equal(a.Extents, b.Extents) && a.Extents != nil
}
