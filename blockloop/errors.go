package blockloop

import (
	"github.com/loops-cli/loops/blockloop/probe"

	"errors"
	"fmt"
	"strings"
)

// Error is what blockloop's operations return: the operation, the thing it
// was about, and the cause. errors.Is sees through it to the sentinels below
// and to errno values.
type Error struct {
	Op     string // "probe", "attach", "mount", "umount", "detach", "list"
	Image  string // the image file, when there is one
	Device string // the loop device, when there is one
	Path   string // a mount point or other path, when it is the subject
	Err    error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString(e.Op)
	for _, s := range []string{e.Image, e.Device, e.Path} {
		if s != "" {
			b.WriteString(" ")
			b.WriteString(s)
		}
	}
	b.WriteString(": ")
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Sentinels for the conditions a caller may want to explain or act on.
var (
	ErrNoLoopControl      = errors.New("no /dev/loop-control: the loop driver is not loaded")
	ErrNoFreeDevice       = errors.New("no free loop device")
	ErrBusy               = errors.New("device or resource busy")
	ErrNotRegular         = probe.ErrNotRegular
	ErrUnknownFormat      = errors.New("no filesystem or partition table recognized")
	ErrUnsupportedImage   = errors.New("not an image a loop device can mount")
	ErrNoDriver           = errors.New("no driver for this filesystem")
	ErrAmbiguous          = errors.New("more than one filesystem signature")
	ErrTruncated          = errors.New("image is truncated")
	ErrCorrupt            = errors.New("image is corrupt")
	ErrNoPartition        = errors.New("no such partition")
	ErrChoosePartition    = errors.New("more than one mountable partition")
	ErrNoMountable        = errors.New("no mountable partition")
	ErrAlreadyMounted     = errors.New("already mounted")
	ErrMountpointNotDir   = errors.New("mount point is not a directory")
	ErrMountpointNotEmpty = errors.New("mount point is not empty")
	ErrMountpointSymlink  = errors.New("mount point is a symbolic link")
	ErrNotMounted         = errors.New("not mounted")
	ErrNotLoop            = errors.New("not a loop device")
	ErrNotAttached        = errors.New("not attached")
	ErrDeviceChanged      = errors.New("device now backs another file")
	ErrOverlap            = errors.New("an overlapping loop device exists")
	ErrReadOnlyDevice     = errors.New("existing loop device is read-only")
	// ErrReadOnlyType: read-write was required of a read-only filesystem.
	ErrReadOnlyType = errors.New("read-only filesystem")
	// ErrImageReadOnly: read-write was required of an image that cannot
	// be opened for writing.
	ErrImageReadOnly = errors.New("image cannot be opened read-write")
	// ErrKernelOnly: the kernel path was required and the kernel has no
	// driver, where loops' userspace reader could serve the type.
	ErrKernelOnly = errors.New("kernel path required but no kernel driver")
	// ErrNoUserspaceReader: userspace was required and loops has no
	// reader for the type.
	ErrNoUserspaceReader = errors.New("no userspace reader for this filesystem")
	// ErrNotIndexable: an EROFS index cannot describe the image's tree
	// (a file its reader cannot read); the userspace route serves it.
	ErrNotIndexable = errors.New("cannot be served through an EROFS index")
	// ErrEncrypted: the image is an encrypted volume (LUKS).
	ErrEncrypted = errors.New("encrypted volume")
)

func opErr(op, image, device, path string, err error) error {
	return &Error{Op: op, Image: image, Device: device, Path: path, Err: err}
}

// reasonf wraps a sentinel with a sentence that says more.
func reasonf(sentinel error, format string, a ...any) error {
	return &reasonError{msg: fmt.Sprintf(format, a...), err: sentinel}
}

type reasonError struct {
	msg string
	err error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.err }

// multiError is one message over several causes (a sentinel and an errno).
type multiError struct {
	msg  string
	errs []error
}

func (e *multiError) Error() string   { return e.msg }
func (e *multiError) Unwrap() []error { return e.errs }
