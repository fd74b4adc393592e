package luks

import (
	"errors"
	"fmt"
)

// ErrNotLUKS is returned (wrapped) by Open when neither the primary header
// nor a secondary LUKS2 header has the LUKS magic.
var ErrNotLUKS = errors.New(`not a LUKS volume: no "LUKS\xba\xbe" header`)

// ErrNoKey is returned by Unlock when no keyslot opens with the
// passphrase (cryptsetup's words).
var ErrNoKey = errors.New("no key available with this passphrase")

// ErrUnsupported is matched by errors for volumes the reader does not
// open: integrity, detached headers, re-encryption in progress, ciphers
// and hashes other than those the package documents.
var ErrUnsupported = errors.New("unsupported")

// ErrClosed is returned by a Device's ReadAt after Close.
var ErrClosed = errors.New("luks: device closed")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image where it was found.
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("luks: malformed header at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func unsupported(format string, args ...any) error {
	return fmt.Errorf("luks: %s: %w", fmt.Sprintf(format, args...), ErrUnsupported)
}
