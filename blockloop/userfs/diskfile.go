package userfs

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	gofs "github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/layer"
)

// DiskFile is the name of the one file a disk mount holds: the virtual
// disk, read-only.
const DiskFile = "disk.raw"

// DiskSubtype is the FUSE subtype of disk mounts ("fuse.loops-disk" in
// /proc/self/mountinfo, the image as source).
const DiskSubtype = "loops-disk"

// ServeDisk serves the virtual disk of the VM image at imagePath (qcow2,
// vmdk, vhdx, vdi, vpc, with its backing chain) as one read-only file,
// mountpoint/DiskFile, for a loop device to read: mode 0400, owned by the
// serving user, without allow_other, so that only that user (root) reaches
// it. With opts.Layers, what is served is the top of those layers (an
// encrypted volume, unlocked with opts.Keys) over the image, or over its
// virtual disk with opts.Disk. Once the file has been opened, the server
// unmounts itself when its last user closes it (the loop device
// detached) and removes mountpoint. Needs root to mount; like
// `qemu-storage-daemon --export type=fuse`.
func ServeDisk(ctx context.Context, imagePath, mountpoint string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(imagePath)
	if err != nil {
		return nil, err
	}
	if opts.Layers == nil {
		opts.Disk = true
	}
	dev, err := openDevice(abs, opts)
	if err != nil {
		return nil, err
	}
	if opts.FsName == "" {
		opts.FsName = abs
	}
	opts.NoAllowOther = true
	now := time.Now()
	tree := &Tree{Type: DiskSubtype, BlockSize: 4096, Size: dev.Size()}
	df := &diskFile{d: dev, attr: Attr{Name: DiskFile, Ino: 2, Mode: syscall.S_IFREG | 0o400, Size: dev.Size(), Owned: true,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Nlink: 1, Mtime: now}}
	tree.Root = diskDir{file: df, attr: Attr{Name: "/", Ino: 1, Mode: syscall.S_IFDIR | 0o500, Owned: true,
		UID: uint32(os.Getuid()), GID: uint32(os.Getgid()), Nlink: 2, Mtime: now}}
	x := newFsys(tree, 0, opts)
	x.disk = df
	s, err := mount(ctx, x.newNode(tree.Root), DiskSubtypeOf(opts.Layers), mountpoint, opts, closeFunc(func() error {
		err := dev.Close()
		os.Remove(mountpoint)
		return err
	}))
	if err != nil {
		dev.Close()
		return nil, err
	}
	s.Tree = tree
	df.onLastClose = func() { go s.Unmount() }
	return s, nil
}

// DiskSubtypeOf is the FUSE subtype of a disk mount serving layers:
// DiskSubtype, then "+kind" for each ("loops-disk+luks"), so that
// mountinfo tells the stack.
func DiskSubtypeOf(layers []layer.Spec) string {
	s := DiskSubtype
	for _, l := range layers {
		s += "+" + string(l.Kind)
	}
	return s
}

// device is what a disk mount serves: a VM disk's virtual disk, or the
// top of a stack of layers.
type device interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// spanner is a device that can hand out ranges stored plainly in a file
// (a VM disk: for splicing).
type spanner interface {
	Span(off, n int64) (f *os.File, at int64, ok bool)
}

// openDevice opens the image at abs (a VM disk image with opts.Disk) and
// the layers of opts over it, zeroing opts.Keys.
func openDevice(abs string, opts Options) (device, error) {
	defer layer.Zero(opts.Keys)
	var base device
	if opts.Disk {
		d, err := disk.Open(abs)
		if err != nil {
			return nil, err
		}
		base = d
	} else {
		f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_CLOEXEC, 0)
		if err != nil {
			return nil, err
		}
		st, err := f.Stat()
		if err != nil {
			f.Close()
			return nil, err
		}
		base = sizedFile{f, st.Size()}
	}
	if opts.Layers == nil {
		return base, nil
	}
	top, err := layer.Open(base, base.Size(), opts.Layers, opts.Keys, opts.PVs...)
	if err != nil {
		base.Close()
		return nil, err
	}
	return stacked{top, base}, nil
}

