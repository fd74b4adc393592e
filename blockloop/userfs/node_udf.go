package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/udf"
)

// openUDF opens a UDF filesystem. Owners and modes come from the image
// where its uid and gid are set; files with "not set" belong to the
// mount's owner, as the kernel's udf driver shows them. Extents recorded
// in the image are spliced; unrecorded ones read as zeros.
func openUDF(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	f, err := udf.OpenOptions(r, size, opts.UDF)
	if err != nil {
		return nil, err
	}
	root := entryNode[udf.Entry, *udf.Entry]{f.Root(), udfAttr}
	return &Tree{Root: root, Type: "udf", Label: f.Label(), BlockSize: f.BlockSize(), Size: f.Size()}, nil
}

func udfAttr(e *udf.Entry) Attr {
	a := Attr{
		Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, UID: e.UID, GID: e.GID, Owned: e.OwnerSet,
		Nlink: max(e.Nlink, 1), Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime, Target: e.Target,
	}
	if !e.IsDir() {
		for _, x := range e.Extents {
			a.Extents = append(a.Extents, Extent{Offset: x.Offset, Length: x.Length, Zero: x.Zero})
		}
	}
	return a
}
