package iso9660

import (
	"errors"
	"fmt"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotISO9660 is returned (wrapped) by Open when the image has no ISO 9660
// primary volume descriptor. A [*UDFOnlyError] matches it too.
var ErrNotISO9660 = errors.New("not an ISO 9660 image: no primary volume descriptor (CD001) at sector 16")

// Features the reader does not implement (UDF-only images,
// zisofs-compressed files, interleaved files, logical block sizes other
// than 2048) are refused with an error matching [errors.ErrUnsupported].

// UDFOnlyError is returned by Open for an image that carries a UDF volume
// recognition sequence (BEA01, NSR02/NSR03, TEA01) but no ISO 9660 primary
// volume descriptor: a UDF-only image, which this reader cannot serve.
// errors.Is(err, ErrNotISO9660) and errors.Is(err, errors.ErrUnsupported) hold.
type UDFOnlyError struct {
	// Identifiers are the volume structure descriptors found at sector 16
	// and on, in order (e.g. ["BEA01", "NSR02", "TEA01"]).
	Identifiers []string
}

func (e *UDFOnlyError) Error() string {
	return fmt.Sprintf("UDF-only image: it has a UDF volume recognition sequence (%s) but no ISO 9660 primary volume descriptor (CD001); this reader reads ISO 9660 only: read it with package udf (or the kernel's udf driver)",
		strings.Join(e.Identifiers, ", "))
}

// Is makes errors.Is(err, ErrNotISO9660) and errors.Is(err, errors.ErrUnsupported) true.
func (e *UDFOnlyError) Is(target error) bool {
	return target == ErrNotISO9660 || target == errors.ErrUnsupported
}

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("iso9660")
