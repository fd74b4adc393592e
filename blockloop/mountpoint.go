package blockloop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// xattrMarker marks a directory loops created, so umount can tell later
// without a state file. It lives on the directory itself, under the mount.
const xattrMarker = "trusted.loops.mountpoint"

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
