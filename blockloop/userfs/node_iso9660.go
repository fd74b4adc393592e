package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// openISO9660 opens an ISO 9660 image (Rock Ridge, Joliet or plain).
// Owners and modes come from Rock Ridge; without it every file belongs to
// the mount's owner, 0444 files and 0555 directories, as the kernel's
// isofs shows them.
func openISO9660(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	img, err := iso9660.OpenOptions(r, size, opts.ISO9660)
	if err != nil {
		return nil, err
	}
	rr := img.Tree() == iso9660.TreeRockRidge
	attr := func(e *iso9660.Entry) Attr {
		a := Attr{
			Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, UID: e.UID, GID: e.GID, Owned: rr,
			Nlink: e.Nlink, Rdev: e.Rdev, Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime, Target: e.Target,
		}
		for _, x := range e.Extents {
			a.Extents = append(a.Extents, Extent{Offset: x.Offset, Length: x.Length})
		}
		return a
	}
	return &Tree{
		Root: entryNode[iso9660.Entry, *iso9660.Entry]{img.Root(), attr}, Type: "iso9660",
		Label: img.Label(), BlockSize: iso9660.SectorSize, Size: img.Size(),
	}, nil
}
