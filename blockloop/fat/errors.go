package fat

import (
	"errors"
	"fmt"
)

// ErrNotFAT is matched (errors.Is) by Open's error when the image has no
// valid FAT boot sector: no jump instruction or 0x55AA signature, or a BIOS
// parameter block whose fields cannot describe a FAT volume. The latter
// errors are also a [*FormatError] (errors.As) naming the field.
var ErrNotFAT = errors.New("not a FAT image")

// ErrUnsupported is matched by errors for features the reader does not
// implement (a FAT32 version other than 0.0).
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("fat: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// notFAT is a FormatError that also matches ErrNotFAT: a boot sector whose
// BIOS parameter block is not a FAT one.
func notFAT(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotFAT, formatErr(off, format, args...))
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found (or reached)
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("fat: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}

// ErrTruncated is matched when a volume opened read-write is shorter than
// its boot sector says: writing it would write past its end.
var ErrTruncated = errors.New("the image is truncated")

// ErrClosed is matched by a Volume's operations after Close.
var ErrClosed = errors.New("fat: volume closed")
