package netloop

import (
	"bytes"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// HostsLockFile is the lock EditHostsFile holds while it edits /etc/hosts,
// so that loops instances take turns. Other hosts files get a lock named
// after a hash of their path in os.TempDir(), never a file beside them.
const HostsLockFile = "/run/lock/loops-hosts.lock"

// ReadHostsFile reads and parses a hosts file such as /etc/hosts, which
// anyone may read.
func ReadHostsFile(path string) (*HostsFile, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fileErr("read", path, err)
	}
	return ParseHosts(b), nil
}

// EditHostsFile safely applies edit to the hosts file at path, the careful
// version of editing /etc/hosts by hand. It needs write access to the file
// and its directory (root for /etc/hosts); permission errors keep their
// errno, so errors.Is(err, fs.ErrPermission) works.
//
// Holding an exclusive flock on a lock file (HostsLockFile for /etc/hosts;
// other files get one in os.TempDir() named after a hash of their path), it
// reads the file (the target, when path is a symlink), calls edit, and
// writes only when edit changed the bytes. Writing goes to a temp file in the
// same directory with the old file's mode, owner and SELinux label, synced
// and renamed over the file, then the directory is synced. When the rename
// fails with EBUSY or EXDEV (a bind-mounted /etc/hosts in Docker or
// Kubernetes), or when a caller that is not root cannot give the temp file
// the old owner or label, it writes the file in place instead and reads it
// back to check. It
// never leaves a temp file behind. When another program changes the file
// during the edit, edit is called again on the new contents (at most three
// times). edit must not call EditHostsFile on the same file.
func EditHostsFile(path string, edit func(*HostsFile) (bool, error)) (changed bool, err error) {
	target, err := filepath.EvalSymlinks(path)
	if err == nil {
		target, err = filepath.Abs(target)
	}
	if err != nil {
		return false, fileErr("resolve", path, err)
	}
	unlock, err := lockHosts(target)
	if err != nil {
		return false, err
	}
	defer unlock()
	for attempt := 1; ; attempt++ {
		old, meta, err := readForEdit(target)
		if err != nil {
			return false, err
		}
		f := ParseHosts(old)
		changed, err := edit(f)
		if err != nil {
			if he, ok := errors.AsType[*HostsError](err); ok && he.Path == "" {
				he.Path = target
			}
			return false, err
		}
		if !changed {
			return false, nil
		}
		data := f.Bytes()
		if bytes.Equal(data, old) {
			return false, nil
		}
		err = writeHosts(target, old, data, meta)
		if errors.Is(err, ErrHostsChanged) && attempt < 3 {
			continue
		}
		if err != nil {
			return false, err
		}
		return true, nil
	}
}

type fileMeta struct {
	mode     uint32 // permission bits, with setuid, setgid and sticky
	uid, gid int
	label    []byte // security.selinux, nil when absent
}

const selinuxXattr = "security.selinux"

func readForEdit(path string) ([]byte, fileMeta, error) {
	var m fileMeta
	f, err := os.Open(path)
	if err != nil {
		return nil, m, fileErr("read", path, err)
	}
	defer f.Close()
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return nil, m, fileErr("stat", path, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		return nil, m, &HostsError{Op: "edit", Path: path, Err: errors.New("not a regular file")}
	}
	m.mode, m.uid, m.gid = st.Mode&0o7777, int(st.Uid), int(st.Gid)
	b, err := io.ReadAll(f)
	if err != nil {
		return nil, m, fileErr("read", path, err)
	}
	m.label, err = getXattr(int(f.Fd()), selinuxXattr)
	if err != nil {
		return nil, m, fileErr("read SELinux label", path, err)
	}
	return b, m, nil
}

// getXattr returns the value of attribute name, or nil when the file or the
// file system has none.
func getXattr(fd int, name string) ([]byte, error) {
	for {
		n, err := unix.Fgetxattr(fd, name, nil)
		if err == unix.ENODATA || err == unix.ENOTSUP {
			return nil, nil
		}
		if err != nil {
			return nil, err
		}
		buf := make([]byte, n)
		n, err = unix.Fgetxattr(fd, name, buf)
		if err == unix.ERANGE {
			continue // it grew meanwhile
		}
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	}
}

// writeHosts replaces path's contents old with data: through a temp file
// renamed over it, or in place when renaming would lose the owner or label,
// or path is a mount point.
func writeHosts(path string, old, data []byte, m fileMeta) error {
	tmp, err := createLike(path, m)
	if errors.Is(err, errWriteInPlace) {
		return writeInPlace(path, old, data)
	}
	if err != nil {
		return err
	}
	tmpName := tmp.Name()
	if err := fillTemp(tmp, path, data); err != nil {
		os.Remove(tmpName)
		return err
	}
	if err := checkUnchanged(path, old); err != nil {
		os.Remove(tmpName)
		return err
	}
	if err := os.Rename(tmpName, path); err != nil {
		os.Remove(tmpName)
		if errors.Is(err, unix.EBUSY) || errors.Is(err, unix.EXDEV) {
			// A mount point (Docker's /etc/hosts) cannot be renamed over.
			return writeInPlace(path, old, data)
		}
		return fileErr("rename temp file over it", path, err)
	}
	syncDir(filepath.Dir(path))
	return nil
}

