// Package erofstest reads back the EROFS indexes blockloop/erofs writes,
// to check them without the kernel (fsck.erofs 1.5 refuses 512-byte
// blocks): the superblock and device table, inodes, directories, chunk
// indexes and inline data, every offset checked against the index and the
// device. It reads only what the writer writes (no compression, no
// xattrs). Tests only.
package erofstest

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"time"
)

// ErrCorrupt is an index the decoder refuses.
var ErrCorrupt = errors.New("corrupt EROFS index")

func corrupt(format string, args ...any) error {
	return fmt.Errorf("%s: %w", fmt.Sprintf(format, args...), ErrCorrupt)
}

// Limits bound a walk.
const (
	maxFiles = 1 << 20
	maxDepth = 256
)

// MaxData bounds the bytes ReadAll reads from one file.
var MaxData int64 = 256 << 20

// FS is an opened index over its device.
type FS struct {
	idx               io.ReaderAt
	idxSize           int64
	dev               io.ReaderAt
	devSize           int64
	BlockSize         int64
	RootNid           uint64
	Epoch             int64
	Blocks, DevBlocks int64
	Uniaddr           int64
	Compat, Incompat  uint32
	Label             string
	Inodes            uint64
}

// File is one inode as decoded.
type File struct {
	Nid      uint64
	Mode     uint32
	UID, GID uint32
	Nlink    uint32
	Size     int64
	Mtime    time.Time
	Rdev     uint32
	Layout   uint8
	Extended bool
	fs       *FS
	pos      int64 // of the inode
	isize    int64
	iu       uint32
	chunkLog uint8
}

// Open reads the superblock and the device slot.
func Open(idx io.ReaderAt, idxSize int64, dev io.ReaderAt, devSize int64) (*FS, error) {
	sb := make([]byte, 256)
	if idxSize < 1024+256 {
		return nil, corrupt("index of %d bytes", idxSize)
	}
	if _, err := idx.ReadAt(sb, 1024); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	if le.Uint32(sb) != 0xE0F5E1E2 {
		return nil, corrupt("bad magic %#x", le.Uint32(sb))
	}
	bits := sb[12]
	if bits < 9 || bits > 12 {
		return nil, corrupt("blkszbits %d", bits)
	}
	f := &FS{idx: idx, idxSize: idxSize, dev: dev, devSize: devSize, BlockSize: 1 << bits}
	f.Compat, f.Incompat = le.Uint32(sb[8:]), le.Uint32(sb[80:])
	if f.Incompat&^0xC != 0 {
		return nil, corrupt("incompatible features %#x", f.Incompat)
	}
	f.RootNid = uint64(le.Uint16(sb[14:]))
	f.Inodes = le.Uint64(sb[16:])
	f.Epoch = int64(le.Uint64(sb[24:]))
	f.Blocks = int64(le.Uint32(sb[36:]))
	if le.Uint32(sb[40:]) != 0 || sb[13] != 0 || sb[90] != 0 {
		return nil, corrupt("meta_blkaddr, sb_extslots or dirblkbits set")
	}
	f.Label = string(bytes.TrimRight(sb[64:80], "\x00"))
	if f.Blocks*f.BlockSize != idxSize {
		return nil, corrupt("%d blocks in an index of %d bytes", f.Blocks, idxSize)
	}
	if extra := le.Uint16(sb[86:]); extra != 1 || f.Incompat&0x8 == 0 {
		return nil, corrupt("%d extra devices (want 1, with the device table)", extra)
	}
	slot := make([]byte, 128)
	off := int64(le.Uint16(sb[88:])) * 128
	if off < 1024+128 || off+128 > idxSize {
		return nil, corrupt("device slot at %d", off)
	}
	if _, err := idx.ReadAt(slot, off); err != nil {
		return nil, err
	}
	f.DevBlocks = int64(le.Uint32(slot[64:]))
	f.Uniaddr = int64(le.Uint32(slot[68:]))
	if f.DevBlocks*f.BlockSize > devSize {
		return nil, corrupt("device of %d blocks, image of %d bytes", f.DevBlocks, devSize)
	}
	if f.Uniaddr != f.Blocks {
		return nil, corrupt("device mapped at block %d, index of %d blocks", f.Uniaddr, f.Blocks)
	}
	return f, nil
}

