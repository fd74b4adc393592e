package erofs

import "errors"

var (
	// ErrInvalid is a tree description Write refuses (a bad name, a type
	// without its data, a duplicate name, a cycle); the error names the node.
	ErrInvalid = errors.New("invalid tree description")
	// ErrOutside is an extent outside the device (the image).
	ErrOutside = errors.New("extent outside the image")
	// ErrTooLarge is a tree or image beyond what the index can address
	// (32-bit block numbers, the copy limit).
	ErrTooLarge = errors.New("too large for an EROFS index")
	// ErrNoDevice is data that must be copied into the index when
	// Options.Device is nil.
	ErrNoDevice = errors.New("unaligned data needs Options.Device to be copied")
)
