package blockloop

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	losetup "github.com/freddierice/go-losetup/v2"
	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// AttachOptions are the settings of a new loop device (losetup's flags).
type AttachOptions struct {
	ReadOnly  bool  // -r: read-only device, backing file opened read-only
	Offset    int64 // -o: where the device starts in the file
	SizeLimit int64 // --sizelimit: its length; 0 to the end of the file
	PartScan  bool  // -P: ask the kernel to scan for partitions
	DirectIO  bool  // --direct-io: bypass the page cache of the backing file
	// ServeUserspace starts loops' server of a VM disk image's virtual
	// disk (ServeRequest.RawDisk); nil: VM disk images are refused.
	ServeUserspace func(ServeRequest) error
}

// Attach attaches image to a free loop device that stays until detached,
// like `losetup --find --show IMAGE`. It needs root (CAP_SYS_ADMIN).
// If a loop device already backs the same file with the same offset and size
// limit, Attach returns it instead of making a second one (two writable loop
// devices on one file corrupt it).
func (h *Host) Attach(image string, opts AttachOptions) (*Device, error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return nil, opErr("attach", image, "", "", err)
	}
	img, ro, err := openImage(abs, !opts.ReadOnly, false)
	if err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	defer img.Close()
	if format := diskFormat(img); format != "" {
		return h.attachDisk(abs, format, opts)
	}
	opts.ReadOnly = ro
	if err := checkRange(img, opts.Offset, opts.SizeLimit); err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	if d, held, err := h.findReusable(img, opts.Offset, opts.SizeLimit, !ro); err != nil {
		return nil, opErr("attach", abs, "", "", err)
	} else if d != nil {
		held.Close()
		return d, nil
	}
	// A persistent device: configured without autoclear in one
	// LOOP_CONFIGURE (clearing autoclear afterwards would cost a
	// LOOP_SET_STATUS64, a slow ioctl, for nothing: it is meant to stay;
	// docs/benchmarks.md has the numbers).
	lf, n, err := h.attachFd(img, abs, opts, false)
	if err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	dev := fmt.Sprintf("/dev/loop%d", n)
	lf.Close()
	d, err := h.readSys(n)
	if err != nil {
		return nil, opErr("attach", abs, dev, "", err)
	}
	return d, nil
}

func setAutoclear(lf *os.File, on bool) error {
	info, err := unix.IoctlLoopGetStatus64(int(lf.Fd()))
	if err != nil {
		return fmt.Errorf("LOOP_GET_STATUS64: %w", err)
	}
	if on {
		info.Flags |= unix.LO_FLAGS_AUTOCLEAR
	} else {
		info.Flags &^= unix.LO_FLAGS_AUTOCLEAR
	}
	if err := retryEAGAIN(func() error { return unix.IoctlLoopSetStatus64(int(lf.Fd()), info) }); err != nil {
		return fmt.Errorf("LOOP_SET_STATUS64: %w", err)
	}
	return nil
}

// openImage opens the image, read-write when asked and possible. It returns
// whether the file ended up read-only. With mustRW a read-only file is an
// error instead.
func openImage(abs string, rw, mustRW bool) (*os.File, bool, error) {
	f, err := kernfile.Open(abs, os.O_RDONLY)
	if err != nil {
		return nil, false, unwrapPath(err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, false, unwrapPath(err)
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return nil, false, notRegular(st.Mode())
	}
	if !rw {
		return f, true, nil
	}
	rwf, err := reopen(f, os.O_RDWR)
	if err != nil {
		if mustRW || !(errors.Is(err, unix.EACCES) || errors.Is(err, unix.EROFS) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.ETXTBSY)) {
			f.Close()
			return nil, false, fmt.Errorf("cannot open it read-write: %w", unwrapPath(err))
		}
		return f, true, nil
	}
	f.Close()
	return rwf, false, nil
}

// reopen opens the same inode again through /proc/self/fd, without resolving
// the path a second time.
func reopen(f *os.File, flag int) (*os.File, error) {
	return kernfile.Open(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), flag)
}

