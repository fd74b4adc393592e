package userfs

import "golang.org/x/sys/unix"

// Read-ahead bounds: the files whose data a directory listing asks the
// kernel to read ahead, how much per directory, and how much of a tree's
// metadata.
const (
	prefetchFileMax = 1 << 20
	prefetchDirMax  = 16 << 20
	prefetchMetaMax = 256 << 20
)

// prefetch asks the kernel to start reading image ranges (posix_fadvise
// WILLNEED) before they are asked for: the data of a directory's small
// files as the directory is opened, so that a program reading every file
// finds their pages on their way in, read together, instead of waiting
// for one file at a time; a tree's metadata as it is mounted. Cheap when
// the pages are cached already. The ranges are gathered, then submitted
// by start beside the request that gathered them (submitting can wait on
// the disk's queue).
type prefetch struct {
	fd    int
	base  int64
	total int64
	max   int64
	xs    []Extent
}

func (p *prefetch) extents(xs []Extent) {
	for _, x := range xs {
		if p.fd <= 0 || p.total >= p.max {
			return
		}
		if x.Zero || x.Length <= 0 {
			continue
		}
		p.xs = append(p.xs, x)
		p.total += x.Length
	}
}

// file reads ahead a small regular file's data.
func (p *prefetch) file(a Attr) {
	if a.Size <= prefetchFileMax {
		p.extents(a.Extents)
	}
}

// start submits the gathered ranges in the background.
func (p *prefetch) start() {
	if len(p.xs) == 0 {
		return
	}
	fd, base, xs := p.fd, p.base, p.xs
	go func() {
		for _, x := range xs {
			unix.Fadvise(fd, base+x.Offset, x.Length, unix.FADV_WILLNEED)
		}
	}()
}
