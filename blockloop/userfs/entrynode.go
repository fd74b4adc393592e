package userfs

import (
	"io"
	"io/fs"
)

// readerEntry is what every reader's entry type offers (iso9660.Entry,
// udf.Entry, fat.Entry, exfat.Entry): the tree and the data.
type readerEntry[E any] interface {
	*E
	Entries() ([]*E, error)
	Child(name string) (*E, error)
	ReaderAt() io.ReaderAt
	DataErr() error
}

// entryNode adapts a reader's entry to Node; attr says what the format
// records of it.
type entryNode[E any, P readerEntry[E]] struct {
	e    P
	attr func(P) Attr
}

func (n entryNode[E, P]) Attr() Attr            { return n.attr(n.e) }
func (n entryNode[E, P]) ReaderAt() io.ReaderAt { return n.e.ReaderAt() }
func (n entryNode[E, P]) DataErr() error        { return n.e.DataErr() }

func (n entryNode[E, P]) Entries() ([]Node, error) {
	kids, err := n.e.Entries()
	if err != nil {
		return nil, err
	}
	out := make([]Node, len(kids))
	for i, k := range kids {
		out[i] = entryNode[E, P]{P(k), n.attr}
	}
	return out, nil
}

func (n entryNode[E, P]) Child(name string) (Node, error) {
	c, err := n.e.Child(name)
	if err != nil {
		return nil, err
	}
	return entryNode[E, P]{P(c), n.attr}, nil
}

// nlink is what a format without link counts shows: 2 for a directory.
func nlink(dir bool) uint32 {
	if dir {
		return 2
	}
	return 1
}

// xattrEntry is a node with extended attributes: an NTFS entry, whose
// alternate data streams are user.* attributes.
type xattrEntry interface {
	Xattrs() []string
	Xattr(name string) ([]byte, error)
}

// Xattrs are the entry's extended attribute names, if its format has any.
func (n entryNode[E, P]) Xattrs() []string {
	if x, ok := any(n.e).(xattrEntry); ok {
		return x.Xattrs()
	}
	return nil
}

// Xattr is the value of the entry's extended attribute name.
func (n entryNode[E, P]) Xattr(name string) ([]byte, error) {
	if x, ok := any(n.e).(xattrEntry); ok {
		return x.Xattr(name)
	}
	return nil, fs.ErrNotExist
}
