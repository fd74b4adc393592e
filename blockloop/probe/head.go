package probe

import "io"

// headCache serves reads from the first headCacheSize bytes of an image
// from memory: probing reads dozens of small pieces near the start (the
// partition table, then each partition's superblocks), and one pread
// serves them all. The whole image's reader takes its head window
// straight from it (reader.load), without a copy.
type headCache struct {
	r    io.ReaderAt
	head []byte
}

// headCacheSize is the reader's head window: every superblock near the
// start (btrfs at 64 KiB), the xfs log scan.
const headCacheSize = headWindow

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
