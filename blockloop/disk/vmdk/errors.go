package vmdk

import (
	"errors"
	"fmt"
)

// ErrNotVMDK is returned (wrapped) by Open when the file is neither a hosted
// sparse extent ("KDMV") nor a descriptor file ("# Disk DescriptorFile").
var ErrNotVMDK = errors.New("not a VMDK image: no KDMV sparse header and no descriptor")

// ErrUnsupported is matched by errors for VMDK features the reader does not
// implement (ESX "COWD" sparse extents, SESPARSE/VMFSSPARSE/raw device
// extents, compression other than deflate), and for images that refer to
// other files when Options.Open is nil.
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("vmdk: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("vmdk: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("vmdk: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
