package vmdk

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"

	"github.com/loops-cli/loops/blockloop/disk/ahead"
	"github.com/loops-cli/loops/blockloop/disk/codec"
	"github.com/loops-cli/loops/blockloop/readkit"
)

// sparseHeader is the hosted sparse extent header (SparseExtentHeader),
// little endian, at byte 0 of the extent (and, for streamOptimized images
// with the grain directory at the end, again in the footer).
type sparseHeader struct {
	version     uint32
	flags       uint32
	capacity    uint64 // sectors
	granularity uint64 // sectors per grain
	descOffset  uint64 // sectors
	descSize    uint64 // sectors
	numGTEs     uint32 // entries per grain table
	rgdOffset   uint64 // sectors
	gdOffset    uint64 // sectors
	overhead    uint64 // sectors
	compression uint16
}

// parseSparseHeader decodes the 79 meaningful bytes of a sparse header at
// byte off of its file.
func parseSparseHeader(b []byte, off int64) (*sparseHeader, error) {
	if len(b) < 79 {
		return nil, formatErr(off, "sparse header: %d bytes, need 79", len(b))
	}
	le := binary.LittleEndian
	if le.Uint32(b) != magicKDMV {
		return nil, formatErr(off, "sparse header: no KDMV magic")
	}
	h := &sparseHeader{
		version:     le.Uint32(b[4:]),
		flags:       le.Uint32(b[8:]),
		capacity:    le.Uint64(b[12:]),
		granularity: le.Uint64(b[20:]),
		descOffset:  le.Uint64(b[28:]),
		descSize:    le.Uint64(b[36:]),
		numGTEs:     le.Uint32(b[44:]),
		rgdOffset:   le.Uint64(b[48:]),
		gdOffset:    le.Uint64(b[56:]),
		overhead:    le.Uint64(b[64:]),
		compression: le.Uint16(b[77:]),
	}
	return h, nil
}

// sparse is an opened sparse extent: grain directory in memory, grain
// tables loaded on demand.
type sparse struct {
	r          io.ReaderAt
	size       int64 // of the file
	version    uint32
	grain      int64 // bytes
	capacity   int64 // bytes
	gtes       int64 // entries per grain table
	gd         []uint32
	compressed bool
	inflateFn  codec.Func // raw deflate, for compressed grains
	markers    bool
	maxComp    int64 // bytes of compressed data accepted for one grain
	cacheMax   int64 // bytes of grain tables kept

	mu         sync.Mutex
	gts        map[uint32][]uint32 // grain table by sector offset
	cacheBytes int64
	grains     *grainCache // shared by the extents of an image

	// Decompressing ahead of sequential reads (prefetch.go).
	pf       *ahead.Scheduler
	inflight ahead.Inflight[uint32] // grains being decompressed into the cache
}

// grainCache keeps the last decompressed grains of an image: at most
// maxCachedGrains of them, and at most grainCacheBytes unless that is
// fewer than minCachedGrains.
type grainCache struct {
	mu      sync.Mutex
	entries []cachedGrain // oldest first
	bytes   int64
}

const (
	minCachedGrains = 8
	maxCachedGrains = 64
	grainCacheBytes = 8 << 20
)

type cachedGrain struct {
	s      *sparse
	sector uint32
	data   []byte
}

// get copies the cached grain at sector of s from in into p.
func (c *grainCache) get(s *sparse, sector uint32, p []byte, in int64) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.s == s && e.sector == sector {
			copy(p, e.data[in:])
			return true
		}
	}
	return false
}

// has says whether the grain at sector of s is cached.
func (c *grainCache) has(s *sparse, sector uint32) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.s == s && e.sector == sector {
			return true
		}
	}
	return false
}

// put caches data; the buffers it evicts go back to grainPool (cache hits
// copy under the lock: nobody else holds them).
func (c *grainCache) put(s *sparse, sector uint32, data []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, e := range c.entries {
		if e.s == s && e.sector == sector {
			putBuf(&grainPool, data)
			return
		}
	}
	for len(c.entries) >= maxCachedGrains || len(c.entries) >= minCachedGrains && c.bytes+int64(len(data)) > grainCacheBytes {
		e := c.entries[0]
		c.entries[0] = cachedGrain{}
		c.entries = c.entries[1:]
		c.bytes -= int64(len(e.data))
		putBuf(&grainPool, e.data)
	}
	c.entries = append(c.entries, cachedGrain{s, sector, data})
	c.bytes += int64(len(data))
}

