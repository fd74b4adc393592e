package userfs

import (
	"cmp"
	"slices"

	"golang.org/x/sys/unix"
)

// Read-ahead bounds: the files whose data a directory listing asks the
// kernel to read ahead, how much per directory, and how much of a tree's
// metadata.
const (
	prefetchFileMax  = 1 << 20
	prefetchDirMax   = 16 << 20
	prefetchMetaMax  = 256 << 20
	prefetchIndexMax = 64 << 20
)

// prefetch asks the kernel to start reading image ranges (posix_fadvise
// WILLNEED) before they are asked for: the data of a directory's small
// files as the directory is opened, so that a program reading every file
// finds their pages on their way in, read together, instead of waiting
// for one file at a time; a tree's metadata as it is mounted; through the
// EROFS index, whose directories the kernel reads without asking loops,
// the small files' data as the index is written (up to prefetchIndexMax:
// the kernel's erofs reads the image through its page cache). Cheap when
// the pages are cached already. The ranges are gathered, then submitted
// by start beside the request that gathered them (submitting can wait on
// the disk's queue).
type prefetch struct {
	fd    int
	base  int64
	total int64
	max   int64
	gap   int64 // ranges at most this far apart are read as one
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

// prefetchGap is the most unasked bytes between two ranges submitted as
// one: one large read ahead costs less than several small ones (on a
// solid-state or virtual disk a megabyte streams in about the time of a
// few random reads), and the files of a directory are often near each
// other, interleaved with those of its siblings. A directory's ranges so
// joined stay within prefetchSpanMax.
const (
	prefetchGap     = 1 << 20
	prefetchSpanMax = 64 << 20
)

// start submits the gathered ranges in the background, neighbours (files
// written one after another) joined into one.
func (p *prefetch) start() {
	if len(p.xs) == 0 {
		return
	}
	q := *p
	q.xs = slices.Clone(p.xs)
	go q.submit()
}

// submit submits the gathered ranges now, neighbours joined into one;
// the reads go on after it returns.
func (p *prefetch) submit() {
	for _, x := range coalesce(p.xs, p.gap, prefetchSpanMax) {
		unix.Fadvise(p.fd, p.base+x.Offset, x.Length, unix.FADV_WILLNEED)
	}
}

// coalesce sorts xs by offset and joins ranges at most gap apart while
// the joined ranges add up to at most span bytes; past it, ranges are
// kept as they are.
func coalesce(xs []Extent, gap, span int64) []Extent {
	slices.SortFunc(xs, func(a, b Extent) int { return cmp.Compare(a.Offset, b.Offset) })
	out := xs[:0]
	var total int64
	for _, x := range xs {
		if n := len(out); n > 0 && x.Offset <= out[n-1].Offset+out[n-1].Length+gap {
			last := &out[n-1]
			if end := x.Offset + x.Length - last.Offset; end > last.Length && total+end-last.Length <= span {
				total += end - last.Length
				last.Length = end
				continue
			} else if end <= last.Length {
				continue
			}
		}
		total += x.Length
		out = append(out, x)
	}
	return out
}
