package blockloop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
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
	ServeUserspace func(UserspaceMount) error
}

// FSOwner are the owner options of filesystems without owners of their
// own, as mount(8)'s uid=, gid= and umask=; -1 leaves one unset.
type FSOwner struct {
	UID, GID int
	Umask    int
}

// ownerTypes take uid=, gid= and umask= in the kernel too.
var ownerTypes = map[string]bool{"vfat": true, "exfat": true, "udf": true, "iso9660": true}

// data is o as mount(2) data for a kernel filesystem of type typ.
func (o *FSOwner) data(typ string) []string {
	if o == nil || !ownerTypes[typ] {
		return nil
	}
	var out []string
	if o.UID >= 0 {
		out = append(out, "uid="+strconv.Itoa(o.UID))
	}
	if o.GID >= 0 {
		out = append(out, "gid="+strconv.Itoa(o.GID))
	}
	if o.Umask >= 0 && typ != "iso9660" && typ != "udf" {
		out = append(out, "umask="+strconv.FormatInt(int64(o.Umask), 8))
	}
	return out
}

// UserspaceMount is what a userspace server is asked to serve.
type UserspaceMount struct {
	Image      string // absolute path
	Type       string // "iso9660", "udf", "vfat", "exfat"
	Offset     int64
	SizeLimit  int64
	Mountpoint string
	Label      string
	Owner      FSOwner // -1 fields: the defaults
}

// UserspaceTypes are the filesystem types loops' userspace readers serve;
// their mounts show in /proc/self/mountinfo as "fuse.TYPE" with the image
// as source.
var UserspaceTypes = []string{"iso9660", "udf", "vfat", "exfat"}

// UserspaceFSType is how /proc/self/mountinfo shows a mount of type typ
// served by loops' userspace reader ("fuse.iso9660").
func UserspaceFSType(typ string) string { return "fuse." + typ }

// IsUserspace reports whether m is served by loops' userspace reader.
func (m MountEntry) IsUserspace() bool {
	for _, t := range UserspaceTypes {
		if m.FSType == "fuse."+t && strings.HasPrefix(m.Source, "/") {
			return true
		}
	}
	return false
}

// Mounted describes a mount Mount made.
type Mounted struct {
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
}

// xattrMarker marks a directory loops created, so umount can tell later
// without a state file. It lives on the directory itself, under the mount.
const xattrMarker = "trusted.loops.mountpoint"

// Plan probes the image and returns the mount decision without changing
// anything. Needs read access to the image only.
func (h *Host) Plan(image string, opts MountOptions) (*ProbeResult, Plan, error) {
	abs, err := filepath.Abs(image)
	if err != nil {
		return nil, Plan{}, opErr("probe", image, "", "", err)
	}
	img, _, err := openImage(abs, false, false)
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	defer img.Close()
	return h.plan(img, abs, opts)
}

func (h *Host) plan(img *os.File, abs string, opts MountOptions) (*ProbeResult, Plan, error) {
	st, err := img.Stat()
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	size := st.Size()
	var r io.ReaderAt = img
	if opts.Offset > 0 || opts.SizeLimit > 0 {
		if err := checkRange(img, opts.Offset, opts.SizeLimit); err != nil {
			return nil, Plan{}, opErr("probe", abs, "", "", err)
		}
		size = rangeEnd(opts.Offset, opts.SizeLimit, size) - opts.Offset
		r = sectionOf(img, opts.Offset, size)
	}
	pr, err := probe(newHeadCache(r, size), size, opts.Offset == 0 && opts.SizeLimit == 0)
	if err != nil {
		return nil, Plan{}, opErr("probe", abs, "", "", err)
	}
	kernel, err := h.KernelFilesystems()
	if err != nil {
		return pr, Plan{}, opErr("probe", abs, "", "", fmt.Errorf("read %s: %w", h.filesystems(), err))
	}
	plan := Decide(PlanInput{
		Probe: pr, Kernel: kernel, Loadable: h.LoadableFilesystems(), Userspace: opts.Userspace,
		Partition: opts.Partition, Type: opts.Type, Backend: opts.Backend,
	})
	if opts.Offset > 0 || opts.SizeLimit > 0 {
		plan.Offset, plan.SizeLimit = opts.Offset, opts.SizeLimit
	}
	return pr, plan, nil
}

