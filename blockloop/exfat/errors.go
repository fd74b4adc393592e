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

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("exfat", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("exfat", off, limit, value, max)
}

// notExFAT is a FormatError that also matches ErrNotExFAT: a boot sector
// whose fields are not an exFAT one's.
func notExFAT(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotExFAT, formatErr(off, format, args...))
}
