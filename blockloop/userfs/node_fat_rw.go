package userfs

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/loops-cli/loops/blockloop/fat"
)

// rwFS is what the nodes of a read-write FAT mount share.
type rwFS struct {
	vol      *fat.Volume
	uid, gid uint32
	umask    uint32
}

// rwNode is a file or directory of a read-write FAT mount: each FUSE
// request is one call of the writable volume (blockloop/fat.Volume).
type rwNode struct {
	gofs.Inode
	fs *rwFS
	n  *fat.Node
}

var (
	_ gofs.NodeGetattrer      = (*rwNode)(nil)
	_ gofs.NodeSetattrer      = (*rwNode)(nil)
	_ gofs.NodeLookuper       = (*rwNode)(nil)
	_ gofs.NodeOpendirHandler = (*rwNode)(nil)
	_ gofs.NodeReaddirer      = (*rwNode)(nil)
	_ gofs.NodeOpener         = (*rwNode)(nil)
	_ gofs.NodeCreater        = (*rwNode)(nil)
	_ gofs.NodeReader         = (*rwNode)(nil)
	_ gofs.NodeWriter         = (*rwNode)(nil)
	_ gofs.NodeFlusher        = (*rwNode)(nil)
	_ gofs.NodeFsyncer        = (*rwNode)(nil)
	_ gofs.NodeReleaser       = (*rwNode)(nil)
	_ gofs.NodeMkdirer        = (*rwNode)(nil)
	_ gofs.NodeUnlinker       = (*rwNode)(nil)
	_ gofs.NodeRmdirer        = (*rwNode)(nil)
	_ gofs.NodeRenamer        = (*rwNode)(nil)
	_ gofs.NodeStatfser       = (*rwNode)(nil)
	_ gofs.FileFsyncdirer     = (*rwDirHandle)(nil)
)

func (x *rwFS) node(n *fat.Node) *rwNode { return &rwNode{fs: x, n: n} }

func (n *rwNode) fill(a *fuse.Attr) {
	i := n.n.Stat()
	a.Ino = i.Ino
	a.Mode = i.UnixMode() &^ (n.fs.umask & 0o777)
	a.Nlink = 1
	if i.Mode.IsDir() {
		a.Nlink = 2
	}
	a.Size = uint64(i.Size)
	a.Blocks = (uint64(i.Size) + 511) / 512
	a.Blksize = uint32(n.fs.vol.ClusterSize())
	a.Uid, a.Gid = n.fs.uid, n.fs.gid
	m, at := i.ModTime, i.AccessTime
	a.SetTimes(&at, &m, &m)
}

func (n *rwNode) stable() gofs.StableAttr {
	i := n.n.Stat()
	return gofs.StableAttr{Mode: i.UnixMode() & syscall.S_IFMT, Ino: i.Ino}
}

func (n *rwNode) Getattr(ctx context.Context, f gofs.FileHandle, out *fuse.AttrOut) syscall.Errno {
	n.fill(&out.Attr)
	return 0
}

// Setattr: truncate, utimens, and chmod as vfat takes it (the owner's
// write bit is the read-only attribute); other owners are refused, as by
// vfat without "quiet".
func (n *rwNode) Setattr(ctx context.Context, f gofs.FileHandle, in *fuse.SetAttrIn, out *fuse.AttrOut) syscall.Errno {
	if uid, ok := in.GetUID(); ok && uid != n.fs.uid {
		return syscall.EPERM
	}
	if gid, ok := in.GetGID(); ok && gid != n.fs.gid {
		return syscall.EPERM
	}
	if size, ok := in.GetSize(); ok {
		if err := n.n.Truncate(int64(size)); err != nil {
			return rwErrno(err)
		}
	}
	var mt, at *time.Time
	now := time.Now()
	if t, ok := in.GetMTime(); ok {
		mt = &t
	} else if in.Valid&fuse.FATTR_MTIME_NOW != 0 {
		mt = &now
	}
	if t, ok := in.GetATime(); ok {
		at = &t
	} else if in.Valid&fuse.FATTR_ATIME_NOW != 0 {
		at = &now
	}
	if in.Valid&(fuse.FATTR_MTIME_NOW) != 0 && mt == nil {
		mt = &now
	}
	if mt != nil || at != nil {
		if err := n.n.SetTimes(mt, at); err != nil {
			return rwErrno(err)
		}
	}
	if mode, ok := in.GetMode(); ok && !n.n.IsDir() {
		if err := n.n.SetReadOnly(mode&0o200 == 0); err != nil {
			return rwErrno(err)
		}
	}
	n.fill(&out.Attr)
	return 0
}

