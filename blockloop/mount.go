package blockloop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/probe"
)

// MountOptions are the choices of `loops mount`.
type MountOptions struct {
	// Mountpoint is where to mount. Empty: a new directory under Media
	// (Media/User/ when User is set), named after the label.
	Mountpoint string
	ReadOnly   bool // --ro
	// ReadWrite (--rw) makes a read-only outcome an error instead of a
	// fallback: a read-only type or an unwritable image fails.
	ReadWrite bool
	Partition int    // --partition N
	Offset    int64  // --offset: mount what starts there, ignoring any partition table
	SizeLimit int64  // --sizelimit
	Type      string // --type: the filesystem type, instead of the probed one
	// User is the user on whose behalf root mounts (SUDO_USER): automatic
	// mount points go under Media/User, as udisks does. UID and GID own
	// that directory; -1 when unknown.
	User     string
	UID, GID int
	// Userspace are the types a userspace reader can serve (see Decide).
	Userspace map[string]bool
	// Backend is the user's choice: --fuse forces the userspace path,
	// --kernel forbids it.
	Backend Backend
	// Owner is mount's uid=, gid= and umask= for filesystems whose format
	// records no owners (vfat, exfat, udf, iso9660 without Rock Ridge); nil
	// leaves the driver's defaults (the mounting user, the reader's modes).
	Owner *FSOwner
	// ServeUserspace starts loops' userspace server for an image and
	// returns once the mount is live, or with an error once it cannot come
	// up (having mounted nothing). Mount calls it on the userspace route,
	// after preparing the mount point; the CLI runs the server as a daemon.
	ServeUserspace func(ServeRequest) error
	// WriteIndex writes the EROFS index of the filesystem req names into
	// index (an unnamed root-only file), for the index route; the CLI runs
	// loops-serve, which links the readers. ErrNotIndexable sends the
	// mount to the userspace route. Nil: no index route.
	WriteIndex func(req ServeRequest, index *os.File) (IndexInfo, error)
	// Passphrase asks for the passphrase of an encrypted volume (LUKS);
	// nil: an encrypted volume is not opened (ErrLocked).
	Passphrase PassphraseFunc
	// PassphraseTries is how often a wrong passphrase is asked again;
	// 0 is DefaultPassphraseTries.
	PassphraseTries int
	// LV is the LVM logical volume to mount, "VG/LV" (or "LV" when one VG
	// has it); "": the only one that holds a filesystem.
	LV string
	// PVs are files holding more physical volumes of the image's VG (its
	// other disks), besides those found in the image itself.
	PVs []string
}

// MountResult describes a mount Mount made.
type MountResult struct {
	Image      string
	Device     string
	Mountpoint string
	Type       string
	Label      string
	UUID       string
	Partition  int
	Offset     int64
	SizeLimit  int64
	ReadOnly   bool
	// ReadOnlyReason says why the mount is read-only when --ro was not
	// given ("squashfs is a read-only filesystem").
	ReadOnlyReason string
	CreatedDir     bool // the mount point was made by loops (and goes at umount)
	Reused         bool // an existing loop device was reused
	Options        string
	Plan           Plan
	// Dirty: a FAT volume mounted in userspace was marked not cleanly
	// unmounted (fsck.fat should check it).
	Dirty bool
	// Index is what the EROFS index of an index mount holds (RouteIndex).
	Index *IndexInfo
}

// Plan probes the image and returns the mount decision without changing
// anything. Needs read access to the image only.
func (h *Host) PlanMount(image string, opts MountOptions) (*probe.Result, Plan, error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return nil, Plan{}, opErr("probe", image, "", "", err)
	}
	img, _, err := openImage(abs, false, false)
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	defer img.Close()
	res, plan, err := h.plan(img, abs, opts)
	plan.zeroKeys()
	return res, plan, err
}

