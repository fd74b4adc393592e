package qcow2

import (
	"container/list"
	"fmt"
	"sync"
)

// Kind is what a range of the virtual disk reads from.
type Kind uint8

const (
	// Data is stored uncompressed in the image file at Mapping.Host.
	Data Kind = iota + 1
	// Zero reads as zeros: a zero cluster or subcluster, or an unallocated
	// one with no backing file (or past the backing file's end).
	Zero
	// Compressed is part of a compressed cluster whose compressed data
	// starts at Mapping.Host in the image file.
	Compressed
	// Backing is unallocated in this image and reads from the backing file
	// at the same offset.
	Backing
)

func (k Kind) String() string {
	switch k {
	case Data:
		return "data"
	case Zero:
		return "zero"
	case Compressed:
		return "compressed"
	case Backing:
		return "backing"
	}
	return fmt.Sprintf("Kind(%d)", uint8(k))
}

// L2 entry bits.
const (
	l2Copied     = 1 << 63
	l2Compressed = 1 << 62
	l2ZeroFlag   = 1 << 0
	offsetMask   = 0x00fffffffffffe00 // bits 9-55: L1 and standard L2 offsets
	sectorSize   = 512
)

// geom is the cluster geometry of an image.
type geom struct {
	clusterBits uint
	clusterSize int64
	extL2       bool
	entrySize   int64 // 8, or 16 with extended L2 entries
	l2Bits      uint  // log2 of the entries in one L2 table
	scBits      uint  // log2 of the subcluster size (extended L2)
	csizeShift  uint  // compressed descriptor: where the sector count starts
	csizeMask   uint64
	coffMask    uint64
}

func newGeom(clusterBits uint, extL2 bool) geom {
	g := geom{clusterBits: clusterBits, clusterSize: 1 << clusterBits, extL2: extL2, entrySize: 8, l2Bits: clusterBits - 3}
	if extL2 {
		g.entrySize, g.l2Bits, g.scBits = 16, clusterBits-4, clusterBits-5
	}
	g.csizeShift = 62 - (clusterBits - 8)
	g.csizeMask = 1<<(clusterBits-8) - 1
	g.coffMask = 1<<g.csizeShift - 1
	return g
}

// segment is what one L2 entry says about a virtual offset: its kind and
// how far the same kind goes on inside the cluster.
type segment struct {
	kind Kind
	host int64 // Data: file offset of the first byte; Compressed: of the compressed data
	clen int64 // Compressed: bytes of compressed data (an upper bound)
	n    int64 // bytes from the offset asked for
}

// decodeL2 decodes the L2 entry e (and its subcluster bitmap with extended
// L2 entries) for the byte at offset in (0 <= in < clusterSize) of its
// cluster. Unallocated ranges come back as Backing. A malformed entry gives
// a non-empty reason.
func (g *geom) decodeL2(e, bitmap uint64, in int64) (segment, string) {
	cs := g.clusterSize
	if e&l2Compressed != 0 {
		coff := e & g.coffMask
		sectors := (e>>g.csizeShift)&g.csizeMask + 1
		clen := int64(sectors)*sectorSize - int64(coff%sectorSize)
		return segment{kind: Compressed, host: int64(coff), clen: clen, n: cs - in}, ""
	}
	off := int64(e & offsetMask)
	if off%cs != 0 {
		return segment{}, fmt.Sprintf("cluster offset %#x is not aligned to the cluster size %d", off, cs)
	}
	if !g.extL2 {
		switch {
		case e&l2ZeroFlag != 0:
			return segment{kind: Zero, n: cs - in}, ""
		case off == 0:
			return segment{kind: Backing, n: cs - in}, ""
		}
		return segment{kind: Data, host: off + in, n: cs - in}, ""
	}
	alloc, zero := uint32(bitmap), uint32(bitmap>>32)
	if off == 0 && alloc != 0 {
		return segment{}, fmt.Sprintf("subclusters allocated (bitmap %#x) in an unallocated cluster", bitmap)
	}
	if alloc&zero != 0 {
		return segment{}, fmt.Sprintf("subclusters both allocated and zero (bitmap %#x)", bitmap)
	}
	kindOf := func(i uint) Kind {
		switch {
		case zero&(1<<i) != 0:
			return Zero
		case alloc&(1<<i) != 0:
			return Data
		}
		return Backing
	}
	sc := uint(in >> g.scBits)
	k := kindOf(sc)
	j := sc + 1
	for j < 32 && kindOf(j) == k {
		j++
	}
	s := segment{kind: k, n: int64(j)<<g.scBits - in}
	if k == Data {
		s.host = off + in
	}
	return s, ""
}

// lru is a bounded, concurrency-safe least-recently-used cache of byte
// slices keyed by file offset.
type lru struct {
	mu  sync.Mutex
	max int
	m   map[int64]*list.Element
	l   list.List
}

type lruEntry struct {
	key int64
	val []byte
}

func newLRU(max int) *lru {
	if max < 1 {
		max = 1
	}
	return &lru{max: max, m: make(map[int64]*list.Element)}
}

// get returns the cached value. The caller must not modify it.
func (c *lru) get(key int64) ([]byte, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.l.MoveToFront(el)
		return el.Value.(*lruEntry).val, true
	}
	return nil, false
}

// has says whether key is cached.
func (c *lru) has(key int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[key]
	return ok
}

// copyOut copies the cached value from offset from into dst, under the
// lock (so that evicted values can be recycled).
func (c *lru) copyOut(key int64, dst []byte, from int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.l.MoveToFront(el)
		copy(dst, el.Value.(*lruEntry).val[from:])
		return true
	}
	return false
}

// put adds a value and returns the one it evicted, or the one passed in
// when the key was already there (nil otherwise).
func (c *lru) put(key int64, val []byte) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	if el, ok := c.m[key]; ok {
		c.l.MoveToFront(el)
		return val
	}
	c.m[key] = c.l.PushFront(&lruEntry{key: key, val: val})
	if c.l.Len() > c.max {
		el := c.l.Back()
		c.l.Remove(el)
		e := el.Value.(*lruEntry)
		delete(c.m, e.key)
		return e.val
	}
	return nil
}
