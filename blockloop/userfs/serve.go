// Package userfs serves a filesystem image read by one of loops' own
// readers (iso9660, udf, fat, exfat) as a read-only FUSE filesystem, with
// github.com/hanwen/go-fuse/v2. It is the userspace path of `loops mount
// IMAGE DIR` where the kernel has no driver for the image's filesystem (or
// with --fuse). A reader joins by an adapter to [Node] (node_<format>.go)
// and a line in the formats table (formats.go). FAT is also served
// read-write ([ServeFATReadWrite], Options.ReadWrite: node_fat_rw.go over
// blockloop/fat's Volume), for `loops mount --rw`.
//
// [Serve] (or [ServeFile]) mounts and returns once the mount is live; the
// returned [Server] unmounts when its context is cancelled, and
// [Server.Wait] returns when the filesystem is unmounted by anyone (umount,
// fusermount -u, loops umount). A read-only filesystem holds no state: a
// crash loses nothing (the mount is then left ENOTCONN until unmounted).
//
// The mount is "fuse.<type>" in /proc/self/mountinfo (fuse.iso9660,
// fuse.udf, fuse.vfat, fuse.exfat), its source the image path, with
// ro,nosuid,nodev and default_permissions (the kernel enforces the modes
// and owners served, as with a kernel mount), and allow_other when served
// by root (a root mount is shared, as kernel mounts are; a user's own mount
// is reachable by that user only).
//
// Owners and modes come from the image where its format records them (Rock
// Ridge, UDF with a uid set); otherwise every file belongs to the mounting
// user (or Options.UID/GID, as mount's uid=/gid=) with the reader's modes
// less Options.Umask, as the kernel's vfat, exfat, isofs and udf drivers do.
//
// Inode numbers are stable (from the reader); entries, attributes,
// listings and file data are cached by the kernel with long timeouts (the
// image is immutable); reads of 64 KiB and more of plainly stored data are
// spliced straight from the image file, others are served by the reader
// (pread, one writev to answer), up to 512 KiB per request, with a 4 MiB
// kernel readahead when served by root.
package userfs

import (
	"context"
	"errors"
	"fmt"
	"github.com/loops-cli/loops/blockloop/layer"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/hanwen/go-fuse/v2/fs"
	"github.com/hanwen/go-fuse/v2/fuse"
	"golang.org/x/sys/unix"

	// The fast decompressors (and zstd's, which has no other) for VM disk
	// images: this package serves them in bulk.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/blockloop/exfat"
	"github.com/loops-cli/loops/blockloop/fat"
	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/udf"
)

// FSType is the filesystem type in /proc/self/mountinfo of a mount of an
// image of type typ ("fuse.iso9660").
func FSType(typ string) string { return "fuse." + typ }