// Inode reads the inode at nid.
func (f *FS) Inode(nid uint64) (*File, error) {
	pos := int64(nid) * 32
	if nid > 1<<40 || pos < 1024+128 || pos+32 > f.idxSize {
		return nil, corrupt("nid %d outside the index", nid)
	}
	b := make([]byte, 64)
	if _, err := f.idx.ReadAt(b[:32], pos); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	format := le.Uint16(b)
	if format&^0x1f != 0 || le.Uint16(b[2:]) != 0 {
		return nil, corrupt("nid %d: i_format %#x or xattrs", nid, format)
	}
	x := &File{Nid: nid, fs: f, pos: pos, Layout: uint8(format>>1) & 7, Extended: format&1 != 0}
	x.Mode = uint32(le.Uint16(b[4:]))
	if x.Extended {
		if pos%f.BlockSize+64 > f.BlockSize || pos+64 > f.idxSize {
			return nil, corrupt("nid %d: extended inode across blocks", nid)
		}
		if _, err := f.idx.ReadAt(b[32:], pos+32); err != nil {
			return nil, err
		}
		x.isize = 64
		x.Size = int64(le.Uint64(b[8:]))
		x.iu = le.Uint32(b[16:])
		x.UID, x.GID = le.Uint32(b[24:]), le.Uint32(b[28:])
		x.Mtime = time.Unix(int64(le.Uint64(b[32:])), int64(le.Uint32(b[40:])))
		x.Nlink = le.Uint32(b[44:])
	} else {
		if format&0x10 != 0 {
			return nil, corrupt("nid %d: NLINK_1 bit", nid)
		}
		x.isize = 32
		x.Nlink = uint32(le.Uint16(b[6:]))
		x.Size = int64(le.Uint32(b[8:]))
		x.Mtime = time.Unix(f.Epoch+int64(le.Uint32(b[12:])), 0)
		x.iu = le.Uint32(b[16:])
		x.UID, x.GID = uint32(le.Uint16(b[24:])), uint32(le.Uint16(b[26:]))
	}
	if x.Size < 0 || x.Size > 1<<50 {
		return nil, corrupt("nid %d: size %d", nid, x.Size)
	}
	switch x.Layout {
	case 0, 2:
	case 4:
		if x.iu&^0x3f != 0 || x.iu&0x20 == 0 {
			return nil, corrupt("nid %d: chunk format %#x", nid, x.iu)
		}
		x.chunkLog = uint8(x.iu & 0x1f)
	default:
		return nil, corrupt("nid %d: data layout %d", nid, x.Layout)
	}
	switch x.Mode & 0o170000 {
	case 0o100000, 0o040000, 0o120000:
	case 0o020000, 0o060000:
		x.Rdev = x.iu
		fallthrough
	case 0o010000, 0o140000:
		if x.Size != 0 || x.Layout != 0 {
			return nil, corrupt("nid %d: a special file with data", nid)
		}
	default:
		return nil, corrupt("nid %d: mode %#o", nid, x.Mode)
	}
	return x, nil
}

// Extent is where a range of a file's bytes is: in the index, the
// device, or nowhere (a hole).
type Extent struct {
	Logical, Length int64
	Device          bool
	Hole            bool
	Physical        int64
}

