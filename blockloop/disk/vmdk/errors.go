package vmdk

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVMDK is returned (wrapped) by Open when the file is neither a hosted
// sparse extent ("KDMV") nor a descriptor file ("# Disk DescriptorFile").
var ErrNotVMDK = errors.New("not a VMDK image: no KDMV sparse header and no descriptor")

// FormatError reports a malformed structure: what was wrong and the byte
// offset in the file where it was found.
type FormatError = readkit.FormatError

// LimitError reports that the image exceeds one of the reader's [Limits].
type LimitError = readkit.LimitError

func formatErr(off int64, what string, args ...any) error {
	return readkit.Malformed("vmdk", off, what, args...)
}

func limitErr(off int64, limit string, value, max int64) error {
	return readkit.OverLimit("vmdk", off, limit, value, max)
}

// unsupported is an error matching errors.ErrUnsupported, for VMDK features the reader does not
// implement (ESX "COWD" sparse extents, SESPARSE/VMFSSPARSE/raw device
// extents, compression other than deflate), and for images that refer to
// other files when Options.Open is nil.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vmdk", what, args...) }
