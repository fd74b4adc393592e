package readkit

import (
	"errors"
	"io"
	"slices"
	"sync"
)

// Extent is a byte range of the image holding part of a file's data.
type Extent struct {
	Offset int64 // byte offset in the image
	Length int64 // bytes
}

var errNegative = errors.New("negative offset")

// ReadExtents reads p at off of the concatenation of xs, read from r.
// Reads past their end return io.EOF; a short read of r is
// io.ErrUnexpectedEOF.
func ReadExtents(r io.ReaderAt, xs []Extent, p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegative
	}
	n := 0
	base := int64(0)
	for _, x := range xs {
		if len(p) == 0 {
			break
		}
		if off < base+x.Length {
			in := off - base
			chunk := p
			if rest := x.Length - in; int64(len(chunk)) > rest {
				chunk = chunk[:rest]
			}
			m, err := r.ReadAt(chunk, x.Offset+in)
			n += m
			if m < len(chunk) {
				if err == nil || err == io.EOF {
					err = io.ErrUnexpectedEOF
				}
				return n, err
			}
			p = p[m:]
			off += int64(m)
		}
		base += x.Length
	}
	if len(p) > 0 {
		return n, io.EOF
	}
	return n, nil
}

// Overlaps tells whether two of xs share bytes: a cluster chain that
// visits a cluster twice.
func Overlaps(xs []Extent) bool {
	if len(xs) < 2 {
		return false
	}
	s := slices.Clone(xs)
	slices.SortFunc(s, func(a, b Extent) int {
		switch {
		case a.Offset < b.Offset:
			return -1
		case a.Offset > b.Offset:
			return 1
		}
		return 0
	})
	for i := 1; i < len(s); i++ {
		if s[i-1].Offset+s[i-1].Length > s[i].Offset {
			return true
		}
	}
	return false
}

// Claims keep a directory graph a tree, whatever the image says: each
// key (a directory's sector, ICB or cluster) is owned by the first owner
// that claims it. Safe for concurrent use; the zero value is ready.
type Claims[K, O comparable] struct {
	mu sync.Mutex
	m  map[K]O
}

// Claim gives keys to owner. It fails, taking none, when one of them is
// owned by another owner already.
func (c *Claims[K, O]) Claim(owner O, keys ...K) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil {
		c.m = make(map[K]O)
	}
	for _, k := range keys {
		if o, ok := c.m[k]; ok && o != owner {
			return false
		}
	}
	for _, k := range keys {
		c.m[k] = owner
	}
	return true
}

// ClusterClaims are the Claims of a cluster-based filesystem (FAT,
// exFAT): clusters, owned by a directory as listed by its parent.
type ClusterClaims struct{ Claims[uint32, uint64] }

// ClusterDir is a directory of a cluster-based filesystem, for
// [ClusterClaims.ClaimDir].
type ClusterDir struct {
	Cluster    uint32   // its first cluster
	Parent     uint32   // its parent's first cluster
	Root       bool     // it is the root
	ParentRoot bool     // its parent is the root
	Extents    []Extent // its clusters in the image
}

// ClaimDir claims the clusters of directory d (cluster 2 at byte
// heap of the image, clusterSize bytes each) for d listed by its parent:
// it fails when one of them belongs to another directory already (or to d
// listed by another parent), so that no cluster is listed as part of two
// directories.
func (c *ClusterClaims) ClaimDir(d ClusterDir, heap, clusterSize int64) bool {
	owner := uint64(d.Parent)<<32 | uint64(d.Cluster)
	if d.ParentRoot {
		owner = 0xFFFFFFFF<<32 | uint64(d.Cluster)
	}
	if d.Root {
		owner = 0xFFFFFFFE<<32 | uint64(d.Cluster)
	}
	var clusters []uint32
	for _, x := range d.Extents {
		first := uint32((x.Offset-heap)/clusterSize) + 2
		for i := int64(0); i < x.Length/clusterSize; i++ {
			clusters = append(clusters, first+uint32(i))
		}
	}
	if len(clusters) == 0 {
		clusters = []uint32{d.Cluster}
	}
	return c.Claim(owner, clusters...)
}