func (h *Host) plan(img *os.File, abs string, opts MountOptions) (*probe.Result, Plan, error) {
	opts.PVs = slices.Clone(opts.PVs)
	for i, pv := range opts.PVs {
		a, err := filepath.Abs(pv)
		if err != nil {
			return nil, Plan{}, opErr("probe", pv, "", "", err)
		}
		opts.PVs[i] = a
	}
	st, err := img.Stat()
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	size := st.Size()
	off, limit := opts.Offset, opts.SizeLimit
	var di *DiskImage
	if format := diskFormat(img); format != "" {
		// A VM disk image: probe the file as it is (to name it), and its
		// virtual disk, where --offset and --sizelimit apply.
		di = h.openDiskImage(abs, format, opts.Offset, opts.SizeLimit)
		opts.Offset, opts.SizeLimit = 0, 0
	}
	var r io.ReaderAt = img
	if opts.Offset > 0 || opts.SizeLimit > 0 {
		if err := checkRange(img, opts.Offset, opts.SizeLimit); err != nil {
			return nil, Plan{}, opErr("probe", abs, "", "", err)
		}
		size = rangeEnd(opts.Offset, opts.SizeLimit, size) - opts.Offset
		r = sectionOf(img, opts.Offset, size)
	}
	res, err := probe.Image(r, size, probe.Options{Part: opts.Offset != 0 || opts.SizeLimit != 0})
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	pr := &res
	if di != nil && di.Format != "" {
		// The file is the image, whatever else its bytes look like.
		*pr = probe.Result{Kind: probe.KindDiskImage, Type: di.Format, Size: size}
	}
	kernel, err := h.KernelFilesystems()
	if err != nil {
		return pr, Plan{}, opErr("probe", abs, "", "", fmt.Errorf("read %s: %w", h.filesystems(), err))
	}
	loadable := h.LoadableFilesystems()
	indexable := kernel["erofs"] || loadable["erofs"]
	in := PlanInput{
		Probe: pr, Kernel: kernel, Loadable: loadable, Userspace: opts.Userspace,
		Partition: opts.Partition, Type: opts.Type, Backend: opts.Backend, Disk: di,
		Index:       opts.WriteIndex != nil && indexable && os.Geteuid() == 0,
		IndexAsRoot: opts.WriteIndex != nil && indexable && os.Geteuid() != 0,
	}
	plan := Decide(in)
	if plan.Route == RouteNone || opts.LV != "" {
		if di != nil && di.Inner != nil {
			plan = h.planDiskLayers(abs, di, plan, in, opts)
		} else if di == nil {
			plan = h.planLayers(r, size, opts.Offset, pr, plan, in, opts)
		}
	}
	if plan.LVs == nil && di == nil {
		plan = withLVs(plan, r, pr)
	}
	if (off > 0 || limit > 0) && plan.stack == nil {
		plan.Offset, plan.SizeLimit = off, limit
	}
	h.noteNTFSState(img, abs, st.Size(), &plan)
	return pr, plan, nil
}

func sectionOf(r io.ReaderAt, off, n int64) *io.SectionReader { return io.NewSectionReader(r, off, n) }

// Mount probes image, decides how to mount it, attaches it to a loop device
// (LOOP_CONFIGURE with autoclear, the device held open until mount(2)
// returns) and mounts it with nosuid,nodev, like `mount -o loop IMAGE DIR`
// plus udisks' mount-point rules. On any failure it leaves nothing behind:
// no loop device, no mount, no directory. Needs root (CAP_SYS_ADMIN).
func (h *Host) Mount(image string, opts MountOptions) (*MountResult, error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return nil, opErr("mount", image, "", "", err)
	}
	img, _, err := openImage(abs, false, false)
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	defer img.Close()
	_, plan, err := h.plan(img, abs, opts)
	defer plan.zeroKeys()
	if err != nil {
		return nil, err
	}
	switch {
	case plan.Route == RouteNone:
		return nil, opErr("mount", abs, "", "", plan.Err)
	case plan.Truncated != nil && opts.ReadWrite:
		t := plan.Truncated
		return nil, opErr("mount", abs, "", "", &multiError{
			msg:  fmt.Sprintf("the %s filesystem claims %d bytes and the image has %d (%s): a truncated image mounts read-only only", t.Type, t.FSSize, t.Size, t),
			errs: []error{ErrTruncated, ErrReadOnlyType}})
	case plan.Disk != nil && opts.ReadWrite:
		return nil, opErr("mount", abs, "", "", reasonf(ErrDiskReadOnly, "loops reads %s images read-only: it cannot mount one read-write", plan.Disk.Format))
	case plan.stack != nil && opts.ReadWrite:
		return nil, opErr("mount", abs, "", "", reasonf(ErrDiskReadOnly, "loops reads %s read-only: it cannot mount it read-write", topLayerWhat(plan.stack)))
	case plan.Route == RouteKernel && opts.ReadWrite && rwUserspaceTypes[plan.Type] && opts.Userspace[plan.Type] &&
		opts.Backend != BackendKernel && os.Geteuid() != 0:
		// A user who is not root cannot mount(2): loops writes FAT itself.
		plan.Route = RouteUserspace
		plan.Reason += "; not root, so loops serves it read-write in userspace (FUSE)"
		return h.mountUserspace(abs, plan, opts)
	case plan.Route == RouteUserspace:
		return h.mountUserspace(abs, plan, opts)
	case plan.Route == RouteIndex && opts.ReadWrite && rwUserspaceTypes[plan.Type] && opts.ServeUserspace != nil:
		// The index is read-only; loops' userspace server writes FAT.
		plan.Route = RouteUserspace
		plan.Reason += "; read-write asked, so loops serves it in userspace (FUSE), which writes " + plan.Type
		return h.mountUserspace(abs, plan, opts)
	case plan.Route == RouteIndex:
		return h.mountIndex(img, abs, plan, opts)
	case plan.Disk != nil || plan.stack != nil:
		return h.mountDisk(abs, plan, opts)
	}
	return h.mountKernel(img, abs, plan, opts)
}

