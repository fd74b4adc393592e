package vpc

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVPC is returned (wrapped) by Open when the file has no VHD footer
// (cookie "conectix" at byte 0 or in the last 512 bytes).
var ErrNotVPC = errors.New(`not a VHD image: no footer with cookie "conectix"`)

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("vpc")

// unsupported is an error matching errors.ErrUnsupported, for VHD images the reader does not
// read: a differencing image without [Options.Open], or whose parent
// locators name no file.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vpc", what, args...) }
