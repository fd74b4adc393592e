package erofs

import (
	"errors"
	"fmt"
	"io"
)

// write encodes the planned index: the superblock and inodes (with their
// chunk indexes and inline tails), then the data blocks; all in one write
// when the data blocks are few (maxOneWrite), else in 1 MiB writes after
// the metadata.
func (l *layout) write(w io.Writer) error {
	metaLen, data := l.meta*l.bs, (l.total-l.meta)*l.bs
	size := metaLen
	if data <= maxOneWrite {
		size += data
	}
	buf := make([]byte, metaLen, size)
	meta := buf
	var incompat uint32 = incompatDeviceTable
	if l.info.Chunked > 0 {
		incompat |= incompatChunkedFile
	}
	var compat uint32
	if l.o.CompactMtime {
		compat |= compatMtime
	}
	putSuper(meta, superblock{
		blkszbits: l.blkbits, rootNid: uint16(l.inos[0].pos / 32), inodes: uint64(len(l.inos)),
		epoch: uint64(l.epoch), blocks: uint32(l.total), compat: compat, incompat: incompat,
		label: l.o.Label, devBlocks: uint32(l.devBlocks), devUniaddr: uint32(l.total), extraDevice: true,
	})
	for _, i := range l.inos {
		if i.n.IsDir() {
			i.content = l.dirContent(i)
		}
		if err := l.putInode(meta, i); err != nil {
			return err
		}
	}
	if data > maxOneWrite {
		if _, err := w.Write(meta); err != nil {
			return err
		}
		buf = make([]byte, 0, 1<<20)
	}
	for _, i := range l.inos {
		for off, n := int64(0), i.blocks*l.bs; off < n; {
			if len(buf) == cap(buf) {
				if _, err := w.Write(buf); err != nil {
					return err
				}
				buf = buf[:0]
			}
			m := int(min(int64(cap(buf)-len(buf)), n-off))
			b := buf[len(buf) : len(buf)+m]
			clear(b)
			if err := l.readData(i, b, off); err != nil {
				return err
			}
			buf, off = buf[:len(buf)+m], off+int64(m)
		}
	}
	if len(buf) > 0 {
		if _, err := w.Write(buf); err != nil {
			return err
		}
	}
	return nil
}

// maxOneWrite is the most index data kept in memory to write the whole
// index at once.
const maxOneWrite = 4 << 20

// putInode encodes one inode and what follows it in its block.
func (l *layout) putInode(meta []byte, i *ino) error {
	n := i.n
	d := inode{
		extended: i.extended, layout: i.layout, mode: uint16(n.Mode), nlink: i.nlink, size: uint64(i.size),
		ino: i.seq, uid: n.UID, gid: n.GID, mtime: n.Mtime.Unix(), nsec: uint32(n.Mtime.Nanosecond()),
	}
	if !i.extended {
		d.mtime -= l.epoch
	}
	switch {
	case n.Mode&sIFMT == sIFCHR || n.Mode&sIFMT == sIFBLK:
		d.iu = encodeDev(n.Rdev)
	case i.chunked:
		d.iu = chunkFormatIndexes | uint32(i.chunkLog)
	case i.device:
		d.iu = uint32(l.total + i.extents[0].Offset/l.bs)
	case i.blocks > 0:
		d.iu = uint32(i.dataBlk)
	}
	putInode(meta[i.pos:], d)
	at := i.pos + i.isize()
	if i.chunked {
		l.putChunks(meta[at:at+i.nchunks*chunkIndexSize], i)
	}
	if i.tail > 0 {
		tail := meta[at : at+i.tail]
		if err := l.readData(i, tail, i.blocks*l.bs); err != nil {
			return err
		}
	}
	return nil
}

// putChunks encodes a chunked file's indexes: each chunk's first block in
// device 1, or a hole.
func (l *layout) putChunks(b []byte, i *ino) {
	size := l.bs << i.chunkLog
	x, start := 0, int64(0) // the extent holding the chunk, and its file offset
	for c := int64(0); c < i.nchunks; c++ {
		at := c * size
		for start+i.extents[x].Length <= at {
			start += i.extents[x].Length
			x++
		}
		e := i.extents[x]
		if e.Zero {
			putChunkIndex(b[c*chunkIndexSize:], 0, nullAddr)
			continue
		}
		putChunkIndex(b[c*chunkIndexSize:], 1, uint32((e.Offset+at-start)/l.bs))
	}
}

// readData fills b with an inode's bytes from off (zeros past its size).
func (l *layout) readData(i *ino, b []byte, off int64) error {
	if off >= i.size {
		return nil
	}
	b = b[:min(int64(len(b)), i.size-off)]
	switch {
	case i.content != nil:
		copy(b, i.content[off:])
		return nil
	case i.n.Extents == nil:
		return readFull(i.pathName(), i.n.Data, b, off)
	}
	start := int64(0)
	for _, x := range i.extents {
		if len(b) == 0 {
			break
		}
		if off >= start+x.Length {
			start += x.Length
			continue
		}
		m := min(int64(len(b)), start+x.Length-off)
		if x.Zero {
			clear(b[:m])
		} else if err := readFull(i.pathName(), l.o.Device, b[:m], x.Offset+off-start); err != nil {
			return err
		}
		b, off, start = b[m:], off+m, start+x.Length
	}
	return nil
}

// readFull reads len(b) bytes at off, naming the file on failure.
func readFull(path string, r io.ReaderAt, b []byte, off int64) error {
	n, err := r.ReadAt(b, off)
	if n == len(b) {
		return nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return fmt.Errorf("%s: reading %d bytes at %d: %w", displayPath(path), len(b), off, err)
}

// dirContent encodes a directory's blocks: in each, the dirents, then
// their names; the last block as long as it is used.
func (l *layout) dirContent(i *ino) []byte {
	b := make([]byte, i.size)
	for k, first := range i.dirSplit {
		end := len(i.ents)
		if k+1 < len(i.dirSplit) {
			end = i.dirSplit[k+1]
		}
		blk := b[int64(k)*l.bs:]
		nameoff := direntSize * (end - first)
		for j, e := range i.ents[first:end] {
			putDirent(blk[j*direntSize:], uint64(e.ino.pos/32), uint16(nameoff), fileType(e.ino.n.Mode))
			nameoff += copy(blk[nameoff:], e.name)
		}
	}
	return b
}
