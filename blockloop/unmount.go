package blockloop

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// UnmountOptions are the choices of `loops umount`.
type UnmountOptions struct {
	Lazy bool // --lazy: detach the mount now, clean up when no longer busy (MNT_DETACH)
}

// UnmountResult says what Unmount did for one mount.
type UnmountResult struct {
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
	// Index: the mount was an EROFS index over the image (RouteIndex).
	Index bool
	// DiskServer: the loop device read a VM disk image's virtual disk
	// served by loops (Image is the VM image); DiskServerStopped: that
	// server has ended (it ends when the device lets go of its file).
	DiskServer        bool
	DiskServerStopped bool
}

// Unmount unmounts a loop mount, given as its mount point, the loop device,
// or the image (then every mount of that image), like `umount`, without
// following symlinks. It then removes the mount point if loops made it, and
// reports whether the loop device was detached. Needs root.
func (h *Host) Unmount(target string, opts UnmountOptions) ([]UnmountResult, error) {
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("umount", "", "", target, err)
	}
	todo, err := h.resolveMounts(target, mounts)
	if err != nil {
		return nil, opErr("umount", "", "", target, err)
	}
	var out []UnmountResult
	for _, m := range todo {
		u, err := h.unmountOne(m, mounts, opts)
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
		if _, ok := h.indexMount(*last); ok {
			return []MountEntry{*last}, nil
		}
		if _, ok := loopOf(*last); !ok && !isUserspace(*last) {
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
			im, index := h.indexMount(m)
			if isUserspace(m) && m.Source == abs || index && im.Image == abs {
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

// unmountOne unmounts m; mounts is the mount table m was found in (read
// once per command: it names the VM disk servers).
func (h *Host) unmountOne(m MountEntry, mounts []MountEntry, opts UnmountOptions) (UnmountResult, error) {
	if isUserspace(m) {
		return h.unmountUserspace(m, opts)
	}
	if im, ok := h.indexMount(m); ok {
		return h.unmountIndex(im, opts)
	}
	n, _ := loopOf(m)
	u := UnmountResult{Mountpoint: m.Mountpoint, Device: fmt.Sprintf("/dev/loop%d", n)}
	d, _ := h.readSys(n)
	var serverDir string
	if d != nil {
		u.Image = d.BackingFile
		if img, ok := diskImageOf(d.BackingFile, diskServers(mounts)); ok {
			u.Image, u.DiskServer, serverDir = img, true, filepath.Dir(d.BackingFile)
		}
	}
	if err := umountDir(m.Mountpoint, opts.Lazy, false); err != nil {
		return u, err
	}
	removeCreatedDir(&u)
	if d == nil {
		u.Detached = true
		return u, nil
	}
	if !d.Autoclear {
		u.Persistent = true
		return u, nil
	}
	// The kernel clears an autoclear device on its last close, which a
	// (non-lazy) umount2 of its last mount is, before umount2 returns: the
	// first look usually finds it gone. Still bound and still mounted
	// elsewhere, it stays until that mount goes, so there is nothing to
	// wait for; otherwise a process may hold it for a moment, or the
	// kernel clears it a little later (asynchronous autoclear): wait a
	// while for that.
	var now []MountEntry
	unbound := h.waitUnbound(n, d.BackingInode, 0)
	if !unbound {
		now, _ = h.mounts()
		if len(mountsOf(now, n)) == 0 {
			unbound = h.waitUnbound(n, d.BackingInode, 500*time.Millisecond)
			now, _ = h.mounts()
		}
	}
	if unbound {
		u.Detached = true
		if u.DiskServer {
			u.DiskServerStopped = cleanDeadServer(serverDir) || h.waitServerGone(serverDir, 2*time.Second)
		}
		return u, nil
	}
	u.Deferred = true
	u.OtherUsers = mountsOf(now, n)
	return u, nil
}

// unmountUserspace unmounts a mount of loops' userspace reader, with
// umount2 as root and fusermount otherwise; its server then exits. A mount
// whose server died (ENOTCONN) is cleaned up the same way.
func (h *Host) unmountUserspace(m MountEntry, opts UnmountOptions) (UnmountResult, error) {
	u := UnmountResult{Mountpoint: m.Mountpoint, Image: m.Source, Userspace: true, Detached: true}
	rw := isUserspaceRW(m)
	if rw {
		if err := flushUserspaceRW(m); err != nil && !opts.Lazy && !errors.Is(err, unix.ENOTCONN) {
			return u, fmt.Errorf("flush %s before unmounting: %w", m.Mountpoint, err)
		}
	}
	if err := umountDir(m.Mountpoint, opts.Lazy, true); err != nil {
		return u, err
	}
	if rw && !opts.Lazy && !waitServerDone(m.Source, rwServerEndTimeout) {
		return u, fmt.Errorf("the server of %s did not finish writing %s within %s", m.Mountpoint, m.Source, rwServerEndTimeout)
	}
	removeCreatedDir(&u)
	return u, nil
}

// unmountIndex unmounts an EROFS index mount: its index, an unnamed
// file, goes with it (and its loop devices, autoclear, where it had them).
func (h *Host) unmountIndex(m IndexMount, opts UnmountOptions) (UnmountResult, error) {
	u := UnmountResult{Mountpoint: m.Mountpoint, Image: m.Image, Index: true, Detached: true}
	if err := umountDir(m.Mountpoint, opts.Lazy, false); err != nil {
		return u, err
	}
	removeCreatedDir(&u)
	return u, nil
}

// umountDir unmounts dir without following a symlink, lazily (MNT_DETACH)
// if asked; a FUSE mount the caller may not umount2 goes through
// fusermount, which lets the user who mounted it unmount it.
func umountDir(dir string, lazy, fuse bool) error {
	flags := unix.UMOUNT_NOFOLLOW
	if lazy {
		flags |= unix.MNT_DETACH
	}
	err := unix.Unmount(dir, flags)
	if fuse && errors.Is(err, unix.EPERM) {
		err = fusermountUnmount(dir, lazy)
	}
	switch {
	case err == nil:
		return nil
	case errors.Is(err, unix.EBUSY):
		return &multiError{msg: "busy: a process has a file open or its working directory there", errs: []error{ErrBusy, err}}
	}
	return fmt.Errorf("umount2: %w", err)
}

// removeCreatedDir removes u's mount point if loops made it, and says why
// it stays when it cannot.
func removeCreatedDir(u *UnmountResult) {
	if !createdByLoops(u.Mountpoint) {
		return
	}
	err := unix.Rmdir(u.Mountpoint)
	switch {
	case err == nil:
		u.RemovedDir = true
	case errors.Is(err, unix.ENOTEMPTY), errors.Is(err, unix.EEXIST):
		u.DirKept = "not empty"
	case errors.Is(err, unix.EBUSY):
		u.DirKept = "something else is mounted there"
	default:
		u.DirKept = err.Error()
	}
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