func (n *rwNode) Statfs(ctx context.Context, out *fuse.StatfsOut) syscall.Errno {
	total, free := n.fs.vol.Clusters()
	bs := uint32(n.fs.vol.ClusterSize())
	out.Bsize, out.Frsize = bs, bs
	out.Blocks, out.Bfree, out.Bavail = uint64(total), uint64(free), uint64(free)
	out.NameLen = 255
	return 0
}

func (n *rwNode) child(ctx context.Context, c *fat.Node, out *fuse.EntryOut) *gofs.Inode {
	k := n.fs.node(c)
	k.fill(&out.Attr)
	return n.NewInode(ctx, k, k.stable())
}

func (n *rwNode) Lookup(ctx context.Context, name string, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	c, err := n.n.Lookup(name)
	if err != nil {
		return nil, rwErrno(err)
	}
	return n.child(ctx, c, out), 0
}

func (n *rwNode) entries() ([]fuse.DirEntry, syscall.Errno) {
	kids, err := n.n.List()
	if err != nil {
		return nil, rwErrno(err)
	}
	ents := make([]fuse.DirEntry, 0, len(kids))
	for _, k := range kids {
		i := k.Stat()
		ents = append(ents, fuse.DirEntry{Name: i.Name, Mode: i.UnixMode() & syscall.S_IFMT, Ino: i.Ino})
	}
	return ents, 0
}

func (n *rwNode) Readdir(ctx context.Context) (gofs.DirStream, syscall.Errno) {
	ents, errno := n.entries()
	if errno != 0 {
		return nil, errno
	}
	return gofs.NewListDirStream(ents), 0
}

// rwDirHandle is an open directory of a read-write mount: its listing at
// opendir, and fsync(2) of it syncs the volume (`loops umount` does so
// before unmounting).
type rwDirHandle struct {
	dirHandle
	vol *fat.Volume
}

func (d *rwDirHandle) Fsyncdir(ctx context.Context, flags uint32) syscall.Errno {
	return rwErrno(d.vol.Sync())
}

func (n *rwNode) OpendirHandle(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	kids, errno := n.entries()
	if errno != 0 {
		return nil, 0, errno
	}
	i := n.n.Stat()
	ents := make([]fuse.DirEntry, 0, len(kids)+2)
	ents = append(ents, fuse.DirEntry{Name: ".", Mode: syscall.S_IFDIR, Ino: i.Ino})
	ents = append(ents, fuse.DirEntry{Name: "..", Mode: syscall.S_IFDIR})
	ents = append(ents, kids...)
	for i := range ents {
		ents[i].Off = uint64(i + 1)
	}
	return &rwDirHandle{dirHandle: dirHandle{ents: ents}, vol: n.fs.vol}, 0, 0
}

// rwHandle is an open file; the node counts opens (an unlinked file keeps
// its clusters while open).
type rwHandle struct{}

func (n *rwNode) Open(ctx context.Context, flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if n.n.IsDir() {
		return nil, 0, syscall.EISDIR
	}
	if err := n.n.DataErr(); err != nil {
		return nil, 0, rwErrno(err)
	}
	if flags&syscall.O_TRUNC != 0 && flags&syscall.O_ACCMODE != syscall.O_RDONLY {
		if err := n.n.Truncate(0); err != nil {
			return nil, 0, rwErrno(err)
		}
	}
	n.n.Open()
	return &rwHandle{}, 0, 0
}

