package qcow2

import (
	"errors"
	"fmt"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotQcow2 is returned (wrapped) by Open when the image does not start
// with the qcow magic "QFI\xfb".
var ErrNotQcow2 = errors.New("not a qcow2 image: no QFI\\xfb magic")

// Images the reader does not implement (qcow version 1, an external data
// file, an unknown compression type, unknown incompatible feature bits
// ([*UnsupportedFeatureError]), encryption ([ErrEncrypted]) and images over
// the [Limits]) are refused with an error matching [errors.ErrUnsupported].

// ErrEncrypted is matched by the error Open returns for an encrypted image
// (crypt_method 1, AES, or 2, LUKS). errors.Is(err, errors.ErrUnsupported) holds
// too: the reader has no keys and decrypts nothing.
var ErrEncrypted = errors.New("encrypted qcow2 image")

// ErrNoBacking is matched by the error ReadAt returns when a read needs the
// backing file (a cluster the overlay does not hold) and Options.Backing
// was nil.
var ErrNoBacking = errors.New("qcow2: the image has a backing file and no Options.Backing was given to open it")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the image file where it was found.
type FormatError = readkit.FormatError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("qcow2", off, what, args...)
}

// UnsupportedFeatureError is returned by Open for an image with incompatible
// feature bits the reader does not know (the spec requires refusing it), or
// with the external data file bit. errors.Is(err, errors.ErrUnsupported) holds.
type UnsupportedFeatureError struct {
	// Bits are the refused incompatible feature bits.
	Bits uint64
	// Names are the names the image's feature name table gives those bits
	// ("bit N" when it has none), in bit order.
	Names []string
}

func (e *UnsupportedFeatureError) Error() string {
	return fmt.Sprintf("qcow2: unsupported incompatible features %#x (%s)", e.Bits, strings.Join(e.Names, ", "))
}

// Is makes errors.Is(err, errors.ErrUnsupported) true.
func (e *UnsupportedFeatureError) Is(target error) bool { return target == errors.ErrUnsupported }

// LimitError reports that the image exceeds one of the reader's [Limits].
// errors.Is(err, errors.ErrUnsupported) holds.
type LimitError struct {
	Offset int64
	Limit  string // the Limits field name
	Value  int64  // the value found
	Max    int64  // the limit
}

func (e *LimitError) Error() string {
	return fmt.Sprintf("qcow2: image exceeds %s at byte %d: %d > %d", e.Limit, e.Offset, e.Value, e.Max)
}

// Is makes errors.Is(err, errors.ErrUnsupported) true.
func (e *LimitError) Is(target error) bool { return target == errors.ErrUnsupported }

// unsupportedErr wraps errors.ErrUnsupported with a reason.
func unsupportedErr(what string, args ...any) error {
	return readkit.Unsupported("qcow2", what, args...)
}
