package erofs

import (
	"fmt"
	"io"
	"strings"
	"time"
)

// Node is one file, directory, symbolic link or special file of the tree
// an index describes. The root's Name is ignored.
type Node struct {
	Name     string
	Mode     uint32 // st_mode: the S_IFMT type bits and the permissions
	UID, GID uint32
	Mtime    time.Time
	// Nlink is the link count shown; 0 counts it (the names of a file,
	// 2 plus the subdirectories of a directory).
	Nlink uint32
	// Link, when not 0, makes the non-directories sharing it one inode
	// under several names (hard links); the first one met describes it.
	Link   uint64
	Rdev   uint64 // a device node's Linux dev_t
	Size   int64  // a regular file's size
	Target string // a symbolic link's target
	// Extents locate a regular file's bytes in the device, in file order,
	// adding up to Size; offsets count from Options.Offset.
	Extents []Extent
	// Data, when Extents is nil and Size is not 0, reads the file's bytes
	// (data a format keeps in its metadata): they are copied into the index.
	Data     io.ReaderAt
	Children []*Node
}

// Extent is a byte range of the device holding part of a file; a Zero
// extent is not stored (a hole) and reads as zeros.
type Extent struct {
	Offset, Length int64
	Zero           bool
}

// IsDir tells whether n is a directory.
func (n *Node) IsDir() bool { return n.Mode&sIFMT == sIFDIR }

// invalid is an ErrInvalid naming the node at path.
func invalid(path, format string, args ...any) error {
	return fmt.Errorf("%s: %s: %w", displayPath(path), fmt.Sprintf(format, args...), ErrInvalid)
}

func displayPath(p string) string {
	if p == "" {
		return "/"
	}
	return p
}

// checkName refuses what a directory entry cannot be named.
func checkName(path, name string) error {
	switch {
	case name == "" || name == "." || name == "..":
		return invalid(path, "bad name %q", name)
	case len(name) > maxNameLen:
		return invalid(path, "name longer than %d bytes", maxNameLen)
	case strings.ContainsAny(name, "/\x00"):
		return invalid(path, "name %q contains '/' or NUL", name)
	}
	return nil
}

// bad is an ErrInvalid saying what is wrong; the caller names the node.
func bad(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrInvalid)
}

// checkNode refuses a node whose description does not hold together, or
// whose extents leave the device; the error does not name the node.
func checkNode(n *Node, o *Options) error {
	switch n.Mode & sIFMT {
	case sIFDIR:
		if n.Link != 0 || len(n.Extents) > 0 || n.Data != nil || n.Target != "" {
			return bad("a directory with data or a link identity")
		}
		return nil
	case sIFLNK:
		if n.Target == "" || len(n.Target) > 4095 || strings.IndexByte(n.Target, 0) >= 0 {
			return bad("symbolic link target empty, NUL or longer than 4095 bytes")
		}
	case sIFREG:
		return checkData(n, o)
	case sIFCHR, sIFBLK, sIFIFO, sIFSOCK:
	default:
		return bad("unknown file type in mode %#o", n.Mode)
	}
	if len(n.Children) > 0 || len(n.Extents) > 0 || n.Data != nil {
		return bad("a non-directory with children or data")
	}
	return nil
}

// checkData checks a regular file's extents against its size and the device.
func checkData(n *Node, o *Options) error {
	if len(n.Children) > 0 {
		return bad("a file with children")
	}
	if n.Size < 0 {
		return bad("negative size")
	}
	if n.Extents == nil {
		if n.Size > 0 && n.Data == nil {
			return bad("size %d with neither extents nor data", n.Size)
		}
		return nil
	}
	var sum int64
	for i, x := range n.Extents {
		if x.Length <= 0 || x.Offset < 0 {
			return bad("extent %d: offset %d length %d", i, x.Offset, x.Length)
		}
		if sum += x.Length; sum < 0 || sum > n.Size {
			return bad("extents add up to more than its size %d", n.Size)
		}
		if x.Zero {
			continue
		}
		end := o.Offset + x.Offset + x.Length
		if end < 0 || end > o.DeviceSize || o.Offset+x.Offset < 0 {
			return fmt.Errorf("extent %d at %d, %d bytes, image of %d bytes: %w",
				i, o.Offset+x.Offset, x.Length, o.DeviceSize, ErrOutside)
		}
	}
	if sum != n.Size {
		return bad("extents add up to %d bytes, size %d", sum, n.Size)
	}
	return nil
}
