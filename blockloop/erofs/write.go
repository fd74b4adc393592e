package erofs

import (
	"fmt"
	"io"
	"math/bits"
	"slices"
	"strings"
)

// Options say what the index is laid over and how.
type Options struct {
	// DeviceSize is the size of device 1, the image the extents point into.
	DeviceSize int64
	// Device reads the image, to copy into the index the bytes that are
	// not block-addressable; nil refuses such files (ErrNoDevice).
	Device io.ReaderAt
	// Offset is where the filesystem the extents count from starts in the
	// image (a partition's start).
	Offset int64
	// BlockSize forces a block size (512 to 4096, a power of two); 0
	// chooses the largest at which every extent is block-aligned, down to
	// 512 (unaligned files are then copied).
	BlockSize int
	// Unit is the image format's allocation unit (a FAT cluster, an ISO
	// sector); when set, chosen blocks are no larger. The kernel reads a
	// file's last block whole and mmap shows it past the end of the file:
	// within one unit those bytes are the file's own slack, not another
	// file's data.
	Unit int
	// CompactMtime lets compact inodes carry their own mtime, which
	// Linux 6.15 and later read; older kernels show the superblock's
	// epoch for every compact inode, so without it only inodes with that
	// mtime are compact.
	CompactMtime bool
	Label        string // the volume name (16 bytes kept)
	// MaxCopy bounds the bytes copied into the index (0: DefaultMaxCopy).
	MaxCopy int64
}

// DefaultMaxCopy is the most data Write copies into an index by default.
const DefaultMaxCopy = 256 << 20

// Block sizes Write chooses from (the kernel takes 512 up to its page size).
const (
	MinBlockSize = 512
	MaxBlockSize = 4096
)

// Info says what Write wrote.
type Info struct {
	BlockSize   int
	Inodes      int
	Size        int64 // bytes of the index
	Flat        int   // files read from one extent of the image
	Chunked     int   // files read from several extents (chunk indexes)
	Copied      int   // files whose bytes were copied into the index
	CopiedBytes int64
}

// dirent is one name of a directory.
type dirent struct {
	name string
	ino  *ino
}

// ino is one inode being laid out.
type ino struct {
	n      *Node
	seq    uint32
	parent *ino
	ents   []dirent // a directory's entries, "." and ".." included, sorted
	links  uint32   // names pointing at it
	nlink  uint32   // the link count shown
	subs   uint32   // subdirectories

	extents  []Extent // a regular file's extents, absolute and merged
	extended bool
	layout   uint8
	size     int64
	device   bool   // data in the image (flat or chunked)
	chunked  bool   // with chunk indexes
	chunkLog uint8  // chunk size = block size << chunkLog
	nchunks  int64  // chunk indexes after the inode
	copy     bool   // regular file data copied into the index
	content  []byte // a directory's or symlink's bytes
	dirSplit []int  // index in ents of each directory block's first entry
	tail     int64  // inline bytes after the inode
	blocks   int64  // index blocks holding data
	dataBlk  int64  // the first of them
	pos      int64  // byte offset of the inode in the index
}

// pathName is the inode's path (its first name), for errors.
func (i *ino) pathName() string {
	if i.parent == i {
		return ""
	}
	return i.parent.pathName() + "/" + i.n.Name
}

func (i *ino) isize() int64 {
	if i.extended {
		return extendedSize
	}
	return compactSize
}

// layout is an index being planned.
type layout struct {
	o         Options
	bs        int64
	blkbits   uint8
	devBlocks int64
	inos      []*ino
	slab      []ino
	epoch     int64
	meta      int64 // blocks of superblock and inodes
	total     int64 // blocks of the index
	info      Info
}

