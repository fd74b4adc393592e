package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// IndexInfo is what the writer of an EROFS index reported.
type IndexInfo struct {
	BlockSize   int   `json:"block_size"`
	Inodes      int   `json:"inodes"`
	Size        int64 `json:"size"`    // bytes of the index
	Flat        int   `json:"flat"`    // files read from one extent of the image
	Chunked     int   `json:"chunked"` // files read from several (chunk indexes)
	Copied      int   `json:"copied"`  // files whose bytes were copied into the index
	CopiedBytes int64 `json:"copied_bytes"`
}

// IndexMount is a mount of an EROFS index over an image (RouteIndex).
type IndexMount struct {
	MountEntry
	Image  string
	Type   string // the image's filesystem ("iso9660")
	Offset int64  // where it starts in the image
}

// indexSources is where the names mount(2) is given for index mounts
// live, for a moment: mountinfo keeps the name, which says the image.
func (h *Host) indexSources() string { return filepath.Join(h.runDir(), "erofs") }

// indexSource is the name an index mount of the filesystem of type typ at
// off in abs is made from: SOURCES/TYPE.OFFSET.PID/ABS.
func (h *Host) indexSource(abs, typ string, off int64) string {
	return filepath.Join(h.indexSources(), fmt.Sprintf("%s.%d.%d", typ, off, os.Getpid()), abs)
}

// indexMount tells whether m is an index mount loops made, and of what.
func (h *Host) indexMount(m MountEntry) (IndexMount, bool) {
	rest, ok := strings.CutPrefix(m.Source, h.indexSources()+"/")
	if m.FSType != "erofs" || !ok {
		return IndexMount{}, false
	}
	tag, img, ok := strings.Cut(rest, "/")
	f := strings.Split(tag, ".")
	if !ok || len(f) != 3 {
		return IndexMount{}, false
	}
	off, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil {
		return IndexMount{}, false
	}
	return IndexMount{MountEntry: m, Image: "/" + img, Type: f[0], Offset: off}, true
}

// IndexMounts lists the EROFS index mounts loops made, like `findmnt -t
// erofs` of those. Needs no privilege.
func (h *Host) IndexMounts() ([]IndexMount, error) {
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("list", "", "", h.mountinfo(), err)
	}
	var out []IndexMount
	for _, m := range mounts {
		if im, ok := h.indexMount(m); ok {
			out = append(out, im)
		}
	}
	return out, nil
}

// mountIndex mounts plan's filesystem through an EROFS index: the
// writer (opts.WriteIndex: loops-serve) describes the tree in an unnamed
// root-only file, which the kernel's erofs mounts with the image as its
// device (mount -t erofs -o ro,device=IMAGE INDEX DIR, file-backed; both
// on read-only loop devices where the kernel cannot mount files). The
// index has no name: it goes with the mount. A tree the index cannot
// describe falls back to the userspace route. Like Mount, it leaves
// nothing behind on failure. Needs root.
func (h *Host) mountIndex(img *os.File, abs string, plan Plan, opts MountOptions) (*MountResult, error) {
	if opts.ReadWrite {
		return nil, opErr("mount", abs, "", "", reasonf(ErrReadOnlyType, "%s is a read-only filesystem: it cannot be mounted read-write", plan.Type))
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	for _, m := range mounts {
		if im, ok := h.indexMount(m); ok && im.Image == abs && im.Offset == plan.Offset {
			return nil, opErr("mount", abs, "", "", reasonf(ErrAlreadyMounted, "already mounted at %s (erofs index)", m.Mountpoint))
		}
	}
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	m := readOnlyMount(abs, dir, plan, plan.Type+" is a read-only filesystem")
	index, err := h.indexFile()
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	defer index.Close()
	req := ServeRequest{
		Image: abs, Type: plan.Type, Offset: plan.Offset, SizeLimit: plan.SizeLimit, Mountpoint: dir.path, Label: plan.Label,
		Owner: FSOwner{UID: -1, GID: -1, Umask: -1}, CompactMtime: kernelAtLeast(6, 15),
	}
	if opts.Owner != nil {
		req.Owner = *opts.Owner
	}
	info, err := opts.WriteIndex(req, index)
	if err != nil {
		dir.cleanup()
		if errors.Is(err, ErrNotIndexable) && opts.ServeUserspace != nil && opts.Backend != BackendKernel {
			plan.Route = RouteUserspace
			plan.Reason += fmt.Sprintf("; but the index cannot describe it (%v), so loops reads it in userspace (FUSE)", err)
			return h.mountUserspace(abs, plan, opts)
		}
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	m.Index = &info
	if err := h.mountIndexFile(m, dir, img, index); err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, m.Device, dir.path, err)
	}
	dir.close()
	return m, nil
}