// Options tune Serve. The zero value is right for `loops mount`.
type Options struct {
	// Type is the image's filesystem type, one of Types(); "" is iso9660.
	Type string
	// Offset and SizeLimit select the filesystem inside the image (a
	// partition); SizeLimit 0 is to the end.
	Offset, SizeLimit int64
	// Mountpoint is where the tree is mounted, for readers that show link
	// targets below it (NTFS junctions, as ntfs-3g does). Default: the
	// mount point Serve is given, made absolute.
	Mountpoint string
	// FsName is the mount source shown in mountinfo. Default: the absolute
	// image path.
	FsName string
	// Owner of every file of an image whose format records none (FAT,
	// exFAT, ISO 9660 without Rock Ridge, UDF with "not set"), as mount's
	// uid=/gid=. Default (when SetOwner is false): the user serving the
	// mount.
	UID, GID uint32
	SetOwner bool
	// Umask is taken from the modes of files without owners, as mount's
	// umask= (vfat, exfat); 0 leaves the reader's modes (0644/0755 for
	// FAT, 0444/0555 for ISO 9660) as they are.
	Umask uint32
	// NoAllowOther keeps a mount made by root private to root. By default
	// root mounts with allow_other (a user's `sudo loops mount` is meant to
	// be seen by the user); other users never do.
	NoAllowOther bool
	// CacheTimeout is how long the kernel may cache entries and attributes.
	// Default 24h: the image does not change under the mount.
	CacheTimeout time.Duration
	// MaxRead is the largest read request, in bytes (max_read). Default
	// 512 KiB: measured fastest here, and a spliced reply of it fits the
	// default 1 MiB pipe limit (a 1 MiB reply plus its header does not, and
	// go-fuse then falls back to a copy).
	MaxRead int
	// ReadAheadKB is the kernel readahead of the mount, set through
	// /sys/class/bdi/<dev>/read_ahead_kb when allowed (root). The FUSE
	// protocol caps it at 128 KiB otherwise, and sequential reads then cost
	// one request per 128 KiB. Default 4096; negative leaves it alone.
	ReadAheadKB int
	// NoSplice serves reads by pread into a buffer instead of splicing
	// from the image file.
	NoSplice bool
	// Disk: the image is a VM disk (qcow2, vmdk, vhdx, vdi, vpc); the
	// filesystem is read from its virtual disk at Offset.
	Disk bool
	// Layers are opened over the image (or its virtual disk) before the
	// filesystem at Offset is read: an encrypted volume; Keys are their
	// keys, zeroed once used.
	Layers []layer.Spec
	Keys   [][]byte
	// PVs are the files an "lvm" layer names as "fN" (its VG's PVs that
	// are not in the image).
	PVs []layer.Source
	// The readers' options (limits, iso9660's tree choice, FAT's time
	// zone), each passed to the reader of its type.
	ISO9660 iso9660.Options
	UDF     udf.Options
	FAT     fat.Options
	ExFAT   exfat.Options
	// Debug logs every FUSE request.
	Debug bool
	// ReadWrite serves a FAT image read-write (see ServeFATReadWrite);
	// every other type, and FAT without it, is read-only.
	ReadWrite bool
	// Log, when set, is told of each file or directory that fails to read
	// (once per path, at most 1000): "read /dir/file: input/output error:
	// REASON" (a file whose data lies past the end of a truncated image).
	Log func(string)
	// LargeTree, when set, is called once by WriteIndex when the tree it
	// describes passes LargeTreeNodes names, before the rest is read (a
	// server may then prepare for a large heap).
	LargeTree func()
}

// Server is a live mount.
type Server struct {
	Mountpoint string
	Tree       *Tree
	// Dirty: a read-write FAT volume was found not cleanly unmounted.
	Dirty bool

	fuse    *fuse.Server
	done    chan struct{}
	mu      sync.Mutex // serializes Unmount
	stopCtx context.CancelFunc
}