// Write writes an EROFS index of the tree at root to w, its data in the
// image o describes. It checks the whole description before writing.
// Like mkfs.erofs --tar=i; needs no privilege.
func Write(w io.Writer, root *Node, o Options) (Info, error) {
	if root == nil || !root.IsDir() {
		return Info{}, invalid("", "the root is not a directory")
	}
	if o.DeviceSize < 0 || o.Offset < 0 || o.Offset > o.DeviceSize {
		return Info{}, fmt.Errorf("offset %d in an image of %d bytes: %w", o.Offset, o.DeviceSize, ErrOutside)
	}
	if o.MaxCopy == 0 {
		o.MaxCopy = DefaultMaxCopy
	}
	l := &layout{o: o}
	if err := l.gather(root); err != nil {
		return Info{}, err
	}
	if err := l.chooseBlockSize(); err != nil {
		return Info{}, err
	}
	if err := l.plan(); err != nil {
		return Info{}, err
	}
	if err := l.write(w); err != nil {
		return Info{}, err
	}
	return l.info, nil
}

// gather walks the tree (root first, then each directory's entries in
// name order), checking every node and making one inode per file.
func (l *layout) gather(root *Node) error {
	links := map[uint64]*ino{}
	seen := map[*Node]bool{root: true}
	r := l.newIno()
	*r = ino{n: root, seq: 1}
	r.parent = r
	l.inos = append(l.inos, r)
	stack := []*ino{r}
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		kids := slices.Clone(d.n.Children)
		for _, k := range kids {
			if k == nil {
				return invalid(d.pathName(), "a nil child")
			}
		}
		slices.SortFunc(kids, func(a, b *Node) int { return strings.Compare(a.Name, b.Name) })
		d.ents = make([]dirent, 0, len(kids)+2)
		d.ents = append(d.ents, dirent{".", d}, dirent{"..", d.parent})
		d.links++
		d.parent.links++
		var subdirs []*ino
		for j, k := range kids {
			path := func() string { return d.pathName() + "/" + k.Name }
			if err := checkName(d.pathName(), k.Name); err != nil {
				return err
			}
			if j > 0 && kids[j-1].Name == k.Name {
				return invalid(path(), "two entries of that name")
			}
			if err := checkNode(k, &l.o); err != nil {
				return fmt.Errorf("%s: %w", path(), err)
			}
			var c *ino
			if k.Link != 0 {
				c = links[k.Link]
				if c != nil && !sameInode(c.n, k) {
					return invalid(path(), "a hard link of %s with other attributes", c.pathName())
				}
			}
			if c == nil {
				if k.IsDir() {
					if seen[k] {
						return invalid(path(), "a directory met twice (a cycle or a linked directory)")
					}
					seen[k] = true
				}
				if len(l.inos) >= 1<<31 {
					return fmt.Errorf("more than 2^31 files: %w", ErrTooLarge)
				}
				c = l.newIno()
				*c = ino{n: k, parent: d, seq: uint32(len(l.inos) + 1)}
				l.inos = append(l.inos, c)
				if k.Link != 0 {
					links[k.Link] = c
				}
				if k.IsDir() {
					subdirs = append(subdirs, c)
					d.subs++
				}
			}
			c.links++
			d.ents = append(d.ents, dirent{k.Name, c})
		}
		slices.SortFunc(d.ents, func(a, b dirent) int { return strings.Compare(a.name, b.name) })
		for j := len(subdirs) - 1; j >= 0; j-- {
			stack = append(stack, subdirs[j])
		}
	}
	for _, i := range l.inos {
		if i.n.Mode&sIFMT == sIFREG && i.n.Extents != nil {
			i.extents = mergeExtents(i.n.Extents, l.o.Offset)
		}
	}
	l.epoch = chooseEpoch(l.inos, l.o.CompactMtime)
	return nil
}

// sameInode tells whether two names of one inode describe it alike.
func sameInode(a, b *Node) bool {
	return a.Mode == b.Mode && a.UID == b.UID && a.GID == b.GID && a.Mtime.Equal(b.Mtime) &&
		a.Nlink == b.Nlink && a.Rdev == b.Rdev && a.Size == b.Size && a.Target == b.Target &&
		slices.Equal(a.Extents, b.Extents)
}

