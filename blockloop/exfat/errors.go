package exfat

import (
	"errors"
	"fmt"
)

// ErrNotExFAT is matched (errors.Is) by Open's error when the image has no
// exFAT boot sector: no "EXFAT   " file system name, or boot sector fields
// that cannot describe an exFAT volume. The latter errors are also a
// [*FormatError] (errors.As) naming the field.
var ErrNotExFAT = errors.New("not an exFAT image")

// ErrUnsupported is matched by errors for features the reader does not
// implement (a file system revision other than 1.x).
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("exfat: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// notExFAT is a FormatError that also matches ErrNotExFAT: a boot sector
// whose fields are not an exFAT one's.
func notExFAT(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotExFAT, formatErr(off, format, args...))
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found (or reached)
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("exfat: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
