package lvm

import (
	"errors"
	"fmt"
	"strings"
)

// ErrNotPV is returned (wrapped) by ReadPV when the first four sectors hold
// no LVM2 label.
var ErrNotPV = errors.New("not an LVM2 physical volume: no LABELONE label in the first 4 sectors")

// ErrNoMetadata is returned (wrapped) by Assemble when none of the PVs
// carries a metadata area with the VG's metadata (PVs made with
// --metadatacopies 0 only).
var ErrNoMetadata = errors.New("no PV holds the volume group's metadata")

// ErrNoLV is returned (wrapped) by VG.Open for a name the VG has no LV of.
var ErrNoLV = errors.New("no such logical volume")

// ErrUnsupported is matched (errors.Is) by errors for LVs the reader does
// not read: segment types other than striped/linear, and LVs that are not
// plain data (hidden sub-LVs). It wraps errors.ErrUnsupported.
var ErrUnsupported = fmt.Errorf("lvm: %w", errors.ErrUnsupported)

// SegmentTypeError reports an LV whose segment type the reader refuses.
type SegmentTypeError struct {
	LV   string // VG/LV
	Type string // the segment type, as in the metadata ("thin", "raid1", ...)
}

func (e *SegmentTypeError) Error() string {
	return fmt.Sprintf("lvm: %s has a %q segment, which loops cannot read (only linear and striped)", e.LV, e.Type)
}

// Unwrap makes the error match ErrUnsupported and errors.ErrUnsupported.
func (e *SegmentTypeError) Unwrap() error { return ErrUnsupported }

// MissingPVError reports PVs the VG's metadata names but none of the given
// sources is. Assemble returns it with the partial VG, whose LVs on the
// present PVs can still be opened.
type MissingPVError struct {
	VG    string
	UUIDs []string // the missing PVs' UUIDs, as lvm prints them
	// Partial is the VG without the missing PVs (returned by Assemble).
	Partial *VG
}

func (e *MissingPVError) Error() string {
	return fmt.Sprintf("lvm: volume group %s is missing %d PV(s): %s",
		e.VG, len(e.UUIDs), strings.Join(e.UUIDs, ", "))
}

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the PV where it was found (-1 when it is in the metadata
// text, where Line says where).
type FormatError struct {
	Offset int64
	Line   int
	What   string
}

func (e *FormatError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("lvm: malformed metadata at line %d: %s", e.Line, e.What)
	}
	if e.Offset < 0 {
		return "lvm: malformed metadata: " + e.What
	}
	return fmt.Sprintf("lvm: malformed PV at byte %d: %s", e.Offset, e.What)
}

func formatErr(off int64, format string, args ...any) error {
	return &FormatError{Offset: off, What: fmt.Sprintf(format, args...)}
}

func metaErr(format string, args ...any) error {
	return &FormatError{Offset: -1, What: fmt.Sprintf(format, args...)}
}

// ChecksumError reports a CRC that does not match: the label, a metadata
// area header or a metadata copy.
type ChecksumError struct {
	Offset    int64
	What      string
	Want, Got uint32
}

func (e *ChecksumError) Error() string {
	return fmt.Sprintf("lvm: %s at byte %d: checksum %#08x, computed %#08x", e.What, e.Offset, e.Want, e.Got)
}
