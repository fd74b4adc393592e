package md

import (
	"errors"
	"fmt"
)

// ErrNotMember is returned (wrapped) by Open when no md superblock is
// where mdadm puts one.
var ErrNotMember = errors.New("not an md RAID member: no superblock 0.90, 1.0, 1.1 or 1.2")

// ErrUnsupported is matched (errors.Is) by errors for arrays the reader
// does not read: levels other than RAID1, and members that do not hold
// the array's data alone. It wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("md: %w", errors.ErrUnsupported)

// LevelError reports an array level other than RAID1.
type LevelError struct {
	Level int
	Name  string // as mdadm prints it: "raid5", "linear"...
}

func (e *LevelError) Error() string {
	return fmt.Sprintf("md: the array is %s; loops reads RAID1 members only", e.Name)
}

// Unwrap makes the error match ErrUnsupported and errors.ErrUnsupported.
func (e *LevelError) Unwrap() error { return ErrUnsupported }

// FormatError reports a malformed superblock: what and where (the byte
// offset in the member).
type FormatError struct {
	Offset int64
	What   string
}

func (e *FormatError) Error() string {
	return fmt.Sprintf("md: malformed superblock at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

// ChecksumError reports a superblock whose checksum does not match.
type ChecksumError struct {
	Offset    int64
	Want, Got uint32
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("md: superblock at byte %d: checksum %#08x, computed %#08x", e.Offset, e.Want, e.Got)
}
