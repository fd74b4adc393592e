package vdi

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVDI is returned (wrapped) by Open when the file has no VDI
// signature (0xbeda107f at byte 64).
var ErrNotVDI = errors.New("not a VDI image: no signature 0xbeda107f at byte 64")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("vdi", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("vdi", off, limit, value, max)
}

// unsupported is an error matching errors.ErrUnsupported, for VDI features the reader does not
// implement: header versions other than 1.1, undo and differencing images
// (whose parent VDI names by UUID only), sector sizes other than 512, extra
// data in blocks.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vdi", what, args...) }
