package udf

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotUDF is returned (wrapped) by Open and Detect when the image has no
// UDF volume recognition sequence (BEA01, NSR02 or NSR03) or no valid anchor
// volume descriptor pointer.
var ErrNotUDF = errors.New("not a UDF image")

// Features the reader does not implement (see the package documentation)
// are refused with an error matching [errors.ErrUnsupported].

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("udf", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("udf", off, limit, value, max)
}

func unsupported(what string, args ...any) error { return readkit.Unsupported("udf", what, args...) }