// newIno allocates an inode from a slab (a tree has many).
func (l *layout) newIno() *ino {
	if len(l.slab) == cap(l.slab) {
		l.slab = make([]ino, 0, 1024)
	}
	l.slab = l.slab[:len(l.slab)+1]
	return &l.slab[len(l.slab)-1]
}

// mergeExtents makes extents absolute and joins neighbours that continue
// each other in the image (or are both holes).
func mergeExtents(xs []Extent, base int64) []Extent {
	out := make([]Extent, 0, len(xs))
	for _, x := range xs {
		if !x.Zero {
			x.Offset += base
		} else {
			x.Offset = 0
		}
		if n := len(out); n > 0 {
			p := &out[n-1]
			if p.Zero && x.Zero || !p.Zero && !x.Zero && p.Offset+p.Length == x.Offset {
				p.Length += x.Length
				continue
			}
		}
		out = append(out, x)
	}
	return out
}

// chooseEpoch picks the superblock's base time: the earliest mtime when
// compact inodes carry their own, else the commonest whole second (the one
// time compact inodes can show on older kernels).
func chooseEpoch(inos []*ino, compactMtime bool) int64 {
	count := map[int64]int{}
	var best, min int64
	for j, i := range inos {
		s := i.n.Mtime.Unix()
		if j == 0 || s < min {
			min = s
		}
		if i.n.Mtime.Nanosecond() != 0 {
			continue
		}
		count[s]++
		if count[s] > count[best] || count[s] == count[best] && s < best {
			best = s
		}
	}
	if compactMtime {
		return min
	}
	return best
}

// addressable tells whether a file's merged extents can be read from the
// image in blocks of bs: every stored extent starts on a block, every
// boundary inside the file falls on one, and every block read lies in the
// image.
func addressable(xs []Extent, bs, devBlocks int64) bool {
	var at int64
	for j, x := range xs {
		if j > 0 && at%bs != 0 {
			return false
		}
		if !x.Zero && (x.Offset%bs != 0 || (x.Offset+x.Length+bs-1)/bs > devBlocks) {
			return false
		}
		at += x.Length
	}
	return true
}

// chooseBlockSize takes o.BlockSize, or the largest size at which no more
// files need copying into the index than at 512 B.
func (l *layout) chooseBlockSize() error {
	set := func(bs int64) error {
		l.bs = bs
		l.blkbits = uint8(bits.TrailingZeros64(uint64(bs)))
		l.devBlocks = l.o.DeviceSize / bs
		if l.devBlocks >= 1<<32 {
			return fmt.Errorf("an image of %d bytes at %d-byte blocks: %w", l.o.DeviceSize, bs, ErrTooLarge)
		}
		return nil
	}
	if bs := l.o.BlockSize; bs != 0 {
		if bs < MinBlockSize || bs > MaxBlockSize || bs&(bs-1) != 0 {
			return fmt.Errorf("block size %d (want a power of two from %d to %d): %w", bs, MinBlockSize, MaxBlockSize, ErrInvalid)
		}
		return set(int64(bs))
	}
	unaddressable := func(bs int64) int {
		n := 0
		for _, i := range l.inos {
			if i.extents != nil && !addressable(i.extents, bs, l.o.DeviceSize/bs) {
				n++
			}
		}
		return n
	}
	least := unaddressable(MinBlockSize)
	top := int64(MaxBlockSize)
	if l.o.Unit > 0 {
		top = min(top, int64(l.o.Unit))
	}
	for bs := top; bs > MinBlockSize; bs /= 2 {
		if l.o.DeviceSize/bs < 1<<32 && unaddressable(bs) == least {
			return set(bs)
		}
	}
	return set(MinBlockSize)
}
