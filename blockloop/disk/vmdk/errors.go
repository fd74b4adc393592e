package vmdk

import (
	"errors"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// ErrNotVMDK is returned (wrapped) by Open when the file is neither a hosted
// sparse extent ("KDMV") nor a descriptor file ("# Disk DescriptorFile").
var ErrNotVMDK = errors.New("not a VMDK image: no KDMV sparse header and no descriptor")

// FormatError reports a malformed structure, LimitError an image over one
// of the reader's [Limits]: readkit's, so errors.As works with either name.
type (
	FormatError = readkit.FormatError
	LimitError  = readkit.LimitError
)

var formatErr, limitErr = readkit.Errors("vmdk")

// unsupported is an error matching errors.ErrUnsupported, for VMDK features the reader does not
// implement (ESX "COWD" sparse extents, SESPARSE/VMFSSPARSE/raw device
// extents, compression other than deflate), and for images that refer to
// other files when Options.Open is nil.
func unsupported(what string, args ...any) error { return readkit.Unsupported("vmdk", what, args...) }
