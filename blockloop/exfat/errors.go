package exfat

import (
	"errors"
	"fmt"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotExFAT is matched (errors.Is) by Open's error when the image has no
// exFAT boot sector: no "EXFAT   " file system name, or boot sector fields
// that cannot describe an exFAT volume. The latter errors are also a
// [*FormatError] (errors.As) naming the field.
//
// Features the reader does not implement (a file system revision other
// than 1.x) are refused with an error matching [errors.ErrUnsupported].
var ErrNotExFAT = errors.New("not an exFAT image")

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("exfat")

// notExFAT is a FormatError that also matches ErrNotExFAT: a boot sector
// whose fields are not an exFAT one's.
func notExFAT(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotExFAT, formatErr(off, format, args...))
}
