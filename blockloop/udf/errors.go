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

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("udf")

func unsupported(what string, args ...any) error { return readkit.Unsupported("udf", what, args...) }
