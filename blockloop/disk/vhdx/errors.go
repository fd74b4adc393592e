package vhdx

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVHDX is returned (wrapped) by Open when the file does not start with
// the VHDX file type identifier "vhdxfile".
var ErrNotVHDX = errors.New(`not a VHDX image: no "vhdxfile" identifier at byte 0`)

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("vhdx")

// unsupported is an error matching errors.ErrUnsupported, for VHDX features the reader does not
// implement: a log that must be replayed, unknown required regions or
// metadata items, header versions other than 1, and differencing disks when
// Options.Open is nil.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vhdx", what, args...) }