func checkRange(img *os.File, off, limit int64) error {
	st, err := img.Stat()
	if err != nil {
		return err
	}
	if off < 0 || limit < 0 {
		return fmt.Errorf("offset and size limit cannot be negative")
	}
	if off >= st.Size() {
		return reasonf(ErrTruncated, "offset %d is past the end of the file (%d bytes)", off, st.Size())
	}
	if limit > 0 && off+limit > st.Size() {
		return reasonf(ErrTruncated, "offset %d + size limit %d ends past the end of the file (%d bytes)", off, limit, st.Size())
	}
	return nil
}

// attachFd attaches the open image to a free loop device, with autoclear
// when asked, and returns the loop device, held open. Closing that fd
// detaches an autoclear device that nothing else holds.
//
// The free-device race: another process can take the device between
// LOOP_CTL_GET_FREE and LOOP_CONFIGURE (EBUSY). Our own processes are
// serialized with a lock on /dev/loop-control (as systemd does), others are
// retried with jitter, up to 64 times (as losetup does).
func (h *Host) attachFd(img *os.File, abs string, opts AttachOptions, autoclear bool) (*os.File, int, error) {
	backing := img
	if opts.DirectIO {
		f, err := reopen(img, map[bool]int{true: os.O_RDONLY, false: os.O_RDWR}[opts.ReadOnly]|unix.O_DIRECT)
		if err == nil {
			defer f.Close()
			backing = f
		}
	}
	ctl, err := kernfile.Open(h.loopControl(), os.O_RDWR)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, -1, fmt.Errorf("%s: %w", h.loopControl(), ErrNoLoopControl)
		}
		return nil, -1, err
	}
	defer ctl.Close()

	var flags uint32
	if autoclear {
		flags |= unix.LO_FLAGS_AUTOCLEAR
	}
	if opts.ReadOnly {
		flags |= unix.LO_FLAGS_READ_ONLY
	}
	if opts.PartScan {
		flags |= unix.LO_FLAGS_PARTSCAN
	}
	if opts.DirectIO {
		flags |= unix.LO_FLAGS_DIRECT_IO
	}
	mode := os.O_RDWR
	if opts.ReadOnly {
		mode = os.O_RDONLY
	}
	var lastErr error
	for try := 0; try < 64; try++ {
		if try > 0 {
			time.Sleep(backoff(try))
		}
		if err := unix.Flock(int(ctl.Fd()), unix.LOCK_EX); err != nil {
			return nil, -1, fmt.Errorf("lock %s: %w", h.loopControl(), err)
		}
		lf, n, err := h.configureFree(ctl, backing, abs, flags, mode, opts)
		unix.Flock(int(ctl.Fd()), unix.LOCK_UN)
		if err == nil {
			return lf, n, nil
		}
		lastErr = err
		if !(errors.Is(err, unix.EBUSY) || errors.Is(err, unix.ENXIO) || errors.Is(err, unix.EAGAIN) || errors.Is(err, unix.ENOENT)) ||
			errors.Is(err, ErrNoFreeDevice) {
			return nil, -1, err
		}
	}
	return nil, -1, fmt.Errorf("%w: gave up after 64 tries: %w", ErrBusy, lastErr)
}

func backoff(try int) time.Duration {
	// 1–10 ms at first, up to ~250 ms later: jitter keeps racers apart.
	max := 10 + 240*try/64
	return time.Duration(1+rand.IntN(max)) * time.Millisecond
}

