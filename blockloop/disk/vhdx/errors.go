package vhdx

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVHDX is returned (wrapped) by Open when the file does not start with
// the VHDX file type identifier "vhdxfile".
var ErrNotVHDX = errors.New(`not a VHDX image: no "vhdxfile" identifier at byte 0`)

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("vhdx", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("vhdx", off, limit, value, max)
}

// unsupported is an error matching errors.ErrUnsupported, for VHDX features the reader does not
// implement: a log that must be replayed, unknown required regions or
// metadata items, header versions other than 1, and differencing disks when
// Options.Open is nil.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vhdx", what, args...) }