// mountKernel mounts the plan through a loop device and the kernel's
// driver, leaving nothing behind on failure.
func (h *Host) mountKernel(img *os.File, abs string, plan Plan, opts MountOptions) (*MountResult, error) {
	m := &MountResult{
		Image: abs, Type: plan.Type, Label: plan.Label, UUID: plan.UUID, Partition: plan.Partition,
		Offset: plan.Offset, SizeLimit: plan.SizeLimit, Plan: plan,
	}
	backing, err := chooseMode(m, img, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	if backing != img {
		defer backing.Close()
	}
	// The same image (overlapping bytes) already mounted? One scan of the
	// loop devices serves both the check and the reuse.
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	devs, err := h.backing(st, abs)
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	if err := checkNotMounted(devs, st, plan.Offset, plan.SizeLimit); err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	if err := checkNotServedRW(img); err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	// The mount point, before any device: a bad one leaves nothing behind.
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	m.Mountpoint, m.CreatedDir = dir.path, dir.created
	lf, n, err := h.loopFor(m, devs, backing, abs)
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", m.Mountpoint, err)
	}
	err = h.mountLoop(m, dir, opts)
	lf.Close()
	if err != nil {
		if !m.Reused {
			h.waitUnbound(n, st.Ino, time.Second)
		}
		dir.cleanup()
		return nil, opErr("mount", abs, m.Device, m.Mountpoint, err)
	}
	dir.close()
	return m, nil
}

// chooseMode decides read-only or read-write and returns the file the loop
// device is to read: img, or img reopened read-write.
func chooseMode(m *MountResult, img *os.File, opts MountOptions) (*os.File, error) {
	switch {
	case m.Plan.ReadOnly && opts.ReadWrite && m.Plan.ReadOnlyWhy != "":
		return nil, reasonf(ErrReadOnlyType, "%s: it cannot be mounted read-write", m.Plan.ReadOnlyWhy)
	case m.Plan.ReadOnly && opts.ReadWrite:
		return nil, reasonf(ErrReadOnlyType, "%s is a read-only filesystem: it cannot be mounted read-write", m.Type)
	case m.Plan.ReadOnly && m.Plan.ReadOnlyWhy != "":
		m.ReadOnly, m.ReadOnlyReason = true, m.Plan.ReadOnlyWhy
	case m.Plan.ReadOnly:
		m.ReadOnly, m.ReadOnlyReason = true, m.Type+" is a read-only filesystem"
	case opts.ReadOnly:
		m.ReadOnly = true
	}
	if m.ReadOnly {
		return img, nil
	}
	rwf, err := reopen(img, os.O_RDWR)
	switch {
	case err == nil:
		return rwf, nil
	case opts.ReadWrite:
		return nil, &multiError{msg: "cannot open the image read-write: " + unwrapPath(err).Error(), errs: []error{ErrImageReadOnly, unwrapPath(err)}}
	}
	m.ReadOnly, m.ReadOnlyReason = true, "the image file is not writable ("+unwrapPath(err).Error()+")"
	return img, nil
}

