package ntfs

import (
	"errors"
	"fmt"
	"io/fs"
)

// ErrNotNTFS is matched (errors.Is) by Open's error when the image has no
// NTFS boot sector ("NTFS    " OEM name, 0x55AA) or one whose fields cannot
// describe an NTFS volume; the latter errors are also a [*FormatError].
var ErrNotNTFS = errors.New("not an NTFS image")

// ErrUnsupported is matched by errors for features the reader does not
// implement (compression with clusters over 4 KiB, an unknown compression
// format).
var ErrUnsupported = errors.New("unsupported")

// ErrEncrypted is a file's DataErr when its data is EFS-encrypted: loops
// has no key to read it. It also matches fs.ErrPermission (EACCES).
var ErrEncrypted = fmt.Errorf("EFS-encrypted file: its data cannot be read without the user's key (%w)", fs.ErrPermission)

// ErrTooLarge is matched by Entry.Xattr's error for a stream larger than
// an extended attribute can be (64 KiB).
var ErrTooLarge = errors.New("too large for an extended attribute")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("ntfs: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// notNTFS is a FormatError that also matches ErrNotNTFS.
func notNTFS(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotNTFS, formatErr(off, format, args...))
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found (or reached)
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("ntfs: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