// Serve opens the image at imagePath read-only, opens its filesystem with
// the reader of opts.Type, and mounts it on mountpoint. It returns once the
// kernel answered the FUSE handshake, so the mount is usable; on error
// nothing is left mounted or open. The mount is unmounted when ctx is
// cancelled. With opts.Disk the image is a VM disk (qcow2, vmdk, vhdx,
// vdi, vpc) and the filesystem is read from its virtual disk.
func Serve(ctx context.Context, imagePath, mountpoint string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(imagePath)
	if err != nil {
		return nil, err
	}
	if opts.FsName == "" {
		opts.FsName = abs
	}
	if opts.Disk || opts.Layers != nil {
		return serveInDisk(ctx, abs, mountpoint, opts)
	}
	if opts.ReadWrite {
		return ServeFATReadWrite(ctx, abs, mountpoint, opts)
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	s, err := ServeFile(ctx, f, mountpoint, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
}

// serveInDisk serves the filesystem at opts.Offset of a VM disk's virtual
// disk, or of the top of opts.Layers (no splicing: the data is not
// plainly in a file).
func serveInDisk(ctx context.Context, abs, mountpoint string, opts Options) (*Server, error) {
	d, err := openDevice(abs, opts)
	if err != nil {
		return nil, fmt.Errorf("userfs: %w", err)
	}
	size, err := section(abs, d.Size(), opts)
	if err != nil {
		d.Close()
		return nil, err
	}
	opts.Mountpoint = mountpointFor(opts, mountpoint)
	tree, err := Open(io.NewSectionReader(d, opts.Offset, size), size, opts)
	if err != nil {
		d.Close()
		return nil, fmt.Errorf("userfs: %s: %w", abs, err)
	}
	opts.NoSplice = true
	subtype := tree.Type
	for _, l := range opts.Layers {
		// Decrypted data: root's alone (no allow_other) when root
		// serves it; "+luks" in the subtype tells the stack.
		opts.NoAllowOther = true
		subtype += "+" + string(l.Kind)
	}
	x := newFsys(tree, 0, opts)
	s, err := mount(ctx, x.newNode(tree.Root), subtype, mountpoint, opts, d)
	if err != nil {
		d.Close()
		return nil, err
	}
	s.Tree = tree
	return s, nil
}

// mountpointFor is opts.Mountpoint, or mountpoint made absolute.
func mountpointFor(opts Options, mountpoint string) string {
	if opts.Mountpoint != "" {
		return opts.Mountpoint
	}
	if abs, err := filepath.Abs(mountpoint); err == nil {
		return abs
	}
	return mountpoint
}

// section is the size of the filesystem at opts.Offset, at most
// opts.SizeLimit, in an image of size bytes.
func section(name string, size int64, opts Options) (int64, error) {
	if opts.Offset < 0 || opts.SizeLimit < 0 || opts.Offset > size {
		return 0, fmt.Errorf("userfs: %s: offset %d, size limit %d outside the image (%d bytes)", name, opts.Offset, opts.SizeLimit, size)
	}
	if opts.SizeLimit > 0 && opts.SizeLimit < size-opts.Offset {
		return opts.SizeLimit, nil
	}
	return size - opts.Offset, nil
}

// ServeFile is Serve on an image already open (so that the caller probes and
// serves the same file). The Server owns f from then on and closes it when
// unmounted; on error the caller still owns it.
func ServeFile(ctx context.Context, f *os.File, mountpoint string, opts Options) (*Server, error) {
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if !st.Mode().IsRegular() && st.Mode()&os.ModeDevice == 0 {
		return nil, fmt.Errorf("userfs: %s is not a regular file", f.Name())
	}
	size := st.Size()
	if st.Mode()&os.ModeDevice != 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	if size, err = section(f.Name(), size, opts); err != nil {
		return nil, err
	}
	opts.Mountpoint = mountpointFor(opts, mountpoint)
	tree, err := Open(io.NewSectionReader(f, opts.Offset, size), size, opts)
	if err != nil {
		return nil, fmt.Errorf("userfs: %s: %w", f.Name(), err)
	}
	if opts.FsName == "" {
		opts.FsName = f.Name()
	}
	x := newFsys(tree, f.Fd(), opts)
	meta := prefetch{fd: int(f.Fd()), base: opts.Offset, max: prefetchMetaMax}
	meta.extents(tree.Metadata)
	meta.start()
	s, err := mount(ctx, x.newNode(tree.Root), tree.Type, mountpoint, opts, f)
	if err != nil {
		return nil, err
	}
	s.Tree = tree
	return s, nil
}

// rootNode is a mount's root: a read-only node or a read-write FAT one.
type rootNode interface {
	fs.InodeEmbedder
	rootIno() uint64
}

func (n *node) rootIno() uint64 { return n.attr.Ino }

// mount mounts root on mountpoint as "fuse.<subtype>" and serves it until
// it is unmounted or ctx ends; closer (the image) is closed after. It is
// read-only unless opts.ReadWrite; then the kernel caches entries and
// attributes for a second only.
func mount(ctx context.Context, root rootNode, subtype, mountpoint string, opts Options, closer io.Closer) (*Server, error) {
	if err := checkFuse(); err != nil {
		return nil, err
	}
	timeout := opts.CacheTimeout
	if timeout <= 0 {
		timeout = 24 * time.Hour
	}
	maxRead := opts.MaxRead
	if maxRead <= 0 {
		maxRead = 512 << 10
	}
	mo := fuse.MountOptions{
		FsName: opts.FsName,
		Name:   subtype,
		// default_permissions: the kernel checks every access against the
		// modes and owners served, as it does for a kernel mount of the
		// same image (without it any user could read a 0600 file).
		Options:              []string{"ro", "nosuid", "nodev", "default_permissions"},
		DirectMount:          true, // mount(2) when root, else fusermount
		DirectMountFlags:     unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV,
		AllowOther:           os.Geteuid() == 0 && !opts.NoAllowOther,
		MaxWrite:             maxRead, // also max_read and max_pages
		MaxReadAhead:         maxRead,
		MaxBackground:        64,
		EnableSymlinkCaching: true,
		// Only NTFS has extended attributes (its streams, as user.*): the
		// others answer none without a round trip.
		DisableXAttrs:        subtype != "ntfs",
		IgnoreSecurityLabels: true,
		DisableSplice:        opts.NoSplice,
		Debug:                opts.Debug,
	}
	negative := timeout
	if opts.ReadWrite {
		mo.Options[0] = "rw"
		mo.DirectMountFlags &^= unix.MS_RDONLY
		timeout, negative = time.Second, 0
	}
	srv, err := fs.Mount(mountpoint, root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &negative,
		RootStableAttr:  &fs.StableAttr{Ino: root.rootIno(), Mode: syscall.S_IFDIR},
	})
	if err != nil {
		return nil, fmt.Errorf("userfs: mount %s on %s: %w", opts.FsName, mountpoint, explainMountErr(err))
	}
	setReadAhead(mountpoint, opts.ReadAheadKB)
	s := &Server{Mountpoint: mountpoint, fuse: srv, done: make(chan struct{})}
	go func() {
		srv.Wait()
		closer.Close()
		close(s.done)
	}()
	cctx, cancel := context.WithCancel(ctx)
	s.stopCtx = cancel
	go func() {
		select {
		case <-cctx.Done():
			if ctx.Err() != nil {
				s.Unmount()
			}
		case <-s.done:
			cancel()
		}
	}()
	return s, nil
}

// setReadAhead raises the readahead of the mount's backing device info,
// best effort.
func setReadAhead(mountpoint string, kb int) {
	if kb < 0 {
		return
	}
	if kb == 0 {
		kb = 4096
	}
	var st unix.Stat_t
	if err := unix.Stat(mountpoint, &st); err != nil {
		return
	}
	p := fmt.Sprintf("/sys/class/bdi/%d:%d/read_ahead_kb", unix.Major(st.Dev), unix.Minor(st.Dev))
	os.WriteFile(p, []byte(strconv.Itoa(kb)), 0)
}

// checkFuse says what is missing when FUSE cannot work here.
func checkFuse() error {
	if _, err := os.Stat("/dev/fuse"); err != nil {
		return fmt.Errorf("userfs: no /dev/fuse (load the fuse module: modprobe fuse; in a container, pass --device /dev/fuse): %w", err)
	}
	if os.Geteuid() != 0 {
		if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
			return fmt.Errorf("userfs: /dev/fuse is not readable and writable by you (it is usually mode 0666: chmod 0666 /dev/fuse, or run as root): %w", err)
		}
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err := exec.LookPath("fusermount"); err != nil {
				return errors.New("userfs: mounting as a normal user needs fusermount3 or fusermount (apt-get install fuse3), or run as root")
			}
		}
	}
	return nil
}