// Map returns the extent holding the file's byte at off, checked to lie
// inside the index or the device.
func (x *File) Map(off int64) (Extent, error) {
	f := x.fs
	bs := f.BlockSize
	if off < 0 || off >= x.Size {
		return Extent{}, corrupt("nid %d: offset %d beyond size %d", x.Nid, off, x.Size)
	}
	nblocks := (x.Size + bs - 1) / bs
	switch x.Layout {
	case 0, 2:
		full := x.Size
		if x.Layout == 2 {
			full = (nblocks - 1) * bs
		}
		if off >= full { // the inline tail
			at := x.pos + x.isize
			n := x.Size - full
			if at%bs+n > bs || at+n > f.idxSize {
				return Extent{}, corrupt("nid %d: inline data across blocks", x.Nid)
			}
			return Extent{Logical: full, Length: n, Physical: at}, nil
		}
		start := int64(x.iu) * bs
		end := int64(x.iu)*bs + (full+bs-1)/bs*bs
		e := Extent{Logical: 0, Length: full, Physical: start}
		switch {
		case end <= f.Blocks*bs && int64(x.iu) >= 1:
		case int64(x.iu) >= f.Uniaddr && end <= (f.Uniaddr+f.DevBlocks)*bs:
			e.Device, e.Physical = true, start-f.Uniaddr*bs
		default:
			return Extent{}, corrupt("nid %d: blocks %d+%d outside index and device", x.Nid, x.iu, full/bs)
		}
		return e, nil
	}
	chunk := bs << x.chunkLog
	c := off / chunk
	at := (x.pos+x.isize+7)&^7 + c*8
	if at+8 > f.idxSize || (x.pos+x.isize+7)&^7+((x.Size+chunk-1)/chunk)*8 > f.idxSize {
		return Extent{}, corrupt("nid %d: chunk indexes beyond the index", x.Nid)
	}
	b := make([]byte, 8)
	if _, err := f.idx.ReadAt(b, at); err != nil {
		return Extent{}, err
	}
	le := binary.LittleEndian
	dev, blk := le.Uint16(b[2:]), le.Uint32(b[4:])
	e := Extent{Logical: c * chunk, Length: min(chunk, x.Size-c*chunk)}
	if blk == 0xFFFFFFFF {
		e.Hole = true
		return e, nil
	}
	if dev != 1 || le.Uint16(b) != 0 {
		return Extent{}, corrupt("nid %d: chunk %d on device %d", x.Nid, c, dev)
	}
	e.Device, e.Physical = true, int64(blk)*bs
	if (e.Physical+e.Length+bs-1)/bs > f.DevBlocks {
		return Extent{}, corrupt("nid %d: chunk %d at block %d beyond the device", x.Nid, c, blk)
	}
	return e, nil
}

// ReadAll reads a file's (or directory's, or symlink's) bytes.
func (x *File) ReadAll() ([]byte, error) {
	if x.Size > MaxData {
		return nil, corrupt("nid %d: %d bytes", x.Nid, x.Size)
	}
	out := make([]byte, x.Size)
	for off := int64(0); off < x.Size; {
		e, err := x.Map(off)
		if err != nil {
			return nil, err
		}
		n := e.Logical + e.Length - off
		if n <= 0 {
			return nil, corrupt("nid %d: empty extent at %d", x.Nid, off)
		}
		b := out[off : off+n]
		r := x.fs.idx
		if e.Device {
			r = x.fs.dev
		}
		switch {
		case e.Hole:
		default:
			if _, err := r.ReadAt(b, e.Physical+off-e.Logical); err != nil && !errors.Is(err, io.EOF) {
				return nil, err
			}
		}
		off += n
	}
	return out, nil
}

// Dirent is one directory entry.
type Dirent struct {
	Name string
	Nid  uint64
	Type uint8
}

