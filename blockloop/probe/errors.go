package probe

import (
	"errors"
	"io/fs"
	"os"
)

// ErrNotRegular: File was given a directory, a device or another file that
// is not a regular one (blockloop.ErrNotRegular is this error).
var ErrNotRegular = errors.New("not a regular file")

type reasonError struct {
	msg string
	err error
}

func (e *reasonError) Error() string { return e.msg }
func (e *reasonError) Unwrap() error { return e.err }

func notRegular(m fs.FileMode) error {
	switch {
	case m.IsDir():
		return &reasonError{"is a directory, not an image file", ErrNotRegular}
	case m&os.ModeDevice != 0:
		return &reasonError{"is a device, not an image file: mount it directly with mount(8)", ErrNotRegular}
	}
	return &reasonError{"is not a regular file (" + m.Type().String() + ")", ErrNotRegular}
}

// unwrapPath drops the *fs.PathError layer (File's error names the path).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}