func explainMountErr(err error) error {
	if errors.Is(err, syscall.EPERM) || errors.Is(err, syscall.EACCES) {
		return fmt.Errorf("%w (the mount point must be yours, and /dev/fuse usable by you, or run as root)", err)
	}
	return err
}

// Done is closed when the filesystem is unmounted and the server stopped.
func (s *Server) Done() <-chan struct{} { return s.done }

// Wait blocks until the filesystem is unmounted (by Unmount, a cancelled
// context, umount or fusermount -u) and the image is closed.
func (s *Server) Wait() error {
	<-s.done
	return nil
}

// Unmount unmounts the filesystem and waits for the server to stop. When
// the mount is busy it is detached lazily (MNT_DETACH, fusermount -u -z):
// it disappears from the namespace at once and the server stops when the
// last open file is closed.
func (s *Server) Unmount() error {
	s.mu.Lock()
	select {
	case <-s.done:
		s.mu.Unlock()
		return nil
	default:
	}
	err := s.fuse.Unmount()
	if err != nil {
		err = lazyUnmount(s.Mountpoint)
	}
	s.mu.Unlock()
	if err != nil {
		return fmt.Errorf("userfs: unmount %s: %w", s.Mountpoint, err)
	}
	<-s.done
	return nil
}

func lazyUnmount(mp string) error {
	if os.Geteuid() == 0 {
		return unix.Unmount(mp, unix.MNT_DETACH)
	}
	for _, bin := range []string{"fusermount3", "fusermount"} {
		if p, err := exec.LookPath(bin); err == nil {
			out, err := exec.Command(p, "-u", "-z", mp).CombinedOutput()
			if err != nil {
				return fmt.Errorf("%s -u -z %s: %v: %s", bin, mp, err, strings.TrimSpace(string(out)))
			}
			return nil
		}
	}
	return errors.New("userfs: no fusermount to unmount with")
}