// loopFor reuses a loop device that backs exactly m's bytes, or attaches
// one (autoclear), and returns it open with its number.
func (h *Host) loopFor(m *MountResult, devs []Device, backing *os.File, abs string) (*os.File, int, error) {
	d, lf, err := findReusableIn(devs, backing, m.Offset, m.SizeLimit, !m.ReadOnly)
	if err != nil {
		return nil, -1, err
	}
	n := -1
	if d != nil {
		m.Reused, n = true, d.Number
		if d.ReadOnly && !m.ReadOnly {
			m.ReadOnly, m.ReadOnlyReason = true, d.Path+" is read-only"
		}
	} else {
		aopts := AttachOptions{ReadOnly: m.ReadOnly, Offset: m.Offset, SizeLimit: m.SizeLimit}
		if lf, n, err = h.attachFd(backing, abs, aopts, true); err != nil {
			return nil, -1, err
		}
	}
	m.Device = fmt.Sprintf("/dev/loop%d", n)
	return lf, n, nil
}

// mountLoop runs mount(2) of m.Device on dir; the caller holds the loop
// fd until it returns (closing it first would let autoclear tear the
// device down).
func (h *Host) mountLoop(m *MountResult, dir *mountDir, opts MountOptions) error {
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	var data []string
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
		if (!m.Plan.ReadOnly || m.Plan.Truncated != nil) && norecovery[m.Type] {
			// A read-only device cannot replay a journal: mount what is
			// there, as systemd-dissect does.
			data = append(data, "norecovery")
		}
	}
	data = append(data, opts.Owner.data(m.Type)...)
	m.Options = mountOptions(flags, data)
	if h.hooks != nil && h.hooks.beforeMount != nil {
		if err := h.hooks.beforeMount(m.Device); err != nil {
			return mountError(err, m.Type)
		}
	}
	if err := unix.Mount(m.Device, dir.procPath(), m.Type, flags, strings.Join(data, ",")); err != nil {
		err = mountError(err, m.Type)
		if t := m.Plan.Truncated; t != nil && errors.Is(err, ErrCorrupt) {
			// ext4, xfs, btrfs and squashfs check their size against the
			// device's and refuse (dmesg: "bad geometry", "last sector
			// read failed").
			return &multiError{msg: fmt.Sprintf("%v; the image is truncated (%s), which the kernel's %s refuses to mount", err, t, m.Type),
				errs: []error{err, ErrTruncated}}
		}
		return err
	}
	return nil
}

// norecovery lists the types that take "norecovery" for a read-only mount.
var norecovery = map[string]bool{"ext3": true, "ext4": true, "xfs": true}

func mountOptions(flags uintptr, data []string) string {
	o := []string{"rw"}
	if flags&unix.MS_RDONLY != 0 {
		o[0] = "ro"
	}
	o = append(o, "nosuid", "nodev")
	return strings.Join(append(o, data...), ",")
}

func mountError(err error, typ string) error {
	switch {
	case errors.Is(err, unix.EINVAL), errors.Is(err, unix.EUCLEAN), errors.Is(err, unix.EBADMSG), errors.Is(err, unix.EIO):
		return fmt.Errorf("mount(2) as %s failed: %w (%w: the kernel rejected the filesystem; see dmesg)", typ, err, ErrCorrupt)
	case errors.Is(err, unix.ENODEV):
		return fmt.Errorf("mount(2) as %s failed: %w (%w)", typ, err, ErrNoDriver)
	}
	return fmt.Errorf("mount(2) as %s failed: %w", typ, err)
}

// checkNotMounted fails when one of devs, the loop devices backing the
// file st, is mounted with the same bytes, and says where.
func checkNotMounted(devs []Device, st unix.Stat_t, off, limit int64) error {
	end := rangeEnd(off, limit, st.Size)
	for _, d := range devs {
		dend := rangeEnd(d.Offset, d.SizeLimit, st.Size)
		if len(d.Mountpoints) > 0 && off < dend && d.Offset < end {
			return reasonf(ErrAlreadyMounted, "already mounted at %s (%s)", strings.Join(d.Mountpoints, ", "), d.Path)
		}
	}
	return nil
}
