package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/ntfs"
)

// openNTFS opens an NTFS volume. Its owners and ACLs ($Secure) are not
// mapped: every file belongs to the mount's owner, with the reader's modes
// (0644 files, 0444 read-only ones, 0755 directories) less the umask.
// Junctions and absolute symbolic links point below the mount point, as
// ntfs-3g shows them; alternate data streams are user.* xattrs.
func openNTFS(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	f, err := ntfs.OpenOptions(r, size, ntfs.Options{MountPoint: opts.Mountpoint})
	if err != nil {
		return nil, err
	}
	root := entryNode[ntfs.Entry, *ntfs.Entry]{f.Root(), ntfsAttr}
	t := &Tree{Root: root, Type: "ntfs", Label: f.Label(), BlockSize: f.ClusterSize(), Size: f.Size()}
	for _, x := range f.MFTExtents() {
		t.Metadata = append(t.Metadata, Extent{Offset: x.Offset, Length: x.Length, Zero: x.Sparse})
	}
	return t, nil
}

func ntfsAttr(e *ntfs.Entry) Attr {
	a := Attr{
		Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, Nlink: e.Nlink,
		Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime, Target: e.Target,
	}
	if e.IsDir() {
		a.Nlink = 2
	}
	for _, x := range e.Extents {
		a.Extents = append(a.Extents, Extent{Offset: x.Offset, Length: x.Length, Zero: x.Sparse})
	}
	return a
}