// configureFree does one attempt: GET_FREE, open, LOOP_CONFIGURE (or the
// pre-5.8 pair LOOP_SET_FD + LOOP_SET_STATUS64).
func (h *Host) configureFree(ctl, img *os.File, abs string, flags uint32, mode int, opts AttachOptions) (*os.File, int, error) {
	var n int
	var err error
	if h.hooks != nil && h.hooks.getFree != nil {
		n, err = h.hooks.getFree()
	} else {
		n, err = unix.IoctlRetInt(int(ctl.Fd()), unix.LOOP_CTL_GET_FREE)
	}
	if err != nil {
		if errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.ENODEV) || errors.Is(err, unix.EMFILE) {
			return nil, -1, fmt.Errorf("%w: LOOP_CTL_GET_FREE: %w", ErrNoFreeDevice, err)
		}
		return nil, -1, fmt.Errorf("LOOP_CTL_GET_FREE on %s: %w", h.loopControl(), err)
	}
	dev := losetup.New(uint64(n), mode)
	lf, err := kernfile.Open(dev.Path(), mode)
	if err != nil {
		return nil, -1, fmt.Errorf("open %s: %w", dev.Path(), unwrapPath(err))
	}
	var cfg unix.LoopConfig
	cfg.Fd = uint32(img.Fd())
	cfg.Info.Flags = flags
	cfg.Info.Offset = uint64(opts.Offset)
	cfg.Info.Sizelimit = uint64(opts.SizeLimit)
	copy(cfg.Info.File_name[:unix.LO_NAME_SIZE-1], abs)
	err = unix.IoctlLoopConfigure(int(lf.Fd()), &cfg)
	if err == nil {
		return lf, n, nil
	}
	if !(errors.Is(err, unix.EINVAL) || errors.Is(err, unix.ENOTTY) || errors.Is(err, unix.ENOSYS)) {
		lf.Close() // never LOOP_CLR_FD a device we lost to someone else
		return nil, -1, fmt.Errorf("LOOP_CONFIGURE %s: %w", dev.Path(), err)
	}
	// Kernels before 5.8: LOOP_SET_FD, then LOOP_SET_STATUS64.
	if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_SET_FD, int(img.Fd())); err != nil {
		lf.Close()
		return nil, -1, fmt.Errorf("LOOP_SET_FD %s: %w", dev.Path(), err)
	}
	if err := retryEAGAIN(func() error { return unix.IoctlLoopSetStatus64(int(lf.Fd()), &cfg.Info) }); err != nil {
		unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0)
		lf.Close()
		return nil, -1, fmt.Errorf("LOOP_SET_STATUS64 %s: %w", dev.Path(), err)
	}
	return lf, n, nil
}

func retryEAGAIN(f func() error) error {
	var err error
	for i := 0; i < 64; i++ {
		if err = f(); !errors.Is(err, unix.EAGAIN) {
			return err
		}
		time.Sleep(time.Duration(10+rand.IntN(240)) * time.Millisecond)
	}
	return err
}

// findReusable looks for a loop device that already backs img with this
// offset and size limit. It returns the device with an fd held on it (so
// autoclear cannot tear it down under us), or nil. A partial overlap, or a
// read-only device when rw is wanted, is an error.
func (h *Host) findReusable(img *os.File, off, limit int64, rw bool) (*Device, *os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return nil, nil, err
	}
	devs, err := h.backing(st, img.Name())
	if err != nil {
		return nil, nil, err
	}
	return findReusableIn(devs, img, off, limit, rw)
}

// findReusableIn is findReusable over devs, the devices already found
// backing img.
func findReusableIn(devs []Device, img *os.File, off, limit int64, rw bool) (*Device, *os.File, error) {
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return nil, nil, err
	}
	end := rangeEnd(off, limit, st.Size)
	for i := range devs {
		d := &devs[i]
		dend := rangeEnd(d.Offset, d.SizeLimit, st.Size)
		if d.Offset == off && dend == end {
			lf, err := kernfile.Open(d.Path, os.O_RDONLY)
			if err != nil {
				continue
			}
			info, err := unix.IoctlLoopGetStatus64(int(lf.Fd()))
			if err != nil || info.Inode != st.Ino || info.Device != st.Dev || int64(info.Offset) != off {
				lf.Close() // lost a race with its teardown: make a new one
				continue
			}
			if rw && info.Flags&unix.LO_FLAGS_READ_ONLY != 0 {
				lf.Close()
				return nil, nil, reasonf(ErrReadOnlyDevice, "%s already backs this file read-only; detach it or mount read-only", d.Path)
			}
			d.ReadOnly = info.Flags&unix.LO_FLAGS_READ_ONLY != 0
			d.Autoclear = info.Flags&unix.LO_FLAGS_AUTOCLEAR != 0
			return d, lf, nil
		}
		if off < dend && d.Offset < end {
			return nil, nil, reasonf(ErrOverlap, "%s already backs bytes %d–%d of this file, which overlap %d–%d", d.Path, d.Offset, dend, off, end)
		}
	}
	return nil, nil, nil
}

func rangeEnd(off, limit, size int64) int64 {
	if limit == 0 || off+limit > size {
		return size
	}
	return off + limit
}
