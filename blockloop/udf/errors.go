package udf

import (
	"errors"
	"fmt"
)

// ErrNotUDF is returned (wrapped) by Open and Detect when the image has no
// UDF volume recognition sequence (BEA01, NSR02 or NSR03) or no valid anchor
// volume descriptor pointer.
var ErrNotUDF = errors.New("not a UDF image")

// ErrUnsupported is matched by errors for features the reader does not
// implement (see the package documentation).
var ErrUnsupported = errors.New("unsupported")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("udf: malformed image at byte %d: %s", e.Offset, e.What)
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
	return fmt.Sprintf("udf: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}

func limitErr(off int64, limit string, value, max int64) error {
	return &LimitError{Offset: off, Limit: limit, Value: value, Max: max}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("udf: "+format+": %w", append(args, ErrUnsupported)...)
}
