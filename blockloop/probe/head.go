package probe

import "io"

// headCache serves reads from the first headCacheSize bytes of an image
// from memory: probing reads a dozen small pieces near the start, and one
// pread serves them all.
type headCache struct {
	r    io.ReaderAt
	head []byte
}

const headCacheSize = 68 << 10 // covers every superblock magic probed (btrfs at 64 KiB)

func newHeadCache(r io.ReaderAt, size int64) io.ReaderAt {
	n := min(size, headCacheSize)
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, 0)
	if got < int(n) && err != nil && err != io.EOF {
		return r
	}
	return &headCache{r: r, head: buf[:got]}
}

func (c *headCache) ReadAt(p []byte, off int64) (int, error) {
	if off >= 0 && off+int64(len(p)) <= int64(len(c.head)) {
		return copy(p, c.head[off:]), nil
	}
	return c.r.ReadAt(p, off)
}
