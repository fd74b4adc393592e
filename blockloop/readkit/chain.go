package readkit

import (
	"io"
	"sync"
)

// ClusterHeap is the clusters of a FAT volume (FAT12/16/32, exFAT) and
// the file allocation table that chains them, read-only: the table is
// read a page at a time and cached, chains are followed with every
// cluster checked. The reader fills the fields (Next and End say how its
// table's entries read); safe for concurrent use.
type ClusterHeap struct {
	Format      string      // the reader, for its errors
	R           io.ReaderAt // the image
	Size        int64       // the image's bytes
	FATOff      int64       // byte offset of the FAT in use
	FATBytes    int64       // its bytes
	HeapOff     int64       // byte offset of cluster 2
	ClusterSize int64       // bytes
	Clusters    uint32      // valid cluster numbers are 2..Clusters+1

	// Next is the FAT entry of cluster n: the cluster after n in its
	// chain (read with Uint).
	Next func(n uint32) (uint32, error)
	// End tells whether the FAT entry v ends a chain.
	End func(v uint32) bool

	mu    sync.Mutex
	pages map[int64][]byte
}

// fatPage is the bytes of the FAT read and cached at once.
const fatPage = 64 << 10

// Valid tells whether c is the number of a cluster of the volume.
func (h *ClusterHeap) Valid(c uint32) bool { return c >= 2 && c <= h.Clusters+1 }

// Off is the byte offset in the image of cluster c.
func (h *ClusterHeap) Off(c uint32) int64 { return h.HeapOff + int64(c-2)*h.ClusterSize }

// Uint is the little-endian number of width bytes (at most 4) at byte off
// of the FAT.
func (h *ClusterHeap) Uint(off, width int64) (uint32, error) {
	var v uint32
	for i := int64(0); i < width; i++ {
		c, err := h.fatByte(off + i)
		if err != nil {
			return 0, err
		}
		v |= uint32(c) << (8 * i)
	}
	return v, nil
}

// fatByte is byte off of the FAT, read a page at a time and cached.
func (h *ClusterHeap) fatByte(off int64) (byte, error) {
	if off < 0 || off >= h.FATBytes {
		return 0, Malformed(h.Format, h.FATOff+off, "FAT entry past the end of the FAT")
	}
	page := off / fatPage
	h.mu.Lock()
	defer h.mu.Unlock()
	buf, ok := h.pages[page]
	if !ok {
		start := h.FATOff + page*fatPage
		n := min(int64(fatPage), h.FATBytes-page*fatPage, h.Size-start)
		if n <= off-page*fatPage {
			return 0, Malformed(h.Format, h.FATOff+off, "FAT past the end of the image")
		}
		buf = make([]byte, n)
		if err := ReadFull(h.Format, h.R, h.Size, buf, start); err != nil {
			return 0, err
		}
		if h.pages == nil {
			h.pages = make(map[int64][]byte)
		}
		h.pages[page] = buf
	}
	return buf[off-page*fatPage], nil
}

// Chain follows the cluster chain from start, for exactly want clusters
// (want < 0: until its end, at most maxClusters, a directory's limit
// MaxDirSize). It returns the byte extents of the chain, contiguous
// clusters merged (at most maxExtents, the limit MaxExtents), and their
// total length. A chain that loops, leaves the volume or the image, meets
// a free or bad cluster, or (want >= 0) ends before want clusters, is a
// *FormatError. Each cluster costs one from *budget: the files of one
// directory cannot, in a valid volume, have more clusters than the
// volume, so cross-linked chains cannot make a listing walk more than
// that.
func (h *ClusterHeap) Chain(start uint32, want, maxClusters, maxExtents int64, budget *int64) ([]Extent, int64, error) {
	cs := h.ClusterSize
	var xs []Extent
	var n int64
	c := start
	if want > int64(h.Clusters) {
		return nil, 0, Malformed(h.Format, h.Off(2), "%d clusters needed, the volume has %d", want, h.Clusters)
	}
	for {
		if *budget--; *budget < 0 {
			return nil, 0, Malformed(h.Format, h.FATOff, "cluster chain from %d: the chains of this directory's entries have more clusters than the volume (%d): they are cross-linked", start, h.Clusters)
		}
		if !h.Valid(c) {
			return nil, 0, Malformed(h.Format, h.FATOff, "cluster chain from %d reaches cluster %d, outside 2..%d", start, c, h.Clusters+1)
		}
		off := h.Off(c)
		if !InRange(off, cs, h.Size) {
			return nil, 0, Malformed(h.Format, off, "cluster %d is past the end of the image", c)
		}
		if k := len(xs); k > 0 && xs[k-1].Offset+xs[k-1].Length == off {
			xs[k-1].Length += cs
		} else {
			if int64(len(xs)) >= maxExtents {
				return nil, 0, OverLimit(h.Format, off, "MaxExtents", int64(len(xs)+1), maxExtents)
			}
			xs = append(xs, Extent{Offset: off, Length: cs})
		}
		n++
		if n == want {
			break
		}
		v, err := h.Next(c)
		if err != nil {
			return nil, 0, err
		}
		if h.End(v) {
			if want >= 0 {
				return nil, 0, Malformed(h.Format, h.FATOff, "cluster chain from %d ends after %d clusters, %d needed for the size", start, n, want)
			}
			break
		}
		if (want < 0 && n >= maxClusters) || n >= int64(h.Clusters) {
			if want < 0 && !Overlaps(xs) {
				return nil, 0, OverLimit(h.Format, off, "MaxDirSize", (n+1)*cs, maxClusters*cs)
			}
			return nil, 0, Malformed(h.Format, h.FATOff, "cluster chain from %d loops", start)
		}
		c = v
	}
	if Overlaps(xs) {
		return nil, 0, Malformed(h.Format, h.FATOff, "cluster chain from %d loops", start)
	}
	return xs, n * cs, nil
}