// sizedFile is an image file as a device.
type sizedFile struct {
	*os.File
	size int64
}

func (f sizedFile) Size() int64 { return f.size }

// Span: every range of the image is in its file.
func (f sizedFile) Span(off, n int64) (*os.File, int64, bool) {
	return f.File, off, off >= 0 && n >= 0 && off <= f.size-n
}

// stacked is the top of layers over a base, closing both.
type stacked struct {
	layer.Device
	base device
}

func (s stacked) Close() error { return errors.Join(s.Device.Close(), s.base.Close()) }

// Span: where the layers leave a range plainly in a file (an LV's, an md
// array's), it is spliced from there.
func (s stacked) Span(off, n int64) (*os.File, int64, bool) {
	if sp, ok := s.Device.(spanner); ok {
		return sp.Span(off, n)
	}
	return nil, 0, false
}

type closeFunc func() error

func (f closeFunc) Close() error { return f() }

// diskDir is the mount's root: a directory holding DiskFile.
type diskDir struct {
	file *diskFile
	attr Attr
}

func (n diskDir) Attr() Attr            { return n.attr }
func (n diskDir) ReaderAt() io.ReaderAt { return nil }
func (n diskDir) DataErr() error        { return nil }
func (n diskDir) Entries() ([]Node, error) {
	return []Node{n.file}, nil
}
func (n diskDir) Child(name string) (Node, error) {
	if name != DiskFile {
		return nil, os.ErrNotExist
	}
	return n.file, nil
}

// diskFile is the virtual disk. It counts its opens: the last close after
// the first open ends the server.
type diskFile struct {
	d           device
	attr        Attr
	mu          sync.Mutex
	open        int
	onLastClose func()
}

func (f *diskFile) Attr() Attr                 { return f.attr }
func (f *diskFile) ReaderAt() io.ReaderAt      { return f.d }
func (f *diskFile) DataErr() error             { return nil }
func (f *diskFile) Entries() ([]Node, error)   { return nil, syscall.ENOTDIR }
func (f *diskFile) Child(string) (Node, error) { return nil, syscall.ENOTDIR }
func (f *diskFile) opened()                    { f.mu.Lock(); f.open++; f.mu.Unlock() }
func (f *diskFile) released() (last bool) {
	f.mu.Lock()
	f.open--
	last = f.open == 0
	f.mu.Unlock()
	return
}

var _ gofs.FileReleaser = (*diskHandle)(nil)

// diskHandle is an open DiskFile.
type diskHandle struct{ f *diskFile }

func (h *diskHandle) Release(ctx context.Context) syscall.Errno {
	if h.f.released() && h.f.onLastClose != nil {
		h.f.onLastClose()
	}
	return 0
}

// read serves a read of the virtual disk: a range stored plainly in the
// image file (an uncompressed qcow2 run) is handed to the kernel to splice
// when it starts on a page; the rest is read by the format's reader.
func (f *diskFile) read(dest []byte, off int64, splice bool) (fuse.ReadResult, syscall.Errno) {
	size := f.d.Size()
	if off >= size || off < 0 || len(dest) == 0 {
		return dataResult(nil), 0
	}
	want := min(int64(len(dest)), size-off)
	if splice {
		if sp, ok := f.d.(spanner); ok {
			if file, at, ok := sp.Span(off, want); ok && at%spliceAlign == 0 {
				return fuse.ReadResultFd(file.Fd(), at, int(want)), 0
			}
		}
	}
	n, err := f.d.ReadAt(dest[:want], off)
	if err != nil && !(errors.Is(err, io.EOF) && int64(n) == want) {
		return nil, syscall.EIO
	}
	return dataResult(dest[:n]), 0
}

// openDisk opens DiskFile: read-only, counted.
func (x *fsys) openDisk(flags uint32) (gofs.FileHandle, uint32, syscall.Errno) {
	if flags&(syscall.O_WRONLY|syscall.O_RDWR|syscall.O_TRUNC|syscall.O_APPEND) != 0 {
		return nil, 0, syscall.EROFS
	}
	x.disk.opened()
	return &diskHandle{x.disk}, fuse.FOPEN_KEEP_CACHE, 0
}
