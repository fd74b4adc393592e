package qcow2

import (
	"encoding/binary"
	"fmt"
	"io"
	"runtime"
	"sync"

	"github.com/loops-cli/loops/blockloop/disk/ahead"
	"github.com/loops-cli/loops/blockloop/disk/codec"
	"github.com/loops-cli/loops/blockloop/readkit"
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	// MaxL1Entries is the most L1 entries read (8 bytes each, read whole
	// at Open). The entries read are those the virtual size needs.
	MaxL1Entries int64
	// MaxCacheBytes bounds the L2 table cache (whole clusters).
	MaxCacheBytes int64
	// MaxClusterCacheBytes bounds the cache of decompressed clusters.
	MaxClusterCacheBytes int64
}

// DefaultLimits: qemu's own L1 limit (32 MiB of entries), an L2 cache that
// maps 256 GiB of disk with 64 KiB clusters, and a few decompressed
// clusters.
var DefaultLimits = Limits{
	MaxL1Entries:         4 << 20,
	MaxCacheBytes:        32 << 20,
	MaxClusterCacheBytes: 8 << 20,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune Open. The zero value opens an image without its backing
// file.
type Options struct {
	// Backing opens the backing file named in the header: name exactly as
	// stored (usually relative to the overlay's directory) and the
	// backing format from the header extension ("" if absent). It is
	// called once, by Open. nil means: reads of clusters the image does
	// not hold fail with ErrNoBacking. The caller resolves paths, checks
	// the format and bounds chain depth and cycles; this package opens no
	// files.
	Backing func(name, format string) (io.ReaderAt, int64, error)
	Limits  Limits
}

// Info describes an opened image.
type Info struct {
	Version         int // 2 or 3
	ClusterSize     int64
	VirtualSize     int64
	BackingFile     string // as stored in the header
	BackingFormat   string // from the header extension, "" if absent
	CompressionType string // "zlib" or "zstd"
	Dirty           bool   // incompatible bit 0
	Corrupt         bool   // incompatible bit 1
	ExtendedL2      bool   // incompatible bit 4: 32 subclusters per cluster
	Snapshots       int    // internal snapshots (not read)
	Warnings        []string
}

// Mapping is one range of the virtual disk and where it reads from.
type Mapping struct {
	Off, Len int64
	Kind     Kind
	// Host is, for Data, the offset in the image file of the byte at Off
	// (the range is contiguous there); for Compressed, the offset of the
	// compressed cluster's data.
	Host int64
}

// Image is an opened qcow2 image, read as its virtual disk. It is safe for
// concurrent use.
type Image struct {
	r        io.ReaderAt
	fileSize int64
	g        geom
	size     int64
	ctype    uint8
	dec      codec.Func // the decompressor of ctype
	l1       []uint64
	l1Off    int64
	info     Info

	hasBacking  bool
	backing     io.ReaderAt // nil: not opened
	backingSize int64

	l2c *lru // L2 tables by file offset
	cc  *lru // decompressed clusters by compressed data offset

	// Decompressing ahead of sequential reads (prefetch.go).
	pf       *ahead.Scheduler
	inflight ahead.Inflight[int64] // clusters being decompressed into cc
}

// Open reads the header, header extensions and L1 table of the qcow2 image
// r (size bytes long) and opens its backing file through opts.Backing. It
// returns an error wrapping ErrNotQcow2 when there is no qcow magic,
// ErrEncrypted for encrypted images, a *UnsupportedFeatureError for
// unknown incompatible features or an external data file, a *LimitError
// over opts.Limits, a *FormatError for a malformed header or L1 table, and
// an error matching codec.ErrMissing when the image's compression type has
// no decompressor in this program (zstd, unless package
// blockloop/disk/codec/klauspost is linked in).
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	if size < 0 {
		return nil, fmt.Errorf("qcow2: negative image size %d", size)
	}
	lim := opts.Limits.withDefaults()
	head := make([]byte, min(size, 512))
	if err := readFull(r, head, 0); err != nil {
		return nil, err
	}
	h, err := decodeHeader(head, size)
	if err != nil {
		return nil, err
	}
	cs := int64(1) << h.clusterBits
	first := head
	if int64(len(head)) < min(size, cs) {
		first = make([]byte, min(size, cs))
		if err := readFull(r, first, 0); err != nil {
			return nil, err
		}
	}
	if err := h.decodeExtensions(first); err != nil {
		return nil, err
	}
	im := &Image{
		r: r, fileSize: size, size: int64(h.size), ctype: h.compressionType, l1Off: int64(h.l1Off),
		g: newGeom(uint(h.clusterBits), h.incompat&incompatExtendedL2 != 0),
	}
	// The L1 entries the virtual size needs.
	clusters := (h.size + uint64(cs) - 1) >> h.clusterBits
	need := (clusters + 1<<im.g.l2Bits - 1) >> im.g.l2Bits
	if need > uint64(lim.MaxL1Entries) {
		return nil, &LimitError{Offset: 36, Limit: "MaxL1Entries", Value: int64(need), Max: lim.MaxL1Entries}
	}
	if uint64(h.l1Size) < need {
		return nil, formatErr(36, "L1 table of %d entries is too small for the virtual size %d (needs %d)", h.l1Size, h.size, need)
	}
	if need > 0 {
		if h.l1Off%uint64(cs) != 0 {
			return nil, formatErr(40, "L1 table offset %#x is not aligned to the cluster size %d", h.l1Off, cs)
		}
		if h.l1Off > uint64(size) || need*8 > uint64(size)-h.l1Off {
			return nil, formatErr(40, "L1 table (%d entries at %#x) is past the end of the file (%d bytes)", need, h.l1Off, size)
		}
		raw := make([]byte, need*8)
		if err := readFull(r, raw, int64(h.l1Off)); err != nil {
			return nil, err
		}
		im.l1 = make([]uint64, need)
		for i := range im.l1 {
			im.l1[i] = binary.BigEndian.Uint64(raw[i*8:])
		}
	}
	im.l2c = newLRU(int(min(lim.MaxCacheBytes/cs, 1<<20)))
	im.cc = newLRU(int(min(lim.MaxClusterCacheBytes/cs, 1<<20)))
	im.pf = im.newPrefetch()
	im.info = Info{
		Version: int(h.version), ClusterSize: cs, VirtualSize: int64(h.size),
		BackingFile: h.backingFile, BackingFormat: h.backingFormat, CompressionType: "zlib",
		Dirty: h.incompat&incompatDirty != 0, Corrupt: h.incompat&incompatCorrupt != 0,
		ExtendedL2: im.g.extL2, Snapshots: int(h.nbSnapshots), Warnings: h.warnings,
	}
	if h.compressionType == compressionZstd {
		im.info.CompressionType = "zstd"
	}
	// Said at Open, not at the first compressed cluster: a program without
	// the decompressor learns early that it cannot read this image.
	if im.dec, err = lookupCodec(h.compressionType); err != nil {
		return nil, err
	}
	if h.backingFile != "" {
		im.hasBacking = true
		if opts.Backing != nil {
			br, bsize, err := opts.Backing(h.backingFile, h.backingFormat)
			if err != nil {
				return nil, fmt.Errorf("qcow2: opening backing file %q: %w", h.backingFile, err)
			}
			if br == nil || bsize < 0 {
				return nil, fmt.Errorf("qcow2: opening backing file %q: no reader or a negative size", h.backingFile)
			}
			im.backing, im.backingSize = br, bsize
		}
	}
	return im, nil
}

