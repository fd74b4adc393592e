// Package isofs serves an ISO 9660 image (read by package iso9660) as a
// read-only FUSE filesystem, with github.com/hanwen/go-fuse/v2. It is the
// userspace path of `loops mount image.iso DIR` where the kernel has no
// iso9660 driver.
//
// [Serve] (or [ServeFile]) mounts and returns once the mount is live; the
// returned [Server] unmounts when its context is cancelled, and
// [Server.Wait] returns when the filesystem is unmounted by anyone (umount,
// fusermount -u, loops umount). The filesystem holds no state: a crash
// loses nothing (the mount is then left ENOTCONN until unmounted).
//
// The mount is "fuse.iso9660" in /proc/self/mountinfo, its source the image
// path, with ro,nosuid,nodev and default_permissions (the kernel enforces
// the modes and owners served, as with a kernel mount), and allow_other
// when served by root (a root mount is shared, as kernel mounts are; a
// user's own mount is reachable by that user only).
//
// Inode numbers are stable (the reader's [iso9660.Entry.Ino]); attributes
// come from Rock Ridge, or are 0555 directories and 0444 files owned by the
// mounting user without it. Entries, attributes, directory listings and file
// data are cached by the kernel with long timeouts (the image is immutable);
// reads are served by splicing straight from the image file at the extent
// offset (fuse.ReadResultFd), or by pread, up to 512 KiB per request, with
// a 4 MiB kernel readahead when served by root.
package isofs

import (
	"context"
	"errors"
	"fmt"
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

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// FSType is the filesystem type of the mounts in /proc/self/mountinfo.
const FSType = "fuse." + Subtype

// Subtype is the FUSE subtype of the mounts.
const Subtype = "iso9660"

// Options tune Serve. The zero value is right for `loops mount`.
type Options struct {
	// FsName is the mount source shown in mountinfo. Default: the absolute
	// image path.
	FsName string
	// Owner of every file of an image without Rock Ridge. Default (when
	// SetOwner is false): the user serving the mount.
	UID, GID uint32
	SetOwner bool
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
	// Reader are the iso9660 reader options (limits, tree choice).
	Reader iso9660.Options
	// Debug logs every FUSE request.
	Debug bool
}

// Server is a live mount.
type Server struct {
	Mountpoint string
	Image      *iso9660.Image

	fuse    *fuse.Server
	file    *os.File
	done    chan struct{}
	mu      sync.Mutex // serializes Unmount
	stopCtx context.CancelFunc
}

// Serve opens the image at imagePath read-only, reads its volume descriptors
// and root, and mounts it on mountpoint. It returns once the kernel
// answered the FUSE handshake, so the mount is usable; on error nothing is
// left mounted or open. The mount is unmounted when ctx is cancelled.
func Serve(ctx context.Context, imagePath, mountpoint string, opts Options) (*Server, error) {
	abs, err := filepath.Abs(imagePath)
	if err != nil {
		return nil, err
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	if opts.FsName == "" {
		opts.FsName = abs
	}
	s, err := ServeFile(ctx, f, mountpoint, opts)
	if err != nil {
		f.Close()
		return nil, err
	}
	return s, nil
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
		return nil, fmt.Errorf("isofs: %s is not a regular file", f.Name())
	}
	size := st.Size()
	if st.Mode()&os.ModeDevice != 0 {
		if size, err = f.Seek(0, io.SeekEnd); err != nil {
			return nil, err
		}
	}
	img, err := iso9660.OpenOptions(f, size, opts.Reader)
	if err != nil {
		return nil, fmt.Errorf("isofs: %s: %w", f.Name(), err)
	}
	if opts.FsName == "" {
		opts.FsName = f.Name()
	}
	if err := checkFuse(); err != nil {
		return nil, err
	}
	root := NewRoot(img, f, opts)
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
		Name:   Subtype,
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
		DisableXAttrs:        true,
		IgnoreSecurityLabels: true,
		DisableSplice:        opts.NoSplice,
		Debug:                opts.Debug,
	}
	srv, err := fs.Mount(mountpoint, root, &fs.Options{
		MountOptions:    mo,
		EntryTimeout:    &timeout,
		AttrTimeout:     &timeout,
		NegativeTimeout: &timeout,
		RootStableAttr:  &fs.StableAttr{Ino: img.Root().Ino, Mode: syscall.S_IFDIR},
	})
	if err != nil {
		return nil, fmt.Errorf("isofs: mount %s on %s: %w", opts.FsName, mountpoint, explainMountErr(err))
	}
	setReadAhead(mountpoint, opts.ReadAheadKB)
	s := &Server{Mountpoint: mountpoint, Image: img, fuse: srv, file: f, done: make(chan struct{})}
	go func() {
		srv.Wait()
		f.Close()
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
		return fmt.Errorf("isofs: no /dev/fuse (load the fuse module: modprobe fuse; in a container, pass --device /dev/fuse): %w", err)
	}
	if os.Geteuid() != 0 {
		if err := unix.Access("/dev/fuse", unix.R_OK|unix.W_OK); err != nil {
			return fmt.Errorf("isofs: /dev/fuse is not readable and writable by you (it is usually mode 0666: chmod 0666 /dev/fuse, or run as root): %w", err)
		}
		if _, err := exec.LookPath("fusermount3"); err != nil {
			if _, err := exec.LookPath("fusermount"); err != nil {
				return errors.New("isofs: mounting as a normal user needs fusermount3 or fusermount (apt-get install fuse3), or run as root")
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
		return fmt.Errorf("isofs: unmount %s: %w", s.Mountpoint, err)
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
	return errors.New("isofs: no fusermount to unmount with")
}
