package fat

import (
	"errors"
	"fmt"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotFAT is matched (errors.Is) by Open's error when the image has no
// valid FAT boot sector: no jump instruction or 0x55AA signature, or a BIOS
// parameter block whose fields cannot describe a FAT volume. The latter
// errors are also a [*FormatError] (errors.As) naming the field.
//
// Features the reader does not implement (a FAT32 version other than 0.0)
// are refused with an error matching [errors.ErrUnsupported].
var ErrNotFAT = errors.New("not a FAT image")

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("fat")

// notFAT is a FormatError that also matches ErrNotFAT: a boot sector whose
// BIOS parameter block is not a FAT one.
func notFAT(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotFAT, formatErr(off, format, args...))
}

// ErrTruncated is matched when a volume opened read-write is shorter than
// its boot sector says: writing it would write past its end.
var ErrTruncated = errors.New("the image is truncated")

// ErrClosed is matched by a Volume's operations after Close.
var ErrClosed = errors.New("fat: volume closed")

// ErrRootFull is matched (with syscall.ENOSPC) when a FAT12/16 root
// directory, whose size the boot sector fixes, has no room for an entry.
var ErrRootFull = errors.New("the FAT12/16 root directory is full")