// errWriteInPlace: the temp file cannot get the old file's owner or label.
var errWriteInPlace = errors.New("write in place")

// createLike creates a temp file beside path with m's owner, mode and
// SELinux label. A caller that is not root may be unable to give it the old
// owner or label; renaming it would change them, so it returns
// errWriteInPlace then, and the file is written in place instead (as vim's
// backupcopy=auto does).
func createLike(path string, m fileMeta) (*os.File, error) {
	dir, base := filepath.Split(path)
	tmp, err := os.CreateTemp(dir, "."+base+".loops-*.tmp")
	if err != nil {
		return nil, fileErr("create temp file", path, err)
	}
	fail := func(err error) (*os.File, error) {
		tmp.Close()
		os.Remove(tmp.Name())
		return nil, err
	}
	denied := func(err error) bool {
		return os.Geteuid() != 0 && (errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES))
	}
	fd := int(tmp.Fd())
	if err := unix.Fchown(fd, m.uid, m.gid); err != nil {
		if denied(err) {
			return fail(errWriteInPlace)
		}
		return fail(fileErr(fmt.Sprintf("give temp file owner %d:%d", m.uid, m.gid), path, err))
	}
	if err := unix.Fchmod(fd, m.mode); err != nil {
		return fail(fileErr(fmt.Sprintf("set temp file mode %#o", m.mode), path, err))
	}
	if m.label != nil {
		if err := unix.Fsetxattr(fd, selinuxXattr, m.label, 0); err != nil && err != unix.ENOTSUP {
			if denied(err) {
				return fail(errWriteInPlace)
			}
			return fail(fileErr("copy SELinux label to temp file", path, err))
		}
	}
	return tmp, nil
}

// fillTemp writes data to tmp, syncs and closes it.
func fillTemp(tmp *os.File, path string, data []byte) error {
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return fileErr("write temp file", path, err)
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return fileErr("sync temp file", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fileErr("close temp file", path, err)
	}
	return nil
}

// checkUnchanged returns ErrHostsChanged when path no longer holds old.
func checkUnchanged(path string, old []byte) error {
	cur, err := os.ReadFile(path)
	if err != nil {
		return fileErr("re-read", path, err)
	}
	if !bytes.Equal(cur, old) {
		return &HostsError{Op: "write", Path: path, Err: ErrHostsChanged}
	}
	return nil
}

// writeInPlace overwrites path with data, keeping its inode, then reads it
// back. On a failed write it tries to put old back.
func writeInPlace(path string, old, data []byte) error {
	if err := checkUnchanged(path, old); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return fileErr("open for writing in place", path, err)
	}
	defer f.Close()
	if _, err := f.WriteAt(data, 0); err != nil {
		f.WriteAt(old, 0)
		f.Truncate(int64(len(old)))
		return fileErr("write in place", path, err)
	}
	if err := f.Truncate(int64(len(data))); err != nil {
		return fileErr("truncate in place", path, err)
	}
	if err := f.Sync(); err != nil {
		return fileErr("sync", path, err)
	}
	if err := f.Close(); err != nil {
		return fileErr("close", path, err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		return fileErr("read back", path, err)
	}
	if !bytes.Equal(got, data) {
		return &HostsError{Op: "read back", Path: path, Err: errors.New("contents differ from what was written")}
	}
	return nil
}

// syncDir makes a rename in dir durable. It is best effort: the new file is
// in place already, and some file systems cannot sync a directory.
func syncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// hostsLockPath returns the lock file for the hosts file at target, an
// absolute path with symlinks resolved.
func hostsLockPath(target string) string {
	if sys, err := filepath.EvalSymlinks("/etc/hosts"); err == nil && sys == target {
		if fi, err := os.Stat(filepath.Dir(HostsLockFile)); err == nil && fi.IsDir() {
			return HostsLockFile
		}
	}
	h := fnv.New64a() // not crypto: a name, and crypto's init costs every run
	h.Write([]byte(target))
	return filepath.Join(os.TempDir(), fmt.Sprintf("loops-hosts-%016x.lock", h.Sum64()))
}

// lockHosts takes an exclusive flock for target, waiting for other loops
// instances to finish.
func lockHosts(target string) (unlock func(), err error) {
	p := hostsLockPath(target)
	flags := unix.O_RDONLY | unix.O_NOFOLLOW | unix.O_CLOEXEC
	fd, err := unix.Open(p, flags|unix.O_CREAT, 0o644)
	if err == unix.EACCES {
		// fs.protected_regular refuses O_CREAT on another user's file in
		// a sticky directory such as /tmp; opening it is enough.
		fd, err = unix.Open(p, flags, 0)
	}
	if err != nil {
		return nil, fileErr("open lock file", p, err)
	}
	for {
		err = unix.Flock(fd, unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		unix.Close(fd)
		return nil, fileErr("lock", p, err)
	}
	return func() { unix.Close(fd) }, nil
}
