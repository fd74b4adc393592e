package vdi

import (
	"errors"
	"fmt"
)

// ErrNotVDI is returned (wrapped) by Open when the file has no VDI
// signature (0xbeda107f at byte 64).
var ErrNotVDI = errors.New("not a VDI image: no signature 0xbeda107f at byte 64")

// ErrUnsupported is matched by errors for VDI features the reader does not
// implement: header versions other than 1.1, undo and differencing images
// (whose parent VDI names by UUID only), sector sizes other than 512, extra
// data in blocks.
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("vdi: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("vdi: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("vdi: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
