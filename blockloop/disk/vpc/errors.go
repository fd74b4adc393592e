package vpc

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVPC is returned (wrapped) by Open when the file has no VHD footer
// (cookie "conectix" at byte 0 or in the last 512 bytes).
var ErrNotVPC = errors.New(`not a VHD image: no footer with cookie "conectix"`)

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("vpc", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("vpc", off, limit, value, max)
}

// unsupported is an error matching errors.ErrUnsupported, for VHD images the reader does not
// read: a differencing image without [Options.Open], or whose parent
// locators name no file.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vpc", what, args...) }
