package readkit

import "io"

// Backing is the disk a differencing image reads the blocks it does not
// hold from (its parent): a reader and its virtual size. The zero value
// is no backing disk: such blocks read as zeros, as do the bytes past a
// backing disk smaller than its child.
type Backing struct {
	R    io.ReaderAt
	Size int64
}

// Read fills p with the bytes at off of the backing disk, zeros where it
// has none; an error names reader format.
func (b Backing) Read(format string, p []byte, off int64) error {
	if b.R == nil {
		clear(p)
		return nil
	}
	return ReadPadded(format, b.R, b.Size, p, off)
}

// ReadBlocks is the ReadAt of a virtual disk of size bytes made of blocks
// of block bytes (VDI, VHDX, VHD): it fills p from off, block after
// block, through read, and returns io.EOF past the end as ReadAt does
// (see [Clip]). read fills the start of q, which begins at byte in of
// block bi (off bytes into the disk), up to the block's end at least
// when q goes that far (further where the next blocks follow in the
// file), and says how many bytes it filled (none is io.ErrNoProgress).
func ReadBlocks(format string, p []byte, off, size, block int64, read func(q []byte, bi, in, off int64) (int64, error)) (int, error) {
	p, eof := Clip(format, p, off, size)
	if len(p) == 0 {
		return 0, eof
	}
	done := 0
	for done < len(p) {
		n, err := read(p[done:], off/block, off%block, off)
		if err != nil {
			return done, err
		}
		if n <= 0 {
			return done, io.ErrNoProgress
		}
		done += int(n)
		off += n
	}
	return done, eof
}
