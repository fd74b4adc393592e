package vhdx

import (
	"errors"
	"fmt"
)

// ErrNotVHDX is returned (wrapped) by Open when the file does not start with
// the VHDX file type identifier "vhdxfile".
var ErrNotVHDX = errors.New(`not a VHDX image: no "vhdxfile" identifier at byte 0`)

// ErrUnsupported is matched by errors for VHDX features the reader does not
// implement: a log that must be replayed, unknown required regions or
// metadata items, header versions other than 1, and differencing disks when
// Options.Open is nil.
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("vhdx: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("vhdx: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("vhdx: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