// Size is the virtual disk size.
func (im *Image) Size() int64 { return im.size }

// Info describes the image.
func (im *Image) Info() Info {
	i := im.info
	i.Warnings = append([]string(nil), i.Warnings...)
	return i
}

// readFull reads exactly len(p) bytes at off.
func readFull(r io.ReaderAt, p []byte, off int64) error {
	return readkit.ReadFull("qcow2", r, -1, p, off)
}

// cursor remembers the last L2 table used, to skip the cache lock while a
// read stays inside one table.
type cursor struct {
	off int64
	tab []byte
}

// lookup says what the virtual offset voff (0 <= voff < Size) reads from
// and for how many bytes.
func (im *Image) lookup(cur *cursor, voff int64) (segment, error) {
	g := &im.g
	ci := voff >> g.clusterBits
	in := voff & (g.clusterSize - 1)
	l1i := ci >> g.l2Bits
	l2i := ci & (1<<g.l2Bits - 1)
	l2off := int64(im.l1[l1i] & offsetMask)
	var s segment
	if l2off == 0 {
		// No L2 table: the rest of the range it would map is unallocated.
		s = segment{kind: Backing, n: (l1i+1)<<(g.l2Bits+g.clusterBits) - voff}
	} else {
		tab, err := im.table(cur, l2off, l1i)
		if err != nil {
			return s, err
		}
		pos := l2i * g.entrySize
		e := binary.BigEndian.Uint64(tab[pos:])
		var bm uint64
		if g.extL2 {
			bm = binary.BigEndian.Uint64(tab[pos+8:])
		}
		var why string
		if s, why = g.decodeL2(e, bm, in); why != "" {
			return s, formatErr(l2off+pos, "L2 entry %d for virtual offset %d: %s", l2i, voff, why)
		}
		switch s.kind {
		case Data:
			if s.host-in >= im.fileSize {
				return s, formatErr(l2off+pos, "data cluster at %#x for virtual offset %d is past the end of the file (%d bytes)", s.host-in, voff, im.fileSize)
			}
		case Compressed:
			if s.host >= im.fileSize {
				return s, formatErr(l2off+pos, "compressed cluster at %#x for virtual offset %d is past the end of the file (%d bytes)", s.host, voff, im.fileSize)
			}
		}
	}
	if s.kind == Backing && !im.hasBacking {
		s.kind = Zero
	}
	return s, nil
}