func (n *rwNode) Create(ctx context.Context, name string, flags uint32, mode uint32, out *fuse.EntryOut) (*gofs.Inode, gofs.FileHandle, uint32, syscall.Errno) {
	c, err := n.n.Create(name)
	if err != nil {
		return nil, nil, 0, rwErrno(err)
	}
	if mode&0o200 == 0 {
		c.SetReadOnly(true)
	}
	c.Open()
	return n.child(ctx, c, out), &rwHandle{}, 0, 0
}

func (n *rwNode) Read(ctx context.Context, f gofs.FileHandle, dest []byte, off int64) (fuse.ReadResult, syscall.Errno) {
	m, err := n.n.ReadAt(dest, off)
	if err != nil && !errors.Is(err, io.EOF) {
		return nil, rwErrno(err)
	}
	return dataResult(dest[:m]), 0
}

func (n *rwNode) Write(ctx context.Context, f gofs.FileHandle, data []byte, off int64) (uint32, syscall.Errno) {
	m, err := n.n.WriteAt(data, off)
	if err != nil {
		return uint32(m), rwErrno(err)
	}
	return uint32(m), 0
}

// Flush (each close(2)) has nothing to do: the data is on the image, and
// the file's chain and entry reach it at the next checkpoint (within a
// second, at fsync or at unmount). ENOSYS tells the kernel to send no more
// FLUSH requests to this mount: one round trip less per file closed.
func (n *rwNode) Flush(ctx context.Context, f gofs.FileHandle) syscall.Errno {
	return syscall.ENOSYS
}

// Fsync is a checkpoint of the volume (fat.Volume.Sync).
func (n *rwNode) Fsync(ctx context.Context, f gofs.FileHandle, flags uint32) syscall.Errno {
	return rwErrno(n.fs.vol.Sync())
}

func (n *rwNode) Release(ctx context.Context, f gofs.FileHandle) syscall.Errno {
	if _, ok := f.(*rwHandle); !ok {
		return 0
	}
	return rwErrno(n.n.Release())
}

func (n *rwNode) Mkdir(ctx context.Context, name string, mode uint32, out *fuse.EntryOut) (*gofs.Inode, syscall.Errno) {
	c, err := n.n.Mkdir(name)
	if err != nil {
		return nil, rwErrno(err)
	}
	return n.child(ctx, c, out), 0
}

func (n *rwNode) Unlink(ctx context.Context, name string) syscall.Errno {
	return rwErrno(n.n.Remove(name, false))
}

func (n *rwNode) Rmdir(ctx context.Context, name string) syscall.Errno {
	return rwErrno(n.n.Remove(name, true))
}

func (n *rwNode) Rename(ctx context.Context, name string, newParent gofs.InodeEmbedder, newName string, flags uint32) syscall.Errno {
	np, ok := newParent.(*rwNode)
	if !ok {
		return syscall.EXDEV
	}
	const noReplace, exchange = 1, 2 // RENAME_NOREPLACE, RENAME_EXCHANGE
	if flags&exchange != 0 {
		return syscall.EINVAL
	}
	return rwErrno(n.fs.vol.Rename(n.n, name, np.n, newName, flags&noReplace != 0))
}

// rwErrno is what the kernel gets for an error of the writable volume.
func rwErrno(err error) syscall.Errno {
	var e syscall.Errno
	switch {
	case err == nil:
		return 0
	case errors.As(err, &e):
		return e
	case errors.Is(err, fs.ErrNotExist):
		return syscall.ENOENT
	case errors.Is(err, fat.ErrClosed):
		return syscall.EROFS
	}
	return syscall.EIO
}
