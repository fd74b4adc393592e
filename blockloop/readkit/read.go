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

// ReadPadded reads len(p) bytes at off of r, an image of size bytes, as
// ReadFull does, but the bytes past size read as zeros: a block that
// starts inside a file and ends past its end, a parent disk smaller than
// its child.
func ReadPadded(format string, r io.ReaderAt, size int64, p []byte, off int64) error {
	if off >= size {
		clear(p)
		return nil
	}
	n := min(int64(len(p)), size-off)
	if err := ReadFull(format, r, size, p[:n], off); err != nil {
		return err
	}
	clear(p[n:])
	return nil
}

// Clip is the part of p that a ReadAt at off of something size bytes long
// (a virtual disk, a file) fills, and the error that ReadAt returns with
// it: io.EOF when the part is shorter than p (empty at or past the end),
// an error of reader format for a negative offset.
func Clip(format string, p []byte, off, size int64) ([]byte, error) {
	switch {
	case off < 0:
		return nil, fmt.Errorf("%s: negative offset", format)
	case off >= size:
		return p[:0], io.EOF
	case int64(len(p)) > size-off:
		return p[:size-off], io.EOF
	}
	return p, nil
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
