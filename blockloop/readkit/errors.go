package readkit

import (
	"errors"
	"fmt"
)

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found. The readers return it as their
// own FormatError (a type alias), so errors.As works with either name.
type FormatError struct {
	Format string // the reader: "fat", "iso9660", "qcow2"...
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("%s: malformed image at byte %d: %s", e.Format, e.Offset, e.What)
}

// Malformed is a *FormatError of reader format at byte off.
func Malformed(format string, off int64, what string, args ...any) error {
	return &FormatError{Format: format, Offset: off, What: fmt.Sprintf(what, args...)}
}

// LimitError reports that an image exceeds one of a reader's limits (the
// Limits field Limit). The readers return it as their own LimitError.
type LimitError struct {
	Format string
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found (or reached)
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("%s: image exceeds %s at byte %d: %d > %d", e.Format, e.Limit, e.Offset, e.Value, e.Max)
}

// OverLimit is a *LimitError of reader format at byte off.
func OverLimit(format string, off int64, limit string, value, max int64) error {
	return &LimitError{Format: format, Offset: off, Limit: limit, Value: value, Max: max}
}

// Unsupported is an error of reader format for a feature it does not
// implement; it matches [errors.ErrUnsupported].
func Unsupported(format, what string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", format, fmt.Sprintf(what, args...), errors.ErrUnsupported)
}

// ErrNotDir is matched by the error of listing, or looking a name up in,
// an entry that is not a directory.
var ErrNotDir = errors.New("not a directory")

// Errors are reader format's constructors of a *FormatError and a
// *LimitError, for its errors.go: var formatErr, limitErr = readkit.Errors("fat").
func Errors(format string) (malformed func(off int64, what string, args ...any) error, overLimit func(off int64, limit string, value, max int64) error) {
	return func(off int64, what string, args ...any) error { return Malformed(format, off, what, args...) },
		func(off int64, limit string, value, max int64) error {
			return OverLimit(format, off, limit, value, max)
		}
}
