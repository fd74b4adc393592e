package userfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"sync"
	"sync/atomic"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
)

// spliceMin is the smallest read spliced from the image: a smaller one is
// read with pread and answered with one writev, two system calls where a
// splice takes five (pipe, header, file to pipe, pipe to /dev/fuse, its
// size), which cost more than copying a few pages.
const spliceMin = 64 << 10

// spliceAlign is the alignment of the image offsets reads are spliced
// from: the page size.
var spliceAlign = int64(os.Getpagesize())

// fsys is what every node of a mount shares.
type fsys struct {
	tree     *Tree
	fd       uintptr // the image file, for splicing
	base     int64   // where the filesystem starts in it
	uid, gid uint32  // owner of nodes whose format records none
	umask    uint32  // permissions taken from nodes without owners
	splice   bool
	disk     *diskFile // a disk mount's one file, counted on open
	log      func(string)
	logged   sync.Map // paths whose failure was logged, once each
	nlogged  atomic.Int32
}

// maxLogged bounds the failures a mount logs.
const maxLogged = 1000

// fail logs, once per path, that op on n failed with err (a file whose data
// lies past the end of a truncated image, a damaged directory), and
// returns the errno the kernel gets.
func (x *fsys) fail(n *node, op string, err error) syscall.Errno {
	e := errno(err)
	if x.log == nil || e == syscall.ENOENT {
		return e
	}
	p := "/" + n.Path(nil)
	if _, dup := x.logged.LoadOrStore(op+" "+p, true); dup || x.nlogged.Add(1) > maxLogged {
		return e
	}
	x.log(fmt.Sprintf("%s %s: %s: %v", op, p, e, err))
	return e
}

// node is one file, directory or symlink of the image.
type node struct {
	gofs.Inode
	fs   *fsys
	n    Node
	attr Attr
}

var (
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeReaddirer      = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeReader         = (*node)(nil)
	_ gofs.NodeFlusher        = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.FileReaddirenter   = (*dirHandle)(nil)
	_ gofs.FileSeekdirer      = (*dirHandle)(nil)
	_ gofs.FileReleasedirer   = (*dirHandle)(nil)
)

func (x *fsys) newNode(n Node) *node { return &node{fs: x, n: n, attr: x.attrOf(n)} }

// attrOf is n's attributes as the mount shows them: the mount's owner and
// umask for a node whose format records no owner.
func (x *fsys) attrOf(n Node) Attr {
	a := n.Attr()
	if !a.Owned {
		a.UID, a.GID = x.uid, x.gid
		a.Mode &^= x.umask & 0o7777
	}
	return a
}

func (n *node) isDir() bool { return n.attr.Mode&syscall.S_IFMT == syscall.S_IFDIR }

func (n *node) fill(a *fuse.Attr) {
	e := &n.attr
	a.Ino = e.Ino
	a.Mode = e.Mode
	a.Nlink = e.Nlink
	a.Size = uint64(e.Size)
	a.Blocks = (uint64(e.Size) + 511) / 512
	a.Blksize = uint32(n.fs.tree.BlockSize)
	a.Rdev = uint32(e.Rdev)
	a.Uid, a.Gid = e.UID, e.GID
	m := e.Mtime
	at, ct := e.Atime, e.Ctime
	if at.IsZero() {
		at = m
	}
	if ct.IsZero() {
		ct = m
	}
	a.SetTimes(&at, &m, &ct)
}

func (n *node) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	return 0
}

func (n *node) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	bs := uint64(max(n.fs.tree.BlockSize, 1))
	out.Bsize = uint32(bs)
	out.Frsize = uint32(bs)
	out.Blocks = uint64(n.fs.tree.Size) / bs
	out.NameLen = 255
	return 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !n.isDir() {
		return nil, syscall.ENOTDIR
	}
	c, err := n.n.Child(name)
	if err != nil {
		return nil, n.fs.fail(n, "list", err)
	}
	child := n.fs.newNode(c)
	child.fill(&out.Attr)
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: child.attr.Mode & syscall.S_IFMT, Ino: child.attr.Ino}), 0
}

// dirEntries lists the directory as FUSE entries, without "." and "..".
func (n *node) dirEntries() ([]fuse.DirEntry, error) {
	kids, err := n.n.Entries()
	if err != nil {
		return nil, err
	}
	ents := make([]fuse.DirEntry, 0, len(kids)+2)
	pre := prefetch{fd: int(n.fs.fd), base: n.fs.base, max: prefetchDirMax, gap: prefetchGap}
	for _, k := range kids {
		a := k.Attr()
		ents = append(ents, fuse.DirEntry{Name: a.Name, Mode: a.Mode, Ino: a.Ino})
		if a.Mode&syscall.S_IFMT == syscall.S_IFREG {
			pre.file(a)
		}
	}
	pre.start()
	return ents, nil
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	kids, err := n.dirEntries()
	if err != nil {
		return nil, 0, n.fs.fail(n, "list", err)
	}
	ents := make([]fuse.DirEntry, 0, len(kids)+2)
	ents = append(ents, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.attr.Ino})
	ents = append(ents, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	ents = append(ents, kids...)
	for i := range ents {
		ents[i].Off = uint64(i + 1)
	}
	// FOPEN_CACHE_DIR: the kernel keeps the listing (the image is immutable).
	return &dirHandle{ents: ents}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// Readdir is used by go-fuse only when OpendirHandle is not; kept so the
// node is a complete directory.
func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, err := n.dirEntries()
	if err != nil {
		return nil, n.fs.fail(n, "list", err)
	}
	return gofs.NewListDirStream(ents), 0
}

