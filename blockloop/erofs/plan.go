package erofs

import (
	"fmt"
	"math/bits"
)

// plan decides each inode's form and data, places the inodes after the
// superblock (the root first: its nid must fit 16 bits) and the index's
// data blocks after them.
func (l *layout) plan() error {
	var copied int64
	for _, i := range l.inos {
		n := i.n
		nlink := n.Nlink
		if nlink == 0 {
			nlink = i.links
			if n.IsDir() {
				nlink = 2 + i.subs
			}
		}
		i.extended = n.UID > 0xffff || n.GID > 0xffff || nlink > 0xffff || !l.compactTime(i)
		switch n.Mode & sIFMT {
		case sIFDIR:
			i.dirSplit, i.size = splitDir(i.ents, l.bs)
			l.planIndexData(i)
		case sIFLNK:
			i.content = []byte(n.Target)
			i.size = int64(len(i.content))
			l.planIndexData(i)
		case sIFREG:
			i.size = n.Size
			if i.size > 0xffffffff {
				i.extended = true
			}
			switch {
			case i.size == 0:
			case i.extents != nil && addressable(i.extents, l.bs, l.devBlocks):
				l.planDevice(i)
			default:
				if n.Extents != nil && l.o.Device == nil {
					return fmt.Errorf("%s: %w", i.pathName(), ErrNoDevice)
				}
				if copied += i.size; copied > l.o.MaxCopy {
					return fmt.Errorf("%s: more than %d bytes to copy into the index: %w", i.pathName(), l.o.MaxCopy, ErrTooLarge)
				}
				i.copy = true
				l.planIndexData(i)
				l.info.Copied++
				l.info.CopiedBytes += i.size
			}
		}
		i.nlink = nlink
	}
	if err := l.place(); err != nil {
		return err
	}
	l.info.BlockSize = int(l.bs)
	l.info.Inodes = len(l.inos)
	l.info.Size = l.total * l.bs
	return nil
}

// compactTime tells whether a compact inode shows i's mtime.
func (l *layout) compactTime(i *ino) bool {
	t := i.n.Mtime
	if t.Nanosecond() != 0 {
		return false
	}
	d := t.Unix() - l.epoch
	if l.o.CompactMtime {
		return d >= 0 && d <= 0xffffffff
	}
	return d == 0
}

// planDevice maps a block-addressable file into the image: one flat
// extent, or chunks as large as its extents' boundaries allow.
func (l *layout) planDevice(i *ino) {
	i.device = true
	if len(i.extents) == 1 && !i.extents[0].Zero {
		i.layout = layoutFlatPlain
		l.info.Flat++
		return
	}
	i.layout = layoutChunkBased
	i.chunked = true
	l.info.Chunked++
	var boundaries uint64
	var at int64
	for j, x := range i.extents {
		if j > 0 {
			boundaries |= uint64(at)
		}
		at += x.Length
	}
	chunk := uint64(1) << bits.Len64(uint64(i.size-1)) // the next power of two >= size
	if boundaries != 0 {
		chunk = min(chunk, boundaries&-boundaries)
	}
	chunk = max(chunk, uint64(l.bs))
	log := bits.TrailingZeros64(chunk) - int(l.blkbits)
	log = min(log, chunkBitsMask)
	i.chunkLog = uint8(log)
	size := l.bs << log
	i.nchunks = (i.size + size - 1) / size
}

// planIndexData lays out data kept in the index (a directory, a symlink,
// a copied file): full blocks, and the tail inline after the inode when it
// fits in the inode's block.
func (l *layout) planIndexData(i *ino) {
	tail := i.size % l.bs
	if tail != 0 && tail+i.isize() <= l.bs {
		i.layout = layoutFlatInline
		i.tail = tail
		i.blocks = i.size / l.bs
		return
	}
	i.layout = layoutFlatPlain
	i.blocks = (i.size + l.bs - 1) / l.bs
}

// splitDir packs a directory's sorted entries into blocks; it returns each
// block's first entry and the directory's size (the last block as used).
func splitDir(ents []dirent, bs int64) ([]int, int64) {
	var split []int
	var used, size int64
	for j, e := range ents {
		need := int64(direntSize + len(e.name))
		if j == 0 || used+need > bs {
			if j > 0 {
				size += bs
			}
			split = append(split, j)
			used = 0
		}
		used += need
	}
	return split, size + used
}

// place gives each inode its position (nid = position / 32) and each
// inode with index data its blocks.
func (l *layout) place() error {
	at := int64(metaStart)
	for _, i := range l.inos {
		at = (at + 31) &^ 31
		room := l.bs - at%l.bs
		if (i.extended && room < extendedSize) || (i.tail > 0 && room < i.isize()+i.tail) {
			at += room
		}
		i.pos = at
		at += i.isize()
		if i.chunked {
			at += i.nchunks * chunkIndexSize
		}
		at += i.tail
	}
	if l.inos[0].pos/32 > 0xffff {
		return fmt.Errorf("root inode beyond nid 65535: %w", ErrTooLarge)
	}
	l.meta = (at + l.bs - 1) / l.bs
	next := l.meta
	for _, i := range l.inos {
		if i.blocks > 0 {
			i.dataBlk = next
			next += i.blocks
		}
	}
	l.total = next
	if l.total+l.devBlocks >= 1<<32 {
		return fmt.Errorf("index of %d blocks over an image of %d: %w", l.total, l.devBlocks, ErrTooLarge)
	}
	return nil
}
