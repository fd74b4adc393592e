package userfs

import (
	"io"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// openISO9660 opens an ISO 9660 image (Rock Ridge, Joliet or plain).
func openISO9660(r io.ReaderAt, size int64, opts Options) (*Tree, error) {
	img, err := iso9660.OpenOptions(r, size, opts.ISO9660)
	if err != nil {
		return nil, err
	}
	return &Tree{
		Root: isoNode{img.Root(), img.Tree() == iso9660.TreeRockRidge}, Type: "iso9660",
		Label: img.Label(), BlockSize: iso9660.SectorSize, Size: img.Size(),
	}, nil
}

type isoNode struct {
	e  *iso9660.Entry
	rr bool // owners and modes come from Rock Ridge
}

func (n isoNode) Attr() Attr {
	e := n.e
	a := Attr{
		Name: e.Name, Ino: e.Ino, Mode: e.UnixMode(), Size: e.Size, UID: e.UID, GID: e.GID, Owned: n.rr,
		Nlink: e.Nlink, Rdev: e.Rdev, Mtime: e.ModTime, Atime: e.AccessTime, Ctime: e.ChangeTime, Target: e.Target,
	}
	if len(e.Extents) > 0 {
		a.Extents = make([]Extent, len(e.Extents))
		for i, x := range e.Extents {
			a.Extents[i] = Extent{Offset: x.Offset, Length: x.Length}
		}
	}
	return a
}

func (n isoNode) Entries() ([]Node, error) {
	kids, err := n.e.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]Node, len(kids))
	for i, k := range kids {
		out[i] = isoNode{k, n.rr}
	}
	return out, nil
}

func (n isoNode) Child(name string) (Node, error) {
	c, err := n.e.Child(name)
	if err != nil {
		return nil, err
	}
	return isoNode{c, n.rr}, nil
}

func (n isoNode) ReaderAt() io.ReaderAt { return n.e.ReaderAt() }
func (n isoNode) DataErr() error        { return n.e.DataErr() }
