package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/exfat"
)

// openExFAT opens an exFAT filesystem. exFAT records no owners: every file
// belongs to the mount's owner, with the reader's modes (0644 files, 0444
// read-only ones, 0755 directories) less the umask.
func openExFAT(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	f, err := exfat.OpenOptions(r, size, opts.ExFAT)
	if err != nil {
		return nil, err
	}
	root := entryNode[exfat.Entry, *exfat.Entry]{f.Root(), exfatAttr}
	return &Tree{Root: root, Type: "exfat", Label: f.Label(), BlockSize: f.ClusterSize(), Size: f.Size()}, nil
}

func exfatAttr(e *exfat.Entry) Attr {
	a := Attr{
		Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, Nlink: nlink(e.IsDir()),
		Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime,
	}
	if !e.IsDir() {
		for _, x := range e.Extents {
			a.Extents = append(a.Extents, Extent{Offset: x.Offset, Length: x.Length})
		}
		if e.ValidSize < e.Size {
			// Past ValidDataLength nothing is recorded: zeros.
			a.Extents = append(a.Extents, Extent{Length: e.Size - e.ValidSize, Zero: true})
		}
	}
	return a
}
