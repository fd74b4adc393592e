package readkit

import (
	"fmt"
	"io"
)

// InRange tells whether [off, off+n) lies inside [0, size).
func InRange(off, n, size int64) bool {
	return off >= 0 && n >= 0 && off <= size && n <= size-off
}

// ReadFull reads exactly len(p) bytes at off of r, an image of size bytes
// read by reader format. A range outside the image is a *FormatError (size
// < 0: the size is not known, any offset is tried); a short read is
// io.ErrUnexpectedEOF.
func ReadFull(format string, r io.ReaderAt, size int64, p []byte, off int64) error {
	if size >= 0 && !InRange(off, int64(len(p)), size) {
		return Malformed(format, off, "read of %d bytes past the end of the image (%d bytes)", len(p), size)
	}
	n, err := r.ReadAt(p, off)
	if n == len(p) {
		return nil
	}
	if err == nil || err == io.EOF {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: read %d bytes at %d: %w", format, len(p), off, err)
}

// AllZero tells whether b holds only zero bytes.
func AllZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
