package isofs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"syscall"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// fsys is what every node shares.
type fsys struct {
	img      *iso9660.Image
	fd       uintptr
	uid, gid uint32 // owner when there is no Rock Ridge
	rr       bool
	splice   bool
}

// node is one file, directory or symlink of the image.
type node struct {
	gofs.Inode
	fs *fsys
	e  *iso9660.Entry
}

var (
	_ gofs.NodeGetattrer      = (*node)(nil)
	_ gofs.NodeLookuper       = (*node)(nil)
	_ gofs.NodeOpendirHandler = (*node)(nil)
	_ gofs.NodeReaddirer      = (*node)(nil)
	_ gofs.NodeOpener         = (*node)(nil)
	_ gofs.NodeReader         = (*node)(nil)
	_ gofs.NodeReadlinker     = (*node)(nil)
	_ gofs.NodeStatfser       = (*node)(nil)
	_ gofs.NodeGetxattrer     = (*node)(nil)
	_ gofs.NodeListxattrer    = (*node)(nil)
	_ gofs.FileReaddirenter   = (*dirHandle)(nil)
	_ gofs.FileSeekdirer      = (*dirHandle)(nil)
	_ gofs.FileReleasedirer   = (*dirHandle)(nil)
)

// NewRoot is the root node of the filesystem of img, whose data is read
// from f (the image file: reads splice from it). Serve uses it; it is
// exported for callers that mount with their own go-fuse options.
func NewRoot(img *iso9660.Image, f *os.File, opts Options) gofs.InodeEmbedder {
	x := &fsys{img: img, fd: f.Fd(), rr: img.Tree() == iso9660.TreeRockRidge, splice: !opts.NoSplice}
	x.uid, x.gid = uint32(os.Getuid()), uint32(os.Getgid())
	if opts.SetOwner {
		x.uid, x.gid = opts.UID, opts.GID
	}
	return &node{fs: x, e: img.Root()}
}

func (n *node) fill(a *fuse.Attr) {
	e := n.e
	a.Ino = e.Ino
	a.Mode = e.UnixMode()
	a.Nlink = e.Nlink
	a.Size = uint64(e.Size)
	a.Blocks = (uint64(e.Size) + 511) / 512
	a.Blksize = iso9660.SectorSize
	a.Rdev = uint32(e.Rdev)
	if n.fs.rr {
		a.Uid, a.Gid = e.UID, e.GID
	} else {
		a.Uid, a.Gid = n.fs.uid, n.fs.gid
	}
	m := e.ModTime
	at, ct := e.AccessTime, e.ChangeTime
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
	out.Bsize = iso9660.SectorSize
	out.Frsize = iso9660.SectorSize
	out.Blocks = uint64(n.fs.img.Size()) / iso9660.SectorSize
	out.NameLen = 255
	return 0
}

func (n *node) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	if !n.e.IsDir() {
		return nil, syscall.ENOTDIR
	}
	c, err := n.e.Child(name)
	if err != nil {
		return nil, errno(err)
	}
	child := &node{fs: n.fs, e: c}
	child.fill(&out.Attr)
	return n.NewInode(ctx, child, gofs.StableAttr{Mode: c.UnixMode() & syscall.S_IFMT, Ino: c.Ino}), 0
}

func (n *node) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	kids, err := n.e.Entries()
	if err != nil {
		return nil, 0, errno(err)
	}
	ents := make([]fuse.DirEntry, 0, len(kids)+2)
	ents = append(ents, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: n.e.Ino})
	ents = append(ents, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	for _, k := range kids {
		ents = append(ents, fuse.DirEntry{Name: k.Name, Mode: k.UnixMode(), Ino: k.Ino})
	}
	for i := range ents {
		ents[i].Off = uint64(i + 1)
	}
	// FOPEN_CACHE_DIR: the kernel keeps the listing (the image is immutable).
	return &dirHandle{ents: ents}, fuse.FOPEN_CACHE_DIR | fuse.FOPEN_KEEP_CACHE, 0
}

// Readdir is used by go-fuse only when OpendirHandle is not; kept so the
// node is a complete directory.
func (n *node) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	kids, err := n.e.Entries()
	if err != nil {
		return nil, errno(err)
	}
	ents := make([]fuse.DirEntry, 0, len(kids))
	for _, k := range kids {
		ents = append(ents, fuse.DirEntry{Name: k.Name, Mode: k.UnixMode(), Ino: k.Ino})
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
	if !n.e.Mode.IsRegular() {
		return nil, 0, syscall.EINVAL
	}
	if n.e.DataErr() != nil {
		return nil, 0, errno(n.e.DataErr())
	}
	// KEEP_CACHE: pages read once stay valid across opens.
	return nil, fuse.FOPEN_KEEP_CACHE, 0
}

func (n *node) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	e := n.e
	if off >= e.Size || off < 0 || len(dest) == 0 {
		return fuse.ReadResultData(nil), 0
	}
	want := int64(len(dest))
	if rest := e.Size - off; want > rest {
		want = rest
	}
	if n.fs.splice {
		// Within one extent, hand the kernel the image range to splice.
		base := int64(0)
		for _, x := range e.Extents {
			if off < base+x.Length {
				if off+want <= base+x.Length {
					return fuse.ReadResultFd(n.fs.fd, x.Offset+off-base, int(want)), 0
				}
				break
			}
			base += x.Length
		}
	}
	m, err := e.ReaderAt().ReadAt(dest[:want], off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(m) == want) {
		return nil, syscall.EIO
	}
	return fuse.ReadResultData(dest[:m]), 0
}

func (n *node) Readlink(ctx context.Context) ([]byte, syscall.Errno) {
	if n.e.Mode&fs.ModeSymlink == 0 {
		return nil, syscall.EINVAL
	}
	return []byte(n.e.Target), 0
}

func (n *node) Getxattr(ctx context.Context, attr string, dest []byte) (uint32, syscall.Errno) {
	return 0, syscall.ENODATA
}

func (n *node) Listxattr(ctx context.Context, dest []byte) (uint32, syscall.Errno) {
	return 0, 0
}

// errno maps reader errors to what the kernel gets.
func errno(err error) syscall.Errno {
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, iso9660.ErrUnsupported):
		return syscall.EOPNOTSUPP
	}
	return syscall.EIO
}
