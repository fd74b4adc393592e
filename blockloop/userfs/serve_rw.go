package userfs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/fat"
)

// ErrImageLocked is matched when the image is already served read-write
// (another server holds its lock).
var ErrImageLocked = errors.New("the image is already mounted read-write")

// ServeFATReadWrite serves the FAT12/16/32 filesystem of the image at
// imagePath (at opts.Offset, opts.SizeLimit bytes) read-write on
// mountpoint: `loops mount --rw` where the kernel has no vfat driver or
// the user is not root. The image is opened read-write and locked
// (flock LOCK_EX: a second read-write server fails with ErrImageLocked);
// the volume is marked dirty while mounted. Changes reach the image in a
// consistent state every second (a checkpoint: fat.Volume.Sync), at
// fsync(2) and at unmount. When the filesystem is unmounted, everything is
// written, the image synced, the volume marked clean and the lock dropped,
// before Done is closed. Needs write access to
// the image, and /dev/fuse (plus fusermount3 when not root).
func ServeFATReadWrite(ctx context.Context, imagePath, mountpoint string, opts Options) (*Server, error) {
	if opts.Type != "" && opts.Type != "vfat" {
		return nil, fmt.Errorf("userfs: %s is served read-only: only FAT (vfat) images are served read-write", opts.Type)
	}
	if opts.Disk {
		return nil, fmt.Errorf("userfs: %s: VM disk images are served read-only", imagePath)
	}
	f, err := os.OpenFile(imagePath, os.O_RDWR|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, fmt.Errorf("userfs: open the image read-write: %w", err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("userfs: %s: %w (another loops server holds its lock)", imagePath, ErrImageLocked)
		}
		return nil, fmt.Errorf("userfs: lock %s: %w", imagePath, err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, err
	}
	size, err := section(imagePath, st.Size(), opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	img := &imageSection{f: f, off: opts.Offset, size: size}
	vol, err := fat.OpenVolume(img, size, fat.VolumeOptions{})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("userfs: %s: %w", imagePath, err)
	}
	if opts.FsName == "" {
		opts.FsName = imagePath
	}
	x := newFsys(&Tree{}, 0, opts)
	root := (&rwFS{vol: vol, uid: x.uid, gid: x.gid, umask: opts.Umask}).node(vol.Root())
	closer := closeFunc(func() error {
		err := vol.Close()
		f.Close() // drops the lock
		return err
	})
	s, err := mount(ctx, root, "vfat", mountpoint, opts, closer)
	if err != nil {
		closer.Close()
		return nil, err
	}
	go checkpoints(vol, s.Done())
	s.Tree = &Tree{Root: nil, Type: "vfat", BlockSize: vol.ClusterSize(), Size: size}
	s.Dirty = vol.WasDirty()
	return s, nil
}

func (n *rwNode) rootIno() uint64 { return fat.RootIno }

// checkpointInterval is how often what changed reaches the image in a
// consistent state (what a killed server or a lost machine loses at most),
// as the kernel's writeback does every few seconds.
const checkpointInterval = time.Second

// checkpoints syncs vol every checkpointInterval until done.
func checkpoints(vol *fat.Volume, done <-chan struct{}) {
	t := time.NewTicker(checkpointInterval)
	defer t.Stop()
	for {
		select {
		case <-done:
			return
		case <-t.C:
			vol.Sync() // an error comes back at the next fsync or at unmount
		}
	}
}

// imageSection is the filesystem's bytes of the image file, read and
// written in place.
type imageSection struct {
	f         *os.File
	off, size int64
}

func (s *imageSection) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := s.size - off; int64(want) > rest {
		p = p[:rest]
	}
	n, err := s.f.ReadAt(p, s.off+off)
	if err == nil && n < want {
		err = io.EOF
	}
	return n, err
}

func (s *imageSection) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > s.size {
		return 0, fmt.Errorf("write of %d bytes at %d: outside the filesystem (%d bytes): %w", len(p), off, s.size, syscall.EINVAL)
	}
	return s.f.WriteAt(p, s.off+off)
}

// Sync is fdatasync(2) of the image file.
func (s *imageSection) Sync() error { return unix.Fdatasync(int(s.f.Fd())) }