// indexFile makes the unnamed file the index is written to (O_TMPFILE,
// 0600) in the first of IndexDir, /var/tmp, /tmp and RunDir that is not
// in memory (erofs mounts a file only where its filesystem reads pages:
// not tmpfs), else in RunDir (then mounted through a loop device).
func (h *Host) indexFile() (*os.File, error) {
	dirs := []string{"/var/tmp", "/tmp", h.runDir()}
	if h.IndexDir != "" {
		dirs = []string{h.IndexDir}
	}
	var mem []string
	for _, d := range dirs {
		var st unix.Statfs_t
		if unix.Statfs(d, &st) != nil {
			continue
		}
		if st.Type == unix.TMPFS_MAGIC || st.Type == unix.RAMFS_MAGIC {
			mem = append(mem, d)
			continue
		}
		if f, err := openTmpfile(d); err == nil {
			return f, nil
		}
	}
	var lastErr error = fmt.Errorf("no directory for the index among %s", strings.Join(dirs, ", "))
	for _, d := range append(mem, h.runDir()) {
		os.MkdirAll(d, 0o755)
		f, err := openTmpfile(d)
		if err == nil {
			return f, nil
		}
		lastErr = err
	}
	return nil, lastErr
}

func openTmpfile(dir string) (*os.File, error) {
	fd, err := unix.Open(dir, unix.O_TMPFILE|unix.O_RDWR|unix.O_CLOEXEC, 0o600)
	if err != nil {
		return nil, &os.PathError{Op: "open O_TMPFILE", Path: dir, Err: err}
	}
	return os.NewFile(uintptr(fd), filepath.Join(dir, "(index)")), nil
}

// mountIndexFile mounts index over img at dir: file-backed, else both on
// read-only autoclear loop devices (kernels before 6.12, an index in
// memory). The source mount(2) is given is a symlink whose name says the
// image (see indexSource), removed once mounted.
func (h *Host) mountIndexFile(m *MountResult, dir *mountDir, img, index *os.File) error {
	source := h.indexSource(m.Image, m.Type, m.Offset)
	flags := uintptr(unix.MS_RDONLY | unix.MS_NOSUID | unix.MS_NODEV)
	m.Options = "ro,nosuid,nodev"
	link := func(target string) error {
		os.Remove(source)
		if err := os.MkdirAll(filepath.Dir(source), 0o700); err != nil {
			return err
		}
		return os.Symlink(target, source)
	}
	h.sweepIndexSources()
	defer h.removeIndexSource(source)
	var err error = unix.ENOTBLK
	if h.hooks == nil || !h.hooks.indexLoops {
		if err = link(fmt.Sprintf("/proc/self/fd/%d", index.Fd())); err != nil {
			return err
		}
		err = unix.Mount(source, dir.procPath(), "erofs", flags, fmt.Sprintf("device=/proc/self/fd/%d", img.Fd()))
	}
	if !errors.Is(err, unix.ENOTBLK) {
		return indexMountError(err)
	}
	// No file-backed erofs here (or the index is in memory): both files on
	// read-only loop devices, cleared when the mount goes.
	ro := AttachOptions{ReadOnly: true}
	lf, n, err := h.attachFd(index, index.Name(), ro, true)
	if err != nil {
		return err
	}
	defer lf.Close()
	df, dn, err := h.attachFd(img, m.Image, ro, true)
	if err != nil {
		lf.Close()
		h.waitUnbound(n, 0, 0)
		return err
	}
	defer df.Close()
	m.Device = fmt.Sprintf("/dev/loop%d", n)
	if err := link(m.Device); err != nil {
		return err
	}
	if err := unix.Mount(source, dir.procPath(), "erofs", flags, fmt.Sprintf("device=/dev/loop%d", dn)); err != nil {
		return indexMountError(err)
	}
	return nil
}

// sweepIndexSources removes the names a loops killed between making one
// and mounting left behind (their process is gone).
func (h *Host) sweepIndexSources() {
	ents, _ := os.ReadDir(h.indexSources())
	for _, e := range ents {
		i := strings.LastIndexByte(e.Name(), '.')
		pid, err := strconv.Atoi(e.Name()[i+1:])
		if err != nil || pid <= 0 || unix.Kill(pid, 0) != unix.ESRCH {
			continue
		}
		os.RemoveAll(filepath.Join(h.indexSources(), e.Name()))
	}
}

// removeIndexSource removes the symlink and the directories made for it.
func (h *Host) removeIndexSource(source string) {
	os.Remove(source)
	top := h.indexSources()
	for d := filepath.Dir(source); strings.HasPrefix(d, top+"/"); d = filepath.Dir(d) {
		if unix.Rmdir(d) != nil {
			break
		}
	}
}

func indexMountError(err error) error {
	if err == nil {
		return nil
	}
	return mountError(err, "erofs")
}

// kernelAtLeast tells whether the running kernel is major.minor or later.
func kernelAtLeast(major, minor int) bool {
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return false
	}
	var ma, mi int
	fmt.Sscanf(unix.ByteSliceToString(u.Release[:]), "%d.%d", &ma, &mi)
	return ma > major || ma == major && mi >= minor
}
