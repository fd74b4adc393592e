package ntfs

import (
	"errors"
	"fmt"
	"io/fs"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotNTFS is matched (errors.Is) by Open's error when the image has no
// NTFS boot sector ("NTFS    " OEM name, 0x55AA) or one whose fields cannot
// describe an NTFS volume; the latter errors are also a [*FormatError].
//
// Features the reader does not implement (compression with clusters over
// 4 KiB, WOF, deduplicated or cloud files) fail with an error matching
// [errors.ErrUnsupported].
var ErrNotNTFS = errors.New("not an NTFS image")

// ErrEncrypted is a file's DataErr when its data is EFS-encrypted: loops
// has no key to read it. It also matches fs.ErrPermission (EACCES).
var ErrEncrypted = fmt.Errorf("EFS-encrypted file: its data cannot be read without the user's key (%w)", fs.ErrPermission)

// ErrTooLarge is matched by Entry.Xattr's error for a stream larger than
// an extended attribute can be (64 KiB).
var ErrTooLarge = errors.New("too large for an extended attribute")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("ntfs", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("ntfs", off, limit, value, max)
}

// notNTFS is a FormatError that also matches ErrNotNTFS.
func notNTFS(off int64, format string, args ...any) error {
	return fmt.Errorf("%w: %w", ErrNotNTFS, formatErr(off, format, args...))
}