// table returns the L2 table at file offset off, which the L1 entry l1i
// points to.
func (im *Image) table(cur *cursor, off, l1i int64) ([]byte, error) {
	if cur.tab != nil && cur.off == off {
		return cur.tab, nil
	}
	cs := im.g.clusterSize
	if off%cs != 0 {
		return nil, formatErr(im.l1Off+8*l1i, "L1 entry %d: L2 table offset %#x is not aligned to the cluster size %d", l1i, off, cs)
	}
	if off > im.fileSize-cs {
		return nil, formatErr(im.l1Off+8*l1i, "L1 entry %d: L2 table at %#x is past the end of the file (%d bytes)", l1i, off, im.fileSize)
	}
	tab, ok := im.l2c.get(off)
	if !ok {
		tab = make([]byte, cs)
		if err := readFull(im.r, tab, off); err != nil {
			return nil, err
		}
		im.l2c.put(off, tab)
	}
	cur.off, cur.tab = off, tab
	return tab, nil
}

// Map describes the virtual range [off, off+n) (cut at Size): one Mapping
// per run of the same kind, with Data runs contiguous in the file, and one
// per compressed cluster. The result has at most one entry per (sub)cluster
// in the range: map a large disk in pieces.
func (im *Image) Map(off, n int64) ([]Mapping, error) {
	if off < 0 || n < 0 {
		return nil, fmt.Errorf("qcow2: Map(%d, %d): negative offset or length", off, n)
	}
	end := im.size
	if off < end && n < end-off {
		end = off + n
	}
	var out []Mapping
	var cur cursor
	for pos := off; pos < end; {
		s, err := im.lookup(&cur, pos)
		if err != nil {
			return out, err
		}
		l := min(s.n, end-pos)
		if s.kind == Backing && im.backing != nil {
			if pos >= im.backingSize {
				s.kind = Zero
			} else {
				l = min(l, im.backingSize-pos)
			}
		}
		if k := len(out) - 1; k >= 0 && out[k].Kind == s.kind && s.kind != Compressed &&
			(s.kind != Data || out[k].Host+out[k].Len == s.host) {
			out[k].Len += l
		} else {
			out = append(out, Mapping{Off: pos, Len: l, Kind: s.kind, Host: s.host})
		}
		pos += l
	}
	return out, nil
}