// openSparse reads the header (and footer), checks it and loads the grain
// directory, of at most tableBudget bytes; grain tables are cached up to
// cacheBudget bytes.
func openSparse(r io.ReaderAt, size int64, lim Limits, tableBudget, cacheBudget int64, grains *grainCache) (*sparse, *sparseHeader, error) {
	b := make([]byte, SectorSize)
	if size < SectorSize {
		return nil, nil, formatErr(0, "sparse extent of %d bytes: shorter than its header", size)
	}
	if err := readFull(r, size, b, 0); err != nil {
		return nil, nil, err
	}
	h, err := parseSparseHeader(b, 0)
	if err != nil {
		return nil, nil, err
	}
	if h.gdOffset == gdAtEnd {
		// streamOptimized written as a stream: the grain directory offset
		// is in the footer, a copy of the header 1024 bytes before the
		// end, after a footer marker and before the end-of-stream marker.
		if size < 3*SectorSize {
			return nil, nil, formatErr(56, "grain directory at the end, but the file (%d bytes) has no room for a footer", size)
		}
		foot := make([]byte, 3*SectorSize)
		fo := size - 3*SectorSize
		if err := readFull(r, size, foot, fo); err != nil {
			return nil, nil, err
		}
		if t := binary.LittleEndian.Uint32(foot[12:]); binary.LittleEndian.Uint32(foot[8:]) != 0 || t != markerFooter {
			return nil, nil, formatErr(fo, "grain directory at the end, but no footer marker there (type %d)", t)
		}
		fh, err := parseSparseHeader(foot[SectorSize:], fo+SectorSize)
		if err != nil {
			return nil, nil, err
		}
		if fh.gdOffset == gdAtEnd {
			return nil, nil, formatErr(fo+SectorSize+56, "footer gives no grain directory offset either")
		}
		h = fh
	}
	if h.version < 1 || h.version > 3 {
		return nil, nil, unsupported("sparse extent version %d", h.version)
	}
	if h.granularity == 0 || h.granularity&(h.granularity-1) != 0 {
		return nil, nil, formatErr(20, "grain size %d sectors: not a power of two", h.granularity)
	}
	if h.granularity > uint64(lim.MaxGrainSize)/SectorSize {
		return nil, nil, limitErr(20, "MaxGrainSize", int64(min(h.granularity, 1<<53))*SectorSize, lim.MaxGrainSize)
	}
	if h.numGTEs == 0 || h.numGTEs > 1<<16 {
		return nil, nil, formatErr(44, "%d entries per grain table (1 to 65536 allowed)", h.numGTEs)
	}
	if h.capacity > maxVirtualSize/SectorSize {
		return nil, nil, formatErr(12, "capacity of %d sectors", h.capacity)
	}
	comp := h.flags&flagCompressed != 0
	if comp && h.compression != compressionDeflate {
		return nil, nil, unsupported("grain compression algorithm %d (only deflate, 1, is known)", h.compression)
	}
	var inflateFn codec.Func
	if comp {
		var err error
		if inflateFn, err = codec.Lookup(codec.Deflate); err != nil {
			return nil, nil, fmt.Errorf("vmdk: %w", err)
		}
	}
	s := &sparse{
		r: r, size: size, version: h.version,
		grain:      int64(h.granularity) * SectorSize,
		capacity:   int64(h.capacity) * SectorSize,
		gtes:       int64(h.numGTEs),
		compressed: comp,
		inflateFn:  inflateFn,
		markers:    h.flags&flagMarkers != 0,
		cacheMax:   cacheBudget,
		grains:     grains,
		gts:        map[uint32][]uint32{},
	}
	s.maxComp = 2*s.grain + 4096
	s.pf = s.newPrefetch()
	gtSpan := s.grain * s.gtes // bytes covered by one grain table
	nGD := (s.capacity + gtSpan - 1) / gtSpan
	if nGD*4 > tableBudget {
		return nil, nil, limitErr(56, "MaxTableBytes", lim.MaxTableBytes-tableBudget+nGD*4, lim.MaxTableBytes)
	}
	if h.gdOffset > uint64(size)/SectorSize {
		return nil, nil, formatErr(56, "grain directory at sector %d: past the end of the file (%d bytes)", h.gdOffset, size)
	}
	gdOff := int64(h.gdOffset) * SectorSize
	if nGD*4 > size-gdOff {
		return nil, nil, formatErr(56, "grain directory of %d entries at byte %d runs past the end of the file (%d bytes)", nGD, gdOff, size)
	}
	raw := make([]byte, nGD*4)
	if err := readFull(r, size, raw, gdOff); err != nil {
		return nil, nil, err
	}
	s.gd = make([]uint32, nGD)
	for i := range s.gd {
		s.gd[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	return s, h, nil
}

// gte returns the grain table entry of grain g (the grain's sector offset,
// 0 unallocated, 1 zeroed).
func (s *sparse) gte(g int64) (uint32, error) {
	gi := g / s.gtes
	if gi >= int64(len(s.gd)) {
		return 0, nil
	}
	gtSector := s.gd[gi]
	if gtSector == 0 {
		return 0, nil
	}
	s.mu.Lock()
	gt, ok := s.gts[gtSector]
	s.mu.Unlock()
	if !ok {
		var err error
		if gt, err = s.loadGT(gtSector, gi); err != nil {
			return 0, err
		}
	}
	return gt[g%s.gtes], nil
}

// loadGT reads the grain table at sector and caches it.
func (s *sparse) loadGT(sector uint32, gi int64) ([]uint32, error) {
	off := int64(sector) * SectorSize
	n := s.gtes * 4
	if off > s.size || n > s.size-off {
		return nil, formatErr(off, "grain table %d at sector %d runs past the end of the file (%d bytes)", gi, sector, s.size)
	}
	raw := make([]byte, n)
	if err := readFull(s.r, s.size, raw, off); err != nil {
		return nil, err
	}
	gt := make([]uint32, s.gtes)
	for i := range gt {
		gt[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	s.mu.Lock()
	if s.cacheBytes+n > s.cacheMax {
		clear(s.gts)
		s.cacheBytes = 0
	}
	s.gts[sector] = gt
	s.cacheBytes += n
	s.mu.Unlock()
	return gt, nil
}

// read fills p from byte off of the extent; unallocated grains come from
// parent (at virtual offset abs) or read as zeros. Compressed grains of a
// read that spans several are decompressed in parallel.
func (s *sparse) read(p []byte, off, abs int64, parent readkit.Backing) error {
	s.pf.Read(off, off+int64(len(p)))
	if s.compressed && int64(len(p)) > s.grain && runtime.GOMAXPROCS(0) > 1 {
		return s.readParallel(p, off, abs, parent)
	}
	return s.readSerial(p, off, abs, parent)
}

// readParallel splits p at grain boundaries and reads the pieces with up
// to GOMAXPROCS goroutines.
func (s *sparse) readParallel(p []byte, off, abs int64, parent readkit.Backing) error {
	type job struct {
		q        []byte
		off, abs int64
	}
	jobs := make([]job, 0, int64(len(p))/s.grain+2)
	for len(p) > 0 {
		l := min(int64(len(p)), s.grain-off%s.grain)
		jobs = append(jobs, job{p[:l], off, abs})
		p, off, abs = p[l:], off+l, abs+l
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	errs := make([]error, workers)
	var next atomic.Int64
	var wg sync.WaitGroup
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := next.Add(1) - 1
				if i >= int64(len(jobs)) {
					return
				}
				j := jobs[i]
				if err := s.readSerial(j.q, j.off, j.abs, parent); err != nil {
					errs[w] = err
					next.Store(int64(len(jobs)))
					return
				}
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *sparse) readSerial(p []byte, off, abs int64, parent readkit.Backing) error {
	for len(p) > 0 {
		if off >= s.capacity {
			clear(p)
			return nil
		}
		g := off / s.grain
		in := off % s.grain
		l := min(int64(len(p)), s.grain-in, s.capacity-off)
		e, err := s.gte(g)
		if err != nil {
			return err
		}
		switch {
		case e == 0:
			if err := parent.Read("vmdk", p[:l], abs); err != nil {
				return err
			}
		case e == gteZeroed:
			clear(p[:l])
		case s.compressed:
			if err := s.readCompressed(p[:l], e, g, in); err != nil {
				return err
			}
		default:
			// Coalesce the grains that follow contiguously in the file.
			host := int64(e)*SectorSize + in
			for l < int64(len(p)) && off+l < s.capacity {
				n, err := s.gte(g + (in+l)/s.grain)
				if err != nil {
					return err
				}
				if int64(n) != int64(e)+(in+l)/s.grain*(s.grain/SectorSize) || n <= gteZeroed {
					break
				}
				l = min(l+s.grain, int64(len(p)), s.capacity-off)
			}
			if err := s.readData(p[:l], host, g); err != nil {
				return err
			}
		}
		p, off, abs = p[l:], off+l, abs+l
	}
	return nil
}

// readData reads allocated grain data at host; a grain that starts in the
// file but ends past it (a short last grain) reads as zeros past the end.
func (s *sparse) readData(p []byte, host, g int64) error {
	if host >= s.size {
		return formatErr(host, "grain %d at byte %d: past the end of the file (%d bytes)", g, host, s.size)
	}
	return readkit.ReadPadded("vmdk", s.r, s.size, p, host)
}

// Buffers reused across grains: compressed data and decompressed grains
// (evicted from the grain cache).
var (
	compPool  sync.Pool // *[]byte
	grainPool sync.Pool // *[]byte
)

func getBuf(p *sync.Pool, n int64) []byte {
	if v, ok := p.Get().(*[]byte); ok && int64(cap(*v)) >= n {
		return (*v)[:n]
	}
	return make([]byte, n)
}

func putBuf(p *sync.Pool, b []byte) {
	if b != nil {
		p.Put(&b)
	}
}

// readCompressed decompresses the grain g stored at sector and copies its
// bytes from in; a whole grain is decompressed straight into p unless it
// is cached or being decompressed ahead.
func (s *sparse) readCompressed(p []byte, sector uint32, g, in int64) error {
	if s.cached(sector, p, in) {
		return nil
	}
	if in == 0 && int64(len(p)) == s.grain {
		return s.inflate(p, sector, g)
	}
	// Readers of the same grain wait for the first one.
	if done, mine := s.inflight.Claim(sector); !mine {
		<-done
		if s.grains.get(s, sector, p, in) {
			return nil
		}
	} else {
		defer s.inflight.Release(sector, done)
		if s.grains.get(s, sector, p, in) {
			return nil
		}
	}
	data := getBuf(&grainPool, s.grain)
	if err := s.inflate(data, sector, g); err != nil {
		putBuf(&grainPool, data)
		return err
	}
	copy(p, data[in:])
	s.grains.put(s, sector, data)
	return nil
}

// inflate reads and decompresses the grain at sector into data: with
// markers, a 12-byte grain marker (LBA, compressed size) then zlib data
// (RFC 1950: a 2-byte header, deflate, an Adler-32 that is not checked,
// since only the grain's bytes are read).
func (s *sparse) inflate(data []byte, sector uint32, g int64) error {
	off := int64(sector) * SectorSize
	if off >= s.size {
		return formatErr(off, "compressed grain %d at byte %d: past the end of the file (%d bytes)", g, off, s.size)
	}
	var n, at int64
	if s.markers {
		var m [12]byte
		if err := readFull(s.r, s.size, m[:], off); err != nil {
			return err
		}
		lba := binary.LittleEndian.Uint64(m[:])
		n = int64(binary.LittleEndian.Uint32(m[8:]))
		if lba != uint64(g)*uint64(s.grain/SectorSize) {
			return formatErr(off, "grain marker says LBA %d, the grain table says %d", lba, g*(s.grain/SectorSize))
		}
		if n < 2 || n > s.maxComp {
			return formatErr(off+8, "compressed grain of %d bytes (grain is %d)", n, s.grain)
		}
		if n > s.size-off-12 {
			return formatErr(off+8, "compressed grain of %d bytes runs past the end of the file (%d bytes)", n, s.size)
		}
		at = off + 12
	} else {
		n, at = min(s.maxComp, s.size-off), off
		if n < 2 {
			return formatErr(off, "compressed grain %d: %d bytes", g, n)
		}
	}
	comp := getBuf(&compPool, n)
	defer putBuf(&compPool, comp)
	if err := readFull(s.r, s.size, comp, at); err != nil {
		return err
	}
	if cmf, flg := comp[0], comp[1]; cmf&0x0f != 8 || cmf>>4 > 7 || (uint16(cmf)<<8|uint16(flg))%31 != 0 || flg&0x20 != 0 {
		return formatErr(at, "compressed grain %d: no zlib header (%#02x %#02x)", g, cmf, flg)
	}
	k, err := s.inflateFn(data, comp[2:])
	if err != nil && err != io.ErrUnexpectedEOF && err != io.EOF {
		return formatErr(at, "compressed grain %d: %v", g, err)
	}
	// A short last grain: the rest reads as zeros.
	clear(data[k:])
	return nil
}
