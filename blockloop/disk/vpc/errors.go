package vpc

import (
	"errors"
	"fmt"
)

// ErrNotVPC is returned (wrapped) by Open when the file has no VHD footer
// (cookie "conectix" at byte 0 or in the last 512 bytes).
var ErrNotVPC = errors.New(`not a VHD image: no footer with cookie "conectix"`)

// ErrUnsupported is matched by errors for VHD images the reader does not
// read: a differencing image without [Options.Open], or whose parent
// locators name no file.
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("vpc: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("vpc: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("vpc: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