// run is a pending contiguous read: n bytes to p[dst:] from src.
type run struct {
	dst int
	src int64
	n   int
}

// cjob is a whole compressed cluster to decompress into dst.
type cjob struct {
	dst  []byte
	host int64
	clen int64
	voff int64
	done chan struct{} // prefetch: closed when in the cache
}

// ReadAt reads the virtual disk. Reads past Size return io.EOF; a read
// that reaches Size returns the bytes before it with io.EOF. Contiguous
// clusters are read with one ReadAt of the image file (and of the backing
// file); whole compressed clusters are decompressed in parallel.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("qcow2: ReadAt: negative offset %d", off)
	}
	if off >= im.size {
		return 0, io.EOF
	}
	var eof error
	if int64(len(p)) > im.size-off {
		p, eof = p[:im.size-off], io.EOF
	}
	var (
		cur        cursor
		data, back run
		jobs       []cjob
	)
	im.pf.Read(off, off+int64(len(p)))
	cs := im.g.clusterSize
	for pos := 0; pos < len(p); {
		voff := off + int64(pos)
		s, err := im.lookup(&cur, voff)
		if err != nil {
			return 0, err
		}
		n := int(min(s.n, int64(len(p)-pos)))
		switch s.kind {
		case Data:
			if data.n > 0 && data.dst+data.n == pos && data.src+int64(data.n) == s.host {
				data.n += n
				break
			}
			if err := im.readData(p, data); err != nil {
				return 0, err
			}
			data = run{dst: pos, src: s.host, n: n}
		case Backing:
			if back.n > 0 && back.dst+back.n == pos {
				back.n += n
				break
			}
			if err := im.readBacking(p, off, back); err != nil {
				return 0, err
			}
			back = run{dst: pos, src: voff, n: n}
		case Zero:
			clear(p[pos : pos+n])
		case Compressed:
			in := voff & (cs - 1)
			if in == 0 && int64(n) == cs {
				// Decompressed straight into p, unless it is in the
				// cache or being decompressed ahead.
				if !im.cached(s.host, p[pos:pos+n], 0) {
					jobs = append(jobs, cjob{dst: p[pos : pos+n], host: s.host, clen: s.clen, voff: voff})
				}
			} else if err := im.readCompressedPart(p[pos:pos+n], s, in, voff); err != nil {
				return 0, err
			}
		}
		pos += n
	}
	if err := im.readData(p, data); err != nil {
		return 0, err
	}
	if err := im.readBacking(p, off, back); err != nil {
		return 0, err
	}
	if err := im.runJobs(jobs); err != nil {
		return 0, err
	}
	return len(p), eof
}

// readData reads a run of uncompressed clusters; the part past the end of
// the file reads as zeros (as qemu reads it).
func (im *Image) readData(p []byte, r run) error {
	if r.n == 0 {
		return nil
	}
	dst := p[r.dst : r.dst+r.n]
	if avail := im.fileSize - r.src; avail < int64(len(dst)) {
		clear(dst[avail:])
		dst = dst[:avail]
	}
	return readFull(im.r, dst, r.src)
}

// readBacking reads a run of unallocated clusters from the backing file;
// past its end they read as zeros.
func (im *Image) readBacking(p []byte, off int64, r run) error {
	if r.n == 0 {
		return nil
	}
	if im.backing == nil {
		return fmt.Errorf("qcow2: read of %d bytes at virtual offset %d: %w", r.n, r.src, ErrNoBacking)
	}
	dst := p[r.dst : r.dst+r.n]
	if r.src >= im.backingSize {
		clear(dst)
		return nil
	}
	if avail := im.backingSize - r.src; avail < int64(len(dst)) {
		clear(dst[avail:])
		dst = dst[:avail]
	}
	if err := readFull(im.backing, dst, r.src); err != nil {
		return fmt.Errorf("qcow2: backing file: %w", err)
	}
	return nil
}