func sectionOf(r io.ReaderAt, off, n int64) *io.SectionReader { return io.NewSectionReader(r, off, n) }

// Mount probes image, decides how to mount it, attaches it to a loop device
// (LOOP_CONFIGURE with autoclear, the device held open until mount(2)
// returns) and mounts it with nosuid,nodev, like `mount -o loop IMAGE DIR`
// plus udisks' mount-point rules. On any failure it leaves nothing behind:
// no loop device, no mount, no directory. Needs root (CAP_SYS_ADMIN).
func (h *Host) Mount(image string, opts MountOptions) (*Mounted, error) {
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
	if err != nil {
		return nil, err
	}
	switch plan.Route {
	case RouteNone:
		return nil, opErr("mount", abs, "", "", plan.Err)
	case RouteUserspace:
		return h.mountUserspace(abs, plan, opts)
	}
	m := &Mounted{
		Image: abs, Type: plan.Type, Label: plan.Label, UUID: plan.UUID, Partition: plan.Partition,
		Offset: plan.Offset, SizeLimit: plan.SizeLimit, Plan: plan,
	}
	// Read-only or read-write.
	switch {
	case plan.ReadOnly && opts.ReadWrite:
		return nil, opErr("mount", abs, "", "", reasonf(ErrReadOnlyType, "%s is a read-only filesystem: it cannot be mounted read-write", plan.Type))
	case plan.ReadOnly:
		m.ReadOnly, m.ReadOnlyReason = true, plan.Type+" is a read-only filesystem"
	case opts.ReadOnly:
		m.ReadOnly = true
	}
	backing := img
	if !m.ReadOnly {
		rwf, err := reopen(img, os.O_RDWR)
		switch {
		case err == nil:
			defer rwf.Close()
			backing = rwf
		case opts.ReadWrite:
			return nil, opErr("mount", abs, "", "", &multiError{msg: "cannot open the image read-write: " + unwrapPath(err).Error(), errs: []error{ErrImageReadOnly, unwrapPath(err)}})
		default:
			m.ReadOnly, m.ReadOnlyReason = true, "the image file is not writable ("+unwrapPath(err).Error()+")"
		}
	}
	// The same image (overlapping bytes) already mounted?
	var st unix.Stat_t
	if err := unix.Fstat(int(img.Fd()), &st); err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	// One scan of the loop devices serves both the check and the reuse
	// (each device costs an open in sysfs).
	devs, err := h.backing(st, abs)
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	if err := checkNotMounted(devs, st, plan.Offset, plan.SizeLimit); err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	// The mount point, before any device: a bad one leaves nothing behind.
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	m.Mountpoint, m.CreatedDir = dir.path, dir.created
	fail := func(dev string, err error) (*Mounted, error) {
		dir.cleanup()
		return nil, opErr("mount", abs, dev, m.Mountpoint, err)
	}
	// The loop device: reuse one that backs exactly these bytes, or attach.
	aopts := AttachOptions{ReadOnly: m.ReadOnly, Offset: plan.Offset, SizeLimit: plan.SizeLimit}
	d, lf, err := findReusableIn(devs, backing, plan.Offset, plan.SizeLimit, !m.ReadOnly)
	if err != nil {
		return fail("", err)
	}
	n := -1
	if d != nil {
		m.Reused, n = true, d.Number
		if d.ReadOnly && !m.ReadOnly {
			m.ReadOnly, m.ReadOnlyReason = true, d.Path+" is read-only"
		}
	} else {
		lf, n, err = h.attachFd(backing, abs, aopts, true)
		if err != nil {
			return fail("", err)
		}
	}
	m.Device = fmt.Sprintf("/dev/loop%d", n)
	// mount(2), with the loop fd held until it returns: closing it first
	// would let autoclear tear the device down.
	flags := uintptr(unix.MS_NOSUID | unix.MS_NODEV)
	var data []string
	if m.ReadOnly {
		flags |= unix.MS_RDONLY
		if !plan.ReadOnly && norecovery[plan.Type] {
			// A read-only device cannot replay a journal: mount what is
			// there, as systemd-dissect does.
			data = append(data, "norecovery")
		}
	}
	data = append(data, opts.Owner.data(plan.Type)...)
	m.Options = mountOptions(flags, data)
	err = nil
	if h.hooks != nil && h.hooks.beforeMount != nil {
		err = h.hooks.beforeMount(m.Device)
	}
	if err == nil {
		err = unix.Mount(m.Device, dir.procPath(), plan.Type, flags, strings.Join(data, ","))
	}
	lf.Close()
	if err != nil {
		if !m.Reused {
			h.waitUnbound(n, st.Ino, time.Second)
		}
		return fail(m.Device, mountError(err, plan.Type))
	}
	dir.close()
	return m, nil
}

