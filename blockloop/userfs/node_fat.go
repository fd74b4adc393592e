package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/fat"
)

// openFAT opens a FAT12/16/32 filesystem (blkid's "vfat"). FAT records no
// owners: every file belongs to the mount's owner, with the reader's modes
// (0644 files, 0444 read-only ones, 0755 directories) less the umask.
func openFAT(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	f, err := fat.OpenOptions(r, size, opts.FAT)
	if err != nil {
		return nil, err
	}
	root := entryNode[fat.Entry, *fat.Entry]{f.Root(), fatAttr}
	return &Tree{Root: root, Type: "vfat", Label: f.Label(), BlockSize: f.ClusterSize(), Size: f.Size()}, nil
}

func fatAttr(e *fat.Entry) Attr {
	a := Attr{
		Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, Nlink: nlink(e.IsDir()),
		Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime,
	}
	if !e.IsDir() {
		for _, x := range e.Extents {
			a.Extents = append(a.Extents, Extent{Offset: x.Offset, Length: x.Length})
		}
	}
	return a
}