// compressedData reads the compressed data of a cluster (cut at the end
// of the file) into a pooled buffer.
func (im *Image) compressedData(host, clen int64) ([]byte, error) {
	n := min(clen, im.fileSize-host)
	buf := getBuf(int(n))
	if err := readFull(im.r, buf, host); err != nil {
		putBuf(buf)
		return nil, err
	}
	return buf, nil
}

// inflate decompresses one cluster into dst (clusterSize bytes).
func (im *Image) inflate(dst, src []byte, host, voff int64) error {
	if err := decompress(im.dec, codecNames[im.ctype], dst, src); err != nil {
		return formatErr(host, "compressed cluster for virtual offset %d (%s, %d bytes at most): %v", voff, im.info.CompressionType, len(src), err)
	}
	return nil
}

// readCompressedPart serves part of a compressed cluster, through the
// cache of decompressed clusters.
func (im *Image) readCompressedPart(dst []byte, s segment, in, voff int64) error {
	if im.cached(s.host, dst, in) {
		return nil
	}
	// Readers of the same cluster wait for the first one.
	if done, mine := im.inflight.Claim(s.host); !mine {
		<-done
		if im.cc.copyOut(s.host, dst, in) {
			return nil
		}
	} else {
		defer im.inflight.Release(s.host, done)
		if im.cc.copyOut(s.host, dst, in) {
			return nil
		}
	}
	src, err := im.compressedData(s.host, s.clen)
	if err != nil {
		return err
	}
	cl := getBuf(int(im.g.clusterSize))
	err = im.inflate(cl, src, s.host, voff-in)
	putBuf(src)
	if err != nil {
		putBuf(cl)
		return err
	}
	copy(dst, cl[in:])
	if old := im.cc.put(s.host, cl); old != nil {
		putBuf(old)
	}
	return nil
}

// maxGroupRead bounds one read of the compressed data of several
// clusters.
const maxGroupRead = 4 << 20

// runJobs decompresses whole clusters: the compressed data of clusters
// stored one after the other is read at once, and clusters are inflated
// on up to GOMAXPROCS goroutines.
func (im *Image) runJobs(jobs []cjob) error {
	if len(jobs) == 0 {
		return nil
	}
	type group struct {
		start, end int64
		jobs       []cjob
	}
	var groups []group
	for _, j := range jobs {
		jend := min(j.host+j.clen, im.fileSize)
		if k := len(groups) - 1; k >= 0 {
			g := &groups[k]
			if j.host >= g.start && j.host <= g.end && max(g.end, jend)-g.start <= maxGroupRead {
				g.end = max(g.end, jend)
				g.jobs = append(g.jobs, j)
				continue
			}
		}
		groups = append(groups, group{start: j.host, end: jend, jobs: []cjob{j}})
	}
	workers := min(runtime.GOMAXPROCS(0), len(jobs))
	if workers <= 1 {
		for _, g := range groups {
			buf, err := im.compressedData(g.start, g.end-g.start)
			if err != nil {
				return err
			}
			for _, j := range g.jobs {
				if err := im.inflate(j.dst, buf[j.host-g.start:min(j.host+j.clen, g.end)-g.start], j.host, j.voff); err != nil {
					putBuf(buf)
					return err
				}
			}
			putBuf(buf)
		}
		return nil
	}
	// Read each group, then hand its clusters to the workers.
	type task struct {
		j   cjob
		src []byte
	}
	tasks := make(chan task, 2*workers)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	setErr := func(err error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
	}
	for range workers {
		wg.Go(func() {
			for t := range tasks {
				if err := im.inflate(t.j.dst, t.src, t.j.host, t.j.voff); err != nil {
					setErr(err)
				}
			}
		})
	}
	var bufs [][]byte
	for _, g := range groups {
		buf, err := im.compressedData(g.start, g.end-g.start)
		if err != nil {
			setErr(err)
			break
		}
		bufs = append(bufs, buf)
		for _, j := range g.jobs {
			tasks <- task{j: j, src: buf[j.host-g.start : min(j.host+j.clen, g.end)-g.start]}
		}
	}
	close(tasks)
	wg.Wait()
	for _, b := range bufs {
		putBuf(b)
	}
	return first
}

var _ io.ReaderAt = (*Image)(nil)