// ReadDir decodes a directory's entries, "." and ".." included, checking
// their order and offsets.
func (x *File) ReadDir() ([]Dirent, error) {
	if x.Mode&0o170000 != 0o040000 {
		return nil, corrupt("nid %d: not a directory", x.Nid)
	}
	data, err := x.ReadAll()
	if err != nil {
		return nil, err
	}
	bs := x.fs.BlockSize
	le := binary.LittleEndian
	var out []Dirent
	for start := int64(0); start < int64(len(data)); start += bs {
		blk := data[start:min(start+bs, int64(len(data)))]
		if len(blk) < 12 {
			return nil, corrupt("nid %d: directory block of %d bytes", x.Nid, len(blk))
		}
		first := int(le.Uint16(blk[8:]))
		if first < 12 || first%12 != 0 || first >= len(blk) {
			return nil, corrupt("nid %d: first nameoff %d", x.Nid, first)
		}
		n := first / 12
		for j := 0; j < n; j++ {
			d := blk[j*12:]
			off := int(le.Uint16(d[8:]))
			end := len(blk)
			if j+1 < n {
				end = int(le.Uint16(blk[(j+1)*12+8:]))
			}
			if off < first || end > len(blk) || end <= off {
				return nil, corrupt("nid %d: name at %d..%d", x.Nid, off, end)
			}
			name := blk[off:end]
			if j+1 == n {
				if k := bytes.IndexByte(name, 0); k >= 0 {
					name = name[:k]
				}
			}
			if len(name) == 0 || len(name) > 255 {
				return nil, corrupt("nid %d: name of %d bytes", x.Nid, len(name))
			}
			e := Dirent{Name: string(name), Nid: le.Uint64(d), Type: d[10]}
			if len(out) > 0 && out[len(out)-1].Name >= e.Name {
				return nil, corrupt("nid %d: %q after %q", x.Nid, e.Name, out[len(out)-1].Name)
			}
			out = append(out, e)
		}
	}
	return out, nil
}

// Target reads a symbolic link's target.
func (x *File) Target() (string, error) {
	if x.Size == 0 || x.Size > 4095 {
		return "", corrupt("nid %d: link target of %d bytes", x.Nid, x.Size)
	}
	b, err := x.ReadAll()
	return string(b), err
}

// Entry is one name in the tree, as Walk finds it.
type Entry struct {
	Path string
	*File
}

// Walk visits every name under the root (the root first, as ""),
// checking "." and "..", each dirent's type against its inode, and that
// no directory is met twice.
func (f *FS) Walk(fn func(Entry) error) error {
	root, err := f.Inode(f.RootNid)
	if err != nil {
		return err
	}
	if root.Mode&0o170000 != 0o040000 {
		return corrupt("root nid %d is not a directory", f.RootNid)
	}
	if err := fn(Entry{"", root}); err != nil {
		return err
	}
	type dir struct {
		path   string
		x      *File
		parent uint64
		depth  int
	}
	seen := map[uint64]bool{root.Nid: true}
	stack := []dir{{"", root, root.Nid, 0}}
	files := 0
	for len(stack) > 0 {
		d := stack[len(stack)-1]
		stack = stack[:len(stack)-1]
		ents, err := d.x.ReadDir()
		if err != nil {
			return err
		}
		var dot, dotdot bool
		for _, e := range ents {
			switch e.Name {
			case ".":
				dot = e.Nid == d.x.Nid
				continue
			case "..":
				dotdot = e.Nid == d.parent
				continue
			}
			if files++; files > maxFiles {
				return corrupt("more than %d names", maxFiles)
			}
			if bytes.ContainsAny([]byte(e.Name), "/\x00") {
				return corrupt("name %q", e.Name)
			}
			c, err := f.Inode(e.Nid)
			if err != nil {
				return err
			}
			if want := fileType(c.Mode); e.Type != want {
				return corrupt("%s/%s: dirent type %d, inode type %d", d.path, e.Name, e.Type, want)
			}
			p := d.path + "/" + e.Name
			if err := fn(Entry{p, c}); err != nil {
				return err
			}
			if c.Mode&0o170000 == 0o040000 {
				if seen[c.Nid] || d.depth >= maxDepth {
					return corrupt("%s: directory met twice or too deep", p)
				}
				seen[c.Nid] = true
				stack = append(stack, dir{p, c, d.x.Nid, d.depth + 1})
			}
		}
		if !dot || !dotdot {
			return corrupt("%s: '.' or '..' missing or wrong", d.path)
		}
	}
	return nil
}

func fileType(mode uint32) uint8 {
	switch mode & 0o170000 {
	case 0o100000:
		return 1
	case 0o040000:
		return 2
	case 0o020000:
		return 3
	case 0o060000:
		return 4
	case 0o010000:
		return 5
	case 0o140000:
		return 6
	case 0o120000:
		return 7
	}
	return 0
}
