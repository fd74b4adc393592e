package iso9660

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotISO9660 is returned (wrapped) by Open when the image has no ISO 9660
// primary volume descriptor. A [*UDFOnlyError] matches it too.
var ErrNotISO9660 = errors.New("not an ISO 9660 image: no primary volume descriptor (CD001) at sector 16")

// ErrUnsupported is matched by errors for features the reader does not
// implement (UDF-only images, zisofs-compressed files, interleaved files,
// logical block sizes other than 2048).
var ErrUnsupported = errors.New("unsupported")

// UDFOnlyError is returned by Open for an image that carries a UDF volume
// recognition sequence (BEA01, NSR02/NSR03, TEA01) but no ISO 9660 primary
// volume descriptor: a UDF-only image, which this reader cannot serve.
// errors.Is(err, ErrNotISO9660) and errors.Is(err, ErrUnsupported) hold.
type UDFOnlyError struct {
	// Identifiers are the volume structure descriptors found at sector 16
	// and on, in order (e.g. ["BEA01", "NSR02", "TEA01"]).
	Identifiers []string
}

func (e *UDFOnlyError) Error() string {
	return fmt.Sprintf("UDF-only image: it has a UDF volume recognition sequence (%s) but no ISO 9660 primary volume descriptor (CD001); loops reads ISO 9660 only, and UDF needs the kernel's udf driver (CONFIG_UDF_FS)",
		strings.Join(e.Identifiers, ", "))
}

// Is makes errors.Is(err, ErrNotISO9660) and errors.Is(err, ErrUnsupported) true.
func (e *UDFOnlyError) Is(target error) bool {
	return target == ErrNotISO9660 || target == ErrUnsupported
}

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("iso9660: malformed image at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found (or reached)
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("iso9660: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}