// dirHandle is an open directory: its listing, read in order.
type dirHandle struct {
	ents []fuse.DirEntry
	pos  int
}

func (d *dirHandle) Readdirent(ctx context.Context) (*fuse.DirEntry, syscall.Errno) {
	if d.pos >= len(d.ents) {
		return nil, 0
	}
	e := d.ents[d.pos]
	d.pos++
	return &e, 0
}

func (d *dirHandle) Seekdir(ctx context.Context, off uint64) syscall.Errno {
	if off > uint64(len(d.ents)) {
		off = uint64(len(d.ents))
	}
	d.pos = int(off)
	return 0
}

func (d *dirHandle) Releasedir(ctx context.Context, releaseFlags uint32) {}

func (n *node) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	if n.attr.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, syscall.EINVAL
	}
	if n.fs.disk != nil && n.n == Node(n.fs.disk) {
		return n.fs.openDisk(flags)
	}
	// Nothing to do per open: ENOSYS tells the kernel (FUSE_NO_OPEN_SUPPORT)
	// to stop sending OPEN and RELEASE for this mount and to keep the pages
	// it read across opens (what FOPEN_KEEP_CACHE asks): two round trips
	// fewer per file. A file whose data cannot be read fails its reads.
	return nil, 0, syscall.ENOSYS
}

// Flush answers ENOSYS: the kernel then sends no FLUSH on close (the
// mount is read-only: there is nothing to flush).
func (n *node) Flush(ctx context.Context, f gofs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

func (n *node) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	if n.fs.disk != nil && n.n == Node(n.fs.disk) {
		return n.fs.disk.read(dest, off, n.fs.splice)
	}
	if err := n.n.DataErr(); err != nil {
		return nil, n.fs.fail(n, "read", err)
	}
	size := n.attr.Size
	if off >= size || off < 0 || len(dest) == 0 {
		return dataResult(nil), 0
	}
	want := int64(len(dest))
	if rest := size - off; want > rest {
		want = rest
	}
	if n.fs.splice && want >= spliceMin {
		// Within one stored extent, hand the kernel the image range to
		// splice, when it starts on a page: go-fuse sizes its pipe for the
		// data plus one page, so a range starting mid-page would come back
		// short, and the kernel takes a short read for the end of the file
		// (and shrinks it). Other ranges are read by pread below.
		base := int64(0)
		for _, x := range n.attr.Extents {
			if off < base+x.Length {
				at := n.fs.base + x.Offset + off - base
				// Never past the image's end (a truncated image): the
				// kernel would take the short splice for the file's end.
				if off+want <= base+x.Length && !x.Zero && at%spliceAlign == 0 && x.Offset+off-base+want <= n.fs.tree.Size {
					return fuse.ReadResultFd(n.fs.fd, at, int(want)), 0
				}
				break
			}
			base += x.Length
		}
	}
	m, err := n.n.ReaderAt().ReadAt(dest[:want], off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(m) == want) {
		n.fs.fail(n, "read", err)
		return nil, syscall.EIO
	}
	return dataResult(dest[:m]), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.attr.Mode&syscall.S_IFMT != syscall.S_IFLNK {
		return nil, syscall.EINVAL
	}
	return []byte(n.attr.Target), 0
}

// Getxattr gives the value of an extended attribute (NTFS streams are
// user.* ones); a dest of 0 bytes asks for the size.
func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	x, ok := n.n.(xattrEntry)
	if !ok {
		return 0, syscall.ENODATA
	}
	v, err := x.Xattr(attr)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return 0, syscall.ENODATA
	case err != nil:
		return 0, errno(err)
	case len(dest) == 0:
		return uint32(len(v)), 0
	case len(dest) < len(v):
		return 0, syscall.ERANGE
	}
	return uint32(copy(dest, v)), 0
}

// Listxattr lists the extended attribute names, each NUL-terminated.
func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	x, ok := n.n.(xattrEntry)
	if !ok {
		return 0, 0
	}
	var b []byte
	for _, name := range x.Xattrs() {
		b = append(append(b, name...), 0)
	}
	switch {
	case len(dest) == 0:
		return uint32(len(b)), 0
	case len(dest) < len(b):
		return 0, syscall.ERANGE
	}
	return uint32(copy(dest, b)), 0
}

// dataResult is a read's reply from memory. A vector, not
// fuse.ReadResultData: go-fuse tries to splice any other result, and for
// bytes in memory that costs three system calls (the header into a pipe,
// then drained back out) before the one writev that answers.
func dataResult(b []byte) fuse.ReadResult {
	if len(b) == 0 {
		return fuse.ReadResultVector(nil)
	}
	return fuse.ReadResultVector([][]byte{b})
}

// errno maps reader errors to what the kernel gets.
func errno(err error) syscall.Errno {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fs.ErrPermission):
		return syscall.EACCES
	case errors.Is(err, errors.ErrUnsupported):
		return syscall.EOPNOTSUPP
	}
	return syscall.EIO
}
