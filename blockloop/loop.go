package blockloop

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	losetup "github.com/freddierice/go-losetup/v2"
	"golang.org/x/sys/unix"
)

// loopMajor is the block major number of loop devices.
const loopMajor = 7

// Device is a loop device and what backs it, as `losetup --list` shows.
type Device struct {
	Path   string // /dev/loopN
	Number int
	Major  uint32
	Minor  uint32

	// BackingFile is the full path of the backing file, read from
	// /sys/block/loopN/loop/backing_file (never the 64-byte lo_file_name).
	BackingFile string
	// Deleted is true when the backing file has been unlinked.
	Deleted bool
	// BackingDev and BackingInode identify the backing file (st_dev,
	// st_ino). Zero when unknown: reading them needs root.
	BackingDev   uint64
	BackingInode uint64

	Offset    int64
	SizeLimit int64 // 0: to the end of the file
	Size      int64 // the device's size in bytes

	ReadOnly          bool
	Autoclear         bool // detached when the last user closes it
	PartScan          bool
	DirectIO          bool
	LogicalSectorSize int

	// FSType and Label are what the device holds, probed from the backing
	// file (or, when that cannot be read, the type it is mounted as).
	FSType string
	Label  string
	// Mountpoints are where the device is mounted, from /proc/self/mountinfo.
	Mountpoints []string
}

// handle is the go-losetup handle for the device.
func (d *Device) handle() losetup.Device { return losetup.New(uint64(d.Number), os.O_RDONLY) }

// List returns every attached loop device, ordered by number, like
// `losetup --list`. It needs no privilege; BackingDev and BackingInode are
// filled in only when the device can be opened (root).
func (h *Host) List() ([]Device, error) {
	devs, err := h.listSys()
	if err != nil {
		return nil, opErr("list", "", "", h.sysBlock(), err)
	}
	mounts, _ := h.mounts()
	for i := range devs {
		d := &devs[i]
		for _, m := range mounts {
			if k, ok := loopOf(m); ok && k == d.Number {
				d.Mountpoints = append(d.Mountpoints, m.Mountpoint)
				if d.FSType == "" {
					d.FSType = m.FSType
				}
			}
		}
		h.probeBacking(d)
	}
	return devs, nil
}

// probeBacking fills FSType and Label by probing the backing file's range.
func (h *Host) probeBacking(d *Device) {
	if d.Deleted {
		return
	}
	f, err := os.Open(d.BackingFile)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	size := st.Size() - d.Offset
	if d.SizeLimit > 0 && d.SizeLimit < size {
		size = d.SizeLimit
	}
	if size <= 0 {
		return
	}
	p, err := probe(sectionOf(f, d.Offset, size), size, false)
	if err != nil || p.Kind == KindUnknown {
		return
	}
	if p.Type != "" {
		d.FSType = kernelName(p.Type)
	}
	d.Label = p.Label
}