// mountUserspace mounts image through loops' userspace reader: no loop
// device, a FUSE mount served by opts.ServeUserspace. Like Mount, it leaves
// nothing behind on failure. Needs /dev/fuse and, without root, fusermount.
func (h *Host) mountUserspace(abs string, plan Plan, opts MountOptions) (*Mounted, error) {
	if opts.ServeUserspace == nil {
		return nil, opErr("mount", abs, "", "", reasonf(ErrNoDriver, "the userspace path for %s is not available here", plan.Type))
	}
	if opts.ReadWrite {
		return nil, opErr("mount", abs, "", "", reasonf(ErrReadOnlyType, "%s is a read-only filesystem: it cannot be mounted read-write", plan.Type))
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	for _, m := range mounts {
		if m.IsUserspace() && m.Source == abs {
			return nil, opErr("mount", abs, "", "", reasonf(ErrAlreadyMounted, "already mounted at %s (userspace)", m.Mountpoint))
		}
	}
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	m := &Mounted{
		Image: abs, Mountpoint: dir.path, CreatedDir: dir.created, Type: plan.Type, Label: plan.Label, UUID: plan.UUID,
		Partition: plan.Partition, Offset: plan.Offset, SizeLimit: plan.SizeLimit, Plan: plan,
		ReadOnly: true, ReadOnlyReason: plan.Type + " is a read-only filesystem", Options: "ro,nosuid,nodev",
	}
	um := UserspaceMount{
		Image: abs, Type: plan.Type, Offset: plan.Offset, SizeLimit: plan.SizeLimit, Mountpoint: dir.path, Label: plan.Label,
		Owner: FSOwner{UID: -1, GID: -1, Umask: -1},
	}
	if opts.Owner != nil {
		um.Owner = *opts.Owner
	}
	err = opts.ServeUserspace(um)
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	dir.close()
	return m, nil
}

// UserspaceMounts lists the mounts served by loops' userspace reader, like
// the FUSE lines of `findmnt -t fuse.iso9660`. Needs no privilege.
func (h *Host) UserspaceMounts() ([]MountEntry, error) {
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("list", "", "", h.mountinfo(), err)
	}
	var out []MountEntry
	for _, m := range mounts {
		if m.IsUserspace() {
			out = append(out, m)
		}
	}
	return out, nil
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

// mountDir is a mount point being prepared: a directory held open.
type mountDir struct {
	path    string
	fd      int
	created bool
}

func (d *mountDir) procPath() string { return "/proc/self/fd/" + strconv.Itoa(d.fd) }
func (d *mountDir) close() {
	if d.fd >= 0 {
		unix.Close(d.fd)
		d.fd = -1
	}
}

// cleanup removes the directory if loops made it (after a failed mount).
func (d *mountDir) cleanup() {
	d.close()
	if d.created {
		unix.Rmdir(d.path)
	}
}

// prepareMountpoint opens (and, for automatic ones, creates) the mount
// point. Automatic ones: Media[/User]/LABEL, created 0700 with mkdirat and
// no symlink followed, uniquified LABEL1, LABEL2… A given one must be an
// empty directory; if it does not exist, its leaf is created.
func (h *Host) prepareMountpoint(abs string, plan Plan, opts MountOptions) (*mountDir, error) {
	if opts.Mountpoint != "" {
		return h.givenMountpoint(abs, opts.Mountpoint)
	}
	base, err := unix.Open(h.media(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		if err = os.MkdirAll(h.media(), 0o755); err == nil {
			base, err = unix.Open(h.media(), unix.O_PATH|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", h.media(), err)
	}
	defer func() { unix.Close(base) }()
	basePath := h.media()
	if p, err := filepath.EvalSymlinks(basePath); err == nil {
		basePath, _ = filepath.Abs(p)
	}
	if u := opts.User; u != "" && !strings.ContainsAny(u, "/\x00") && u != "." && u != ".." {
		err := unix.Mkdirat(base, u, 0o750)
		if err == nil && opts.GID >= 0 {
			unix.Fchownat(base, u, 0, opts.GID, unix.AT_SYMLINK_NOFOLLOW)
		}
		if err != nil && !errors.Is(err, unix.EEXIST) {
			return nil, fmt.Errorf("create %s: %w", filepath.Join(basePath, u), err)
		}
		ub, err := unix.Openat(base, u, unix.O_PATH|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			return nil, fmt.Errorf("open %s: %w", filepath.Join(basePath, u), symlinkErr(err))
		}
		unix.Close(base)
		base = ub // closed by the deferred func
		basePath = filepath.Join(basePath, u)
	}
	name := MountpointName(plan.Label, abs)
	for i := 0; i <= 1000; i++ {
		leaf := name
		if i > 0 {
			leaf = name + strconv.Itoa(i)
		}
		err := unix.Mkdirat(base, leaf, 0o700)
		if errors.Is(err, unix.EEXIST) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("create %s: %w", filepath.Join(basePath, leaf), err)
		}
		path := filepath.Join(basePath, leaf)
		fd, err := unix.Openat(base, leaf, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Unlinkat(base, leaf, unix.AT_REMOVEDIR)
			return nil, fmt.Errorf("open %s: %w", path, err)
		}
		markCreated(fd, abs)
		return &mountDir{path: path, fd: fd, created: true}, nil
	}
	return nil, fmt.Errorf("%s: too many mount points named %s…", basePath, name)
}

func symlinkErr(err error) error {
	if errors.Is(err, unix.ELOOP) {
		return ErrMountpointSymlink
	}
	return err
}

// markCreated tags a directory loops made. trusted.* needs root, which a
// mount has; user.* is the fallback on filesystems without trusted.
func markCreated(fd int, image string) {
	if unix.Fsetxattr(fd, xattrMarker, []byte(image), 0) != nil {
		unix.Fsetxattr(fd, "user.loops.mountpoint", []byte(image), 0)
	}
}

// createdByLoops reports whether the directory carries loops' marker.
func createdByLoops(path string) bool {
	buf := make([]byte, 4096)
	if _, err := unix.Lgetxattr(path, xattrMarker, buf); err == nil {
		return true
	}
	_, err := unix.Lgetxattr(path, "user.loops.mountpoint", buf)
	return err == nil
}

// canonParent makes p absolute and resolves symlinks in its parent
// directories, but not in its last component: the kernel records mount
// points that way, and umount must not follow a symlink.
func canonParent(p string) (string, error) {
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err
	}
	if abs == "/" {
		return abs, nil
	}
	parent, err := filepath.EvalSymlinks(filepath.Dir(abs))
	if err != nil {
		return "", err
	}
	return filepath.Join(parent, filepath.Base(abs)), nil
}

func (h *Host) givenMountpoint(image, p string) (*mountDir, error) {
	abs, err := canonParent(p)
	if err != nil {
		return nil, err
	}
	created := false
	fd, err := unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
	if errors.Is(err, unix.ENOENT) {
		// Create the leaf (its parent must exist), and own it.
		if err = unix.Mkdir(abs, 0o700); err != nil {
			return nil, fmt.Errorf("create mount point: %w", err)
		}
		created = true
		fd, err = unix.Open(abs, unix.O_RDONLY|unix.O_DIRECTORY|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Rmdir(abs)
			return nil, err
		}
		markCreated(fd, image)
		return &mountDir{path: abs, fd: fd, created: true}, nil
	}
	if err != nil {
		var st unix.Stat_t
		if unix.Lstat(abs, &st) == nil {
			switch st.Mode & unix.S_IFMT {
			case unix.S_IFLNK:
				return nil, reasonf(ErrMountpointSymlink, "%s is a symbolic link; give the directory it points to", abs)
			case unix.S_IFDIR:
			default:
				return nil, reasonf(ErrMountpointNotDir, "%s is not a directory", abs)
			}
		}
		return nil, err
	}
	d := &mountDir{path: abs, fd: fd, created: created}
	empty, err := dirEmpty(fd)
	if err != nil {
		d.close()
		return nil, err
	}
	if !empty {
		d.close()
		return nil, reasonf(ErrMountpointNotEmpty, "%s is not empty; mounting there would hide its files", abs)
	}
	return d, nil
}

func dirEmpty(fd int) (bool, error) {
	dup, err := unix.Openat(fd, ".", unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0)
	if err != nil {
		return false, err
	}
	f := os.NewFile(uintptr(dup), "dir")
	defer f.Close()
	names, err := f.Readdirnames(1)
	if errors.Is(err, io.EOF) {
		return true, nil
	}
	return len(names) == 0, err
}

// maxNameBytes leaves room under NAME_MAX (255) for a "1000" suffix.
const maxNameBytes = 240

// MountpointName turns a volume label into a directory name, as udisks
// does: "/", "\" and control characters become "_", and a label that is
// empty, "." or ".." is not used; then the image's base name (without its
// extension) is. The result never contains "/" and is never "." or "..".
func MountpointName(label, image string) string {
	if n := sanitizeName(label); n != "" {
		return n
	}
	base := filepath.Base(image)
	if ext := filepath.Ext(base); ext != "" && len(ext) < len(base) {
		base = strings.TrimSuffix(base, ext)
	}
	if n := sanitizeName(base); n != "" {
		return n
	}
	return "disk"
}

func sanitizeName(s string) string {
	s = strings.ToValidUTF8(s, "_")
	var b strings.Builder
	for _, r := range s {
		switch {
		case r == '/' || r == '\\' || r == 0 || unicode.IsControl(r) || !unicode.IsPrint(r) && !unicode.IsSpace(r):
			b.WriteByte('_')
		case unicode.IsSpace(r) && r != ' ':
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	out := strings.TrimSpace(b.String())
	for len(out) > maxNameBytes {
		_, size := utf8.DecodeLastRuneInString(out)
		out = out[:len(out)-size]
	}
	if out == "." || out == ".." {
		return ""
	}
	return out
}

// UnmountOptions are the choices of `loops umount`.
type UnmountOptions struct {
	Lazy bool // --lazy: detach the mount now, clean up when no longer busy (MNT_DETACH)
}

// Unmounted says what Unmount did for one mount.
type Unmounted struct {
	Mountpoint string
	Device     string
	Image      string
	RemovedDir bool
	// DirKept says why the directory stays, when loops made it but could
	// not remove it ("not empty").
	DirKept string
	// Detached: the loop device is gone. Deferred: it is still attached
	// because something still uses it (a lazy unmount, another mount, an
	// open fd); the kernel detaches it when that ends. Persistent: it was
	// attached to stay (loops block attach, losetup) and is left attached.
	Detached   bool
	Deferred   bool
	Persistent bool
	OtherUsers []string // other mount points of the device
	// Userspace: the mount was served by loops' userspace reader (no loop
	// device); its server exits with the unmount.
	Userspace bool
}

// Unmount unmounts a loop mount, given as its mount point, the loop device,
// or the image (then every mount of that image), like `umount`, without
// following symlinks. It then removes the mount point if loops made it, and
// reports whether the loop device was detached. Needs root.
func (h *Host) Unmount(target string, opts UnmountOptions) ([]Unmounted, error) {
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("umount", "", "", target, err)
	}
	todo, err := h.resolveMounts(target, mounts)
	if err != nil {
		return nil, opErr("umount", "", "", target, err)
	}
	var out []Unmounted
	for _, m := range todo {
		u, err := h.unmountOne(m, opts)
		if err != nil {
			return out, opErr("umount", u.Image, u.Device, m.Mountpoint, err)
		}
		out = append(out, u)
	}
	return out, nil
}

func (h *Host) resolveMounts(target string, mounts []MountEntry) ([]MountEntry, error) {
	abs, err := canonParent(target)
	if err != nil {
		return nil, err
	}
	var st unix.Stat_t
	if err := unix.Lstat(abs, &st); err != nil {
		// A FUSE mount whose server died answers ENOTCONN; find it by path.
		if errors.Is(err, unix.ENOTCONN) {
			for _, m := range mounts {
				if m.Mountpoint == abs {
					return []MountEntry{m}, nil
				}
			}
		}
		return nil, err
	}
	var out []MountEntry
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFDIR:
		var last *MountEntry
		for i := range mounts {
			if mounts[i].Mountpoint == abs {
				last = &mounts[i] // the top of a stack of mounts
			}
		}
		if last == nil {
			return nil, reasonf(ErrNotMounted, "nothing is mounted at %s", abs)
		}
		if _, ok := loopOf(*last); !ok && !last.IsUserspace() {
			return nil, reasonf(ErrNotLoop, "%s is not a loop mount (%s from %s); use umount(8)", abs, last.FSType, last.Source)
		}
		out = append(out, *last)
	case unix.S_IFLNK:
		return nil, reasonf(ErrNotMounted, "%s is a symbolic link; give the mount point itself (loops does not follow symlinks here)", abs)
	case unix.S_IFBLK:
		if unix.Major(st.Rdev) != loopMajor {
			return nil, ErrNotLoop
		}
		for _, m := range mounts {
			if k, ok := loopOf(m); ok && k == int(unix.Minor(st.Rdev)) {
				out = append(out, m)
			}
		}
		if len(out) == 0 {
			return nil, reasonf(ErrNotMounted, "%s is not mounted", abs)
		}
	case unix.S_IFREG:
		for _, m := range mounts {
			if m.IsUserspace() && m.Source == abs {
				out = append(out, m)
			}
		}
		devs, err := h.backing(st, abs)
		if err != nil {
			return nil, err
		}
		for _, d := range devs {
			for _, m := range mounts {
				if k, ok := loopOf(m); ok && k == d.Number {
					out = append(out, m)
				}
			}
		}
		if len(out) == 0 {
			return nil, reasonf(ErrNotMounted, "%s is not mounted", abs)
		}
	default:
		return nil, reasonf(ErrNotMounted, "%s is neither a mount point, a loop device nor an image", abs)
	}
	return out, nil
}

func (h *Host) unmountOne(m MountEntry, opts UnmountOptions) (Unmounted, error) {
	if m.IsUserspace() {
		return h.unmountUserspace(m, opts)
	}
	n, _ := loopOf(m)
	u := Unmounted{Mountpoint: m.Mountpoint, Device: fmt.Sprintf("/dev/loop%d", n)}
	d, _ := h.readSys(n)
	if d != nil {
		u.Image = d.BackingFile
	}
	flags := unix.UMOUNT_NOFOLLOW
	if opts.Lazy {
		flags |= unix.MNT_DETACH
	}
	if err := unix.Unmount(m.Mountpoint, flags); err != nil {
		if errors.Is(err, unix.EBUSY) {
			return u, &multiError{msg: "busy: a process has a file open or its working directory there", errs: []error{ErrBusy, err}}
		}
		return u, fmt.Errorf("umount2: %w", err)
	}
	if createdByLoops(m.Mountpoint) {
		if err := unix.Rmdir(m.Mountpoint); err == nil {
			u.RemovedDir = true
		} else if errors.Is(err, unix.ENOTEMPTY) || errors.Is(err, unix.EEXIST) {
			u.DirKept = "not empty"
		} else if errors.Is(err, unix.EBUSY) {
			u.DirKept = "something else is mounted there"
		} else {
			u.DirKept = err.Error()
		}
	}
	if d == nil {
		u.Detached = true
		return u, nil
	}
	if !d.Autoclear {
		u.Persistent = true
		return u, nil
	}
	if h.waitUnbound(n, d.BackingInode, 500*time.Millisecond) {
		u.Detached = true
		return u, nil
	}
	u.Deferred = true
	mounts, _ := h.mounts()
	u.OtherUsers = mountsOf(mounts, n)
	return u, nil
}

// unmountUserspace unmounts a mount of loops' userspace reader, with
// umount2 as root and fusermount otherwise; its server then exits. A mount
// whose server died (ENOTCONN) is cleaned up the same way.
func (h *Host) unmountUserspace(m MountEntry, opts UnmountOptions) (Unmounted, error) {
	u := Unmounted{Mountpoint: m.Mountpoint, Image: m.Source, Userspace: true, Detached: true}
	flags := unix.UMOUNT_NOFOLLOW
	if opts.Lazy {
		flags |= unix.MNT_DETACH
	}
	err := unix.Unmount(m.Mountpoint, flags)
	if errors.Is(err, unix.EPERM) {
		err = fusermountUnmount(m.Mountpoint, opts.Lazy)
	}
	if err != nil {
		if errors.Is(err, unix.EBUSY) {
			return u, &multiError{msg: "busy: a process has a file open or its working directory there", errs: []error{ErrBusy, err}}
		}
		return u, fmt.Errorf("umount2: %w", err)
	}
	if createdByLoops(m.Mountpoint) {
		if err := unix.Rmdir(m.Mountpoint); err == nil {
			u.RemovedDir = true
		} else {
			u.DirKept = err.Error()
		}
	}
	return u, nil
}

// fusermountUnmount runs `fusermount3 -u` (or fusermount), which lets the
// user who mounted a FUSE filesystem unmount it.
func fusermountUnmount(dir string, lazy bool) error {
	args := []string{"-u"}
	if lazy {
		args = append(args, "-z")
	}
	var lastErr error = unix.EPERM
	for _, bin := range []string{"fusermount3", "fusermount"} {
		path, err := exec.LookPath(bin)
		if err != nil {
			continue
		}
		out, err := exec.Command(path, append(args, "--", dir)...).CombinedOutput()
		if err == nil {
			return nil
		}
		msg := strings.TrimSpace(string(out))
		if strings.Contains(msg, "Device or resource busy") {
			return fmt.Errorf("%s: %s: %w", bin, msg, unix.EBUSY)
		}
		lastErr = fmt.Errorf("%s: %s: %w", bin, msg, unix.EPERM)
	}
	return lastErr
}
