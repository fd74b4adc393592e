package vdi

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVDI is returned (wrapped) by Open when the file has no VDI
// signature (0xbeda107f at byte 64).
var ErrNotVDI = errors.New("not a VDI image: no signature 0xbeda107f at byte 64")

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("vdi")

// unsupported is an error matching errors.ErrUnsupported, for VDI features the reader does not
// implement: header versions other than 1.1, undo and differencing images
// (whose parent VDI names by UUID only), sector sizes other than 512, extra
// data in blocks.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vdi", what, args...) }