// listSys reads /sys/block/loop*/loop: only bound devices have it.
func (h *Host) listSys() ([]Device, error) {
	ents, err := os.ReadDir(h.sysBlock())
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, e := range ents {
		n, ok := loopNumber(e.Name())
		if !ok {
			continue
		}
		d, err := h.readSys(n)
		if err != nil {
			continue // unbound, or unbound while we looked
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func loopNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "loop")
	if !ok || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// readSys reads one bound device's attributes from sysfs.
func (h *Host) readSys(n int) (*Device, error) {
	dir := filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", n))
	bf, err := os.ReadFile(filepath.Join(dir, "loop", "backing_file"))
	if err != nil {
		return nil, err
	}
	d := &Device{Path: fmt.Sprintf("/dev/loop%d", n), Number: n, Major: loopMajor, Minor: uint32(n)}
	d.BackingFile = strings.TrimSuffix(string(bf), "\n")
	if s, ok := strings.CutSuffix(d.BackingFile, " (deleted)"); ok {
		d.BackingFile, d.Deleted = s, true
	}
	readInt := func(name string) int64 {
		b, _ := os.ReadFile(filepath.Join(dir, name))
		v, _ := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		return v
	}
	d.Offset = readInt("loop/offset")
	d.SizeLimit = readInt("loop/sizelimit")
	d.Autoclear = readInt("loop/autoclear") == 1
	d.PartScan = readInt("loop/partscan") == 1
	d.DirectIO = readInt("loop/dio") == 1
	d.ReadOnly = readInt("ro") == 1
	d.Size = readInt("size") * 512
	d.LogicalSectorSize = int(readInt("queue/logical_block_size"))
	if b, err := os.ReadFile(filepath.Join(dir, "dev")); err == nil {
		if ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
			a, _ := strconv.Atoi(ma)
			i, _ := strconv.Atoi(mi)
			d.Major, d.Minor = uint32(a), uint32(i)
		}
	}
	// The backing file's identity: from the kernel (root), else from the
	// path, which is right unless the file was renamed or replaced.
	if info, err := d.handle().GetInfo(); err == nil {
		d.BackingDev, d.BackingInode = info.Device, info.INode
	} else if !d.Deleted {
		var st unix.Stat_t
		if unix.Stat(d.BackingFile, &st) == nil {
			d.BackingDev, d.BackingInode = st.Dev, st.Ino
		}
	}
	return d, nil
}

// AttachOptions are the settings of a new loop device (losetup's flags).
type AttachOptions struct {
	ReadOnly  bool  // -r: read-only device, backing file opened read-only
	Offset    int64 // -o: where the device starts in the file
	SizeLimit int64 // --sizelimit: its length; 0 to the end of the file
	PartScan  bool  // -P: ask the kernel to scan for partitions
	DirectIO  bool  // --direct-io: bypass the page cache of the backing file
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
	// LOOP_SET_STATUS64, ~16 ms here, for nothing: it is meant to stay).
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
	f, err := os.OpenFile(abs, os.O_RDONLY|unix.O_CLOEXEC, 0)
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
	return os.OpenFile(fmt.Sprintf("/proc/self/fd/%d", f.Fd()), flag|unix.O_CLOEXEC, 0)
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
	ctl, err := os.OpenFile(h.loopControl(), os.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, -1, fmt.Errorf("%w (sudo modprobe loop)", ErrNoLoopControl)
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
	lf, err := os.OpenFile(dev.Path(), mode|unix.O_CLOEXEC, 0)
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
			lf, err := os.OpenFile(d.Path, os.O_RDONLY|unix.O_CLOEXEC, 0)
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

// boundLoopNames lists the loop devices that may be bound: those
// /proc/partitions lists (a bound device with a size; an unbound one has
// none and is not listed), one read instead of a sysfs open per device, of
// which there are as many as were ever made. Without /proc/partitions, every
// loop device in sysfs.
func (h *Host) boundLoopNames() ([]string, error) {
	if b, err := os.ReadFile(h.partitions()); err == nil {
		var out []string
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == strconv.Itoa(loopMajor) {
				out = append(out, f[3])
			}
		}
		return out, nil
	}
	ents, err := os.ReadDir(h.sysBlock())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// backing returns the loop devices whose backing file is st (path is a
// hint for devices whose identity cannot be read).
func (h *Host) backing(st unix.Stat_t, path string) ([]Device, error) {
	names, err := h.boundLoopNames()
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, name := range names {
		n, ok := loopNumber(name)
		if !ok {
			continue
		}
		// Cheap first: the backing file's path (sysfs follows renames) must
		// name this file. Only candidates get the full read, whose identity
		// comes from the kernel (LOOP_GET_STATUS64).
		bf, err := os.ReadFile(filepath.Join(h.sysBlock(), name, "loop", "backing_file"))
		if err != nil {
			continue // unbound
		}
		p := strings.TrimSuffix(strings.TrimSuffix(string(bf), "\n"), " (deleted)")
		var pst unix.Stat_t
		if unix.Stat(p, &pst) != nil || pst.Dev != st.Dev || pst.Ino != st.Ino {
			continue
		}
		d, err := h.readSys(n)
		if err != nil || d.BackingInode != st.Ino || d.BackingDev != st.Dev || d.BackingInode == 0 {
			continue
		}
		out = append(out, *d)
	}
	if len(out) > 0 {
		mounts, _ := h.mounts()
		for i := range out {
			out[i].Mountpoints = mountsOf(mounts, out[i].Number)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// DetachResult says what Detach did to one device.
type DetachResult struct {
	Device string
	Image  string
	// Deferred is true when the device is still in use (mounted, or open
	// by a process): the kernel detaches it when the last user lets go.
	Deferred    bool
	Mountpoints []string
}

// Detach detaches a loop device, given as /dev/loopN or as the image it
// backs (then every device backing that image), like `losetup -d`. Before
// clearing a device it holds it open and checks it still backs the file it
// was found backing: devices are reused within milliseconds, and detaching
// by name alone can hit someone else's new device. A device still in use is
// only marked to detach on last close; the result says so. Needs root.
func (h *Host) Detach(target string) ([]DetachResult, error) {
	devs, err := h.resolveDevices(target)
	if err != nil {
		return nil, opErr("detach", "", "", target, err)
	}
	var out []DetachResult
	for _, d := range devs {
		r, err := h.detachOne(d)
		if err != nil {
			return out, opErr("detach", d.BackingFile, d.Path, "", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// resolveDevices finds the bound loop devices meant by target: a loop
// device node or an image file.
func (h *Host) resolveDevices(target string) ([]Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		return nil, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		if unix.Major(st.Rdev) != loopMajor {
			return nil, ErrNotLoop
		}
		d, err := h.readSys(int(unix.Minor(st.Rdev)))
		if err != nil {
			return nil, reasonf(ErrNotAttached, "%s backs no file", target)
		}
		return []Device{*d}, nil
	case unix.S_IFREG:
		devs, err := h.backing(st, target)
		if err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			return nil, reasonf(ErrNotAttached, "no loop device backs this file")
		}
		return devs, nil
	case unix.S_IFDIR:
		return nil, reasonf(ErrNotLoop, "is a directory, not a loop device or an image (to unmount it: loops umount)")
	}
	return nil, ErrNotLoop
}

func (h *Host) detachOne(d Device) (DetachResult, error) {
	r := DetachResult{Device: d.Path, Image: d.BackingFile}
	lf, err := os.OpenFile(d.Path, os.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return r, unwrapPath(err)
	}
	info, err := unix.IoctlLoopGetStatus64(int(lf.Fd()))
	if err != nil {
		lf.Close()
		if errors.Is(err, unix.ENXIO) {
			return r, reasonf(ErrNotAttached, "it was detached meanwhile")
		}
		return r, fmt.Errorf("LOOP_GET_STATUS64: %w", err)
	}
	if (d.BackingInode != 0 && (info.Inode != d.BackingInode || info.Device != d.BackingDev)) || int64(info.Offset) != d.Offset {
		lf.Close()
		return r, reasonf(ErrDeviceChanged, "%s was reused for another file meanwhile; left alone", d.Path)
	}
	// Our fd keeps the identity fixed: the kernel clears the device only
	// on last close, so go-losetup's Detach (its own fd) cannot hit a
	// different file.
	if err := d.handle().Detach(); err != nil {
		lf.Close()
		return r, fmt.Errorf("LOOP_CLR_FD: %w", wrapLosetup(err))
	}
	lf.Close()
	if h.waitUnbound(d.Number, d.BackingInode, 200*time.Millisecond) {
		return r, nil
	}
	r.Deferred = true
	mounts, _ := h.mounts()
	r.Mountpoints = mountsOf(mounts, d.Number)
	return r, nil
}

// waitUnbound waits until loopN backs no file (or another one).
func (h *Host) waitUnbound(n int, ino uint64, within time.Duration) bool {
	// Only sysfs is read here: opening the device to ask it would itself
	// hold it and delay the teardown being waited for.
	bf := filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", n), "loop", "backing_file")
	first, err := os.ReadFile(bf)
	if err != nil {
		return true
	}
	deadline := time.Now().Add(within)
	for {
		cur, err := os.ReadFile(bf)
		if err != nil || string(cur) != string(first) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// loopOf returns the loop device number a mount comes from. Most
// filesystems show the device's 7:N in mountinfo; btrfs shows an anonymous
// device, so the source path is the fallback.
func loopOf(m MountEntry) (int, bool) {
	if m.Major == loopMajor {
		return int(m.Minor), true
	}
	if s, ok := strings.CutPrefix(m.Source, "/dev/loop"); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return n, true
		}
	}
	return 0, false
}

// mountsOf returns the mount points of loop device n.
func mountsOf(mounts []MountEntry, n int) []string {
	var out []string
	for _, m := range mounts {
		if k, ok := loopOf(m); ok && k == n {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}
