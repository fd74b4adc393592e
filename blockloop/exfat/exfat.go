package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
	"unicode"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDirSize    int64 // bytes of one directory, read at once
	MaxDirEntries int   // entries listed in one directory
	MaxExtents    int   // extents (runs of contiguous clusters) of one file
	MaxDepth      int   // path components walked by Lookup
}

// DefaultLimits allow every valid exFAT volume (a directory is at most
// 256 MiB, but real ones are far smaller) and keep a hostile one cheap.
var DefaultLimits = Limits{
	MaxDirSize:    64 << 20,
	MaxDirEntries: 1 << 20,
	MaxExtents:    1 << 20,
	MaxDepth:      1024,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune OpenOptions. The zero value is what Open uses.
type Options struct {
	Limits Limits
	// Location is the time zone of timestamps recorded without a valid UTC
	// offset (local time of the machine that wrote them). Nil is
	// time.Local.
	Location *time.Location
}

// RootIno is the inode number of the root directory (see Entry.Ino).
const RootIno = 1

// FS is an opened exFAT volume. It is safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	lim  Limits
	loc  *time.Location
	boot *bootSector

	root      *Entry
	label     string
	upcase    []uint16 // the volume's up-case table; nil: Unicode upper case
	upcaseErr error    // why the volume's table is not used (see UpcaseErr)

	heap *readkit.ClusterHeap // the clusters and the FAT that chains them

	claims readkit.ClusterClaims // directory cluster -> its directory
}

// bootSector is the decoded main (or backup) boot sector.
type bootSector struct {
	bytesPerSector int64
	clusterSize    int64
	fatOff         int64 // byte offset of the FAT in use
	fatBytes       int64
	heapOff        int64  // byte offset of cluster 2
	clusters       uint32 // valid cluster numbers are 2..clusters+1
	rootCluster    uint32
	serial         uint32
	backup         bool // read from the backup boot region
}

// Open reads the boot region of the exFAT image r (size bytes long), its
// root directory and up-case table. It returns an error matching
// ErrNotExFAT when r holds no exFAT volume, a *FormatError when its
// structures are malformed.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	f := &FS{r: r, size: size, lim: opts.Limits.withDefaults(), loc: opts.Location}
	if f.loc == nil {
		f.loc = time.Local
	}
	b, err := f.readBootRegion(0)
	if err != nil {
		// The backup boot region follows the main one (sectors 12-23).
		var berr error
		if bs := mainSectorSize(f); bs > 0 {
			if b, berr = f.readBootRegion(12 * bs); berr == nil {
				b.backup = true
				err = nil
			}
		}
		if err != nil {
			return nil, err
		}
	}
	f.use(b)
	f.root = &Entry{
		Name:       "/",
		Mode:       fs.ModeDir | 0o755,
		Attr:       AttrDir,
		Ino:        RootIno,
		ModTime:    time.Unix(0, 0),
		AccessTime: time.Unix(0, 0),
		ChangeTime: time.Unix(0, 0),
		fs:         f,
		isRoot:     true,
		cluster:    b.rootCluster,
	}
	budget := f.chainBudget()
	xs, n, err := f.heap.Chain(b.rootCluster, -1, f.dirClusters(), f.dirClusters(), &budget)
	if err != nil {
		return nil, fmt.Errorf("exfat: root directory: %w", err)
	}
	f.root.dirExtents, f.root.Size = xs, n
	f.claim(f.root, f.root)
	if _, err := f.root.Entries(); err != nil {
		return nil, err
	}
	return f, nil
}

// mainSectorSize is the sector size the main boot sector claims, or 0.
func mainSectorSize(f *FS) int64 {
	var b [512]byte
	if f.readAt(b[:], 0) != nil || string(b[3:11]) != "EXFAT   " || b[108] < 9 || b[108] > 12 {
		return 0
	}
	return 1 << b[108]
}

// Root is the root directory.
func (f *FS) Root() *Entry { return f.root }

// Type is "exfat".
func (f *FS) Type() string { return "exfat" }

// Size is the image size given to Open.
func (f *FS) Size() int64 { return f.size }

// ClusterSize is the bytes of one cluster.
func (f *FS) ClusterSize() int { return int(f.boot.clusterSize) }

// Label is the volume label (the root directory's volume label entry), ""
// when there is none.
func (f *FS) Label() string { return f.label }

// Serial is the volume serial number (blkid shows it as the UUID).
func (f *FS) Serial() uint32 { return f.boot.serial }

// UpcaseErr is why the volume's up-case table is not used for name lookups
// (missing, bad checksum, malformed), or nil. Names are then compared with
// Unicode simple upper case, which matches the default table.
func (f *FS) UpcaseErr() error { return f.upcaseErr }

// readAt reads exactly len(p) bytes at off, refusing ranges outside the image.
func (f *FS) readAt(p []byte, off int64) error { return readkit.ReadFull("exfat", f.r, f.size, p, off) }

// inImage tells whether [off, off+n) lies inside the image.
func (f *FS) inImage(off, n int64) bool { return readkit.InRange(off, n, f.size) }

// bootChecksum is the exFAT boot region checksum of sectors 0-10 (b), the
// volume flags and percent-in-use bytes of sector 0 left out.
func bootChecksum(b []byte) uint32 {
	var s uint32
	for i, c := range b {
		if i == 106 || i == 107 || i == 112 {
			continue
		}
		s = (s<<31 | s>>1) + uint32(c)
	}
	return s
}

// tableChecksum is the checksum of the up-case table.
func tableChecksum(b []byte) uint32 {
	var s uint32
	for _, c := range b {
		s = (s<<31 | s>>1) + uint32(c)
	}
	return s
}

// readBootRegion reads and checks the boot region (12 sectors) at off.
func (f *FS) readBootRegion(off int64) (*bootSector, error) {
	if !f.inImage(off, 512) {
		return nil, fmt.Errorf("exfat: image of %d bytes: %w", f.size, ErrNotExFAT)
	}
	var sec [512]byte
	if err := f.readAt(sec[:], off); err != nil {
		return nil, err
	}
	b, err := parseBootSector(sec[:], off)
	if err != nil {
		return nil, err
	}
	bs := b.bytesPerSector
	if !f.inImage(off, 12*bs) {
		return nil, formatErr(off, "boot region of %d bytes past the end of the image", 12*bs)
	}
	region := make([]byte, 12*bs)
	if err := f.readAt(region, off); err != nil {
		return nil, err
	}
	sum := bootChecksum(region[:11*bs])
	for i := 11 * bs; i < 12*bs; i += 4 {
		if binary.LittleEndian.Uint32(region[i:]) != sum {
			return nil, formatErr(off+i, "boot region checksum 0x%08x, sectors 0-10 sum to 0x%08x", binary.LittleEndian.Uint32(region[i:]), sum)
		}
	}
	// The FAT in use, and the up-case table and root directory reads, are
	// checked against the image as they are used; the FAT must be in it.
	if !f.inImage(b.fatOff, (int64(b.clusters)+2)*4) {
		return nil, formatErr(off+80, "FAT at byte %d past the end of the image (%d bytes)", b.fatOff, f.size)
	}
	return b, nil
}

// parseBootSector decodes and checks the exFAT boot sector b, read at off.
func parseBootSector(b []byte, off int64) (*bootSector, error) {
	if string(b[3:11]) != "EXFAT   " {
		return nil, fmt.Errorf("exfat: no \"EXFAT   \" file system name at byte %d: %w", off+3, ErrNotExFAT)
	}
	for i := 11; i < 64; i++ {
		if b[i] != 0 {
			return nil, notExFAT(off+int64(i), "MustBeZero byte is 0x%02x", b[i])
		}
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, notExFAT(off+510, "no boot signature 0xAA55")
	}
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	bss, spcs := int64(b[108]), int64(b[109])
	if bss < 9 || bss > 12 {
		return nil, notExFAT(off+108, "bytes per sector shift %d (9..12)", bss)
	}
	if spcs > 25-bss {
		return nil, notExFAT(off+109, "sectors per cluster shift %d (at most %d)", spcs, 25-bss)
	}
	if rev := binary.LittleEndian.Uint16(b[104:]); rev>>8 != 1 {
		return nil, fmt.Errorf("exfat: file system revision %d.%02d: %w", rev>>8, rev&0xFF, errors.ErrUnsupported)
	}
	nfats := int64(b[110])
	if nfats != 1 && nfats != 2 {
		return nil, notExFAT(off+110, "%d FATs (1 or 2)", nfats)
	}
	volLen := int64(binary.LittleEndian.Uint64(b[72:]))
	fatOff, fatLen, heapOff, count, root := le32(80), le32(84), le32(88), le32(92), le32(96)
	p := &bootSector{
		bytesPerSector: 1 << bss,
		clusterSize:    1 << (bss + spcs),
		clusters:       uint32(count),
		rootCluster:    uint32(root),
		serial:         uint32(le32(100)),
	}
	// The checks keep what reading needs: every structure inside the
	// volume and the image, nothing overlapping, no overflow. What only
	// a formatter must do is not checked: the specification's 1 MiB
	// minimum volume length (mkfs.exfat makes smaller volumes; the kernel,
	// 7-Zip and blkid read them).
	switch {
	case volLen < 24:
		return nil, notExFAT(off+72, "volume length %d sectors, shorter than the two boot regions (24 sectors)", volLen)
	case volLen > 1<<(63-bss)-1:
		return nil, notExFAT(off+72, "volume length %d sectors, past 2^63 bytes", volLen)
	case fatOff < 24:
		return nil, notExFAT(off+80, "FAT offset %d (at least 24)", fatOff)
	case fatLen == 0 || fatLen*p.bytesPerSector < (count+2)*4:
		return nil, notExFAT(off+84, "FAT of %d sectors for %d clusters", fatLen, count)
	case heapOff < fatOff+nfats*fatLen:
		return nil, notExFAT(off+88, "cluster heap at sector %d overlaps the FATs", heapOff)
	case count == 0 || count > 0xFFFFFFF5:
		return nil, notExFAT(off+92, "cluster count %d", count)
	case heapOff+count<<spcs > volLen:
		return nil, notExFAT(off+92, "%d clusters from sector %d past the volume's %d sectors", count, heapOff, volLen)
	case root < 2 || root > count+1:
		return nil, notExFAT(off+96, "root directory cluster %d outside 2..%d", root, count+1)
	}
	active := int64(0)
	if nfats == 2 && b[106]&1 != 0 {
		active = 1
	}
	p.fatBytes = fatLen * p.bytesPerSector
	p.fatOff = (fatOff + active*fatLen) * p.bytesPerSector
	p.heapOff = heapOff * p.bytesPerSector
	return p, nil
}

// next is FAT entry n: the cluster after n in its chain.
func (f *FS) next(n uint32) (uint32, error) { return f.heap.Uint(int64(n)*4, 4) }

// use makes b the volume's boot sector, and the clusters and FAT it
// describes the volume's.
func (f *FS) use(b *bootSector) {
	f.boot = b
	f.heap = &readkit.ClusterHeap{
		Format: "exfat", R: f.r, Size: f.size,
		FATOff: b.fatOff, FATBytes: b.fatBytes,
		HeapOff: b.heapOff, ClusterSize: b.clusterSize, Clusters: b.clusters,
		Next: f.next, End: func(v uint32) bool { return v == 0xFFFFFFFF },
	}
}

func (f *FS) validCluster(c uint32) bool { return c >= 2 && c <= f.boot.clusters+1 }

func (f *FS) clusterOff(c uint32) int64 {
	return f.boot.heapOff + int64(c-2)*f.boot.clusterSize
}

// chainBudget is the clusters the chains of one directory's entries may
// have in all (see chain).
func (f *FS) chainBudget() int64 { return int64(f.boot.clusters) + 64 }

// dirClusters is the most clusters a directory may have.
func (f *FS) dirClusters() int64 { return max(f.lim.MaxDirSize/f.boot.clusterSize, 1) }

// contiguous is the extent of want clusters from start, for an allocation
// with the NoFatChain flag (the FAT is not used).
func (f *FS) contiguous(start uint32, want int64) ([]Extent, error) {
	if want == 0 {
		return nil, nil
	}
	if !f.validCluster(start) || want > int64(f.boot.clusters)+2-int64(start) {
		return nil, formatErr(f.clusterOff(2), "%d contiguous clusters from cluster %d leave the volume (clusters 2..%d)", want, start, f.boot.clusters+1)
	}
	x := Extent{Offset: f.clusterOff(start), Length: want * f.boot.clusterSize}
	if !f.inImage(x.Offset, x.Length) {
		return nil, formatErr(x.Offset, "%d bytes of clusters past the end of the image (%d bytes)", x.Length, f.size)
	}
	return []Extent{x}, nil
}

// alloc is the clusters of an allocation of size bytes from cluster start,
// through the FAT or (noFatChain) contiguous.
func (f *FS) alloc(start uint32, size int64, noFatChain bool, maxExtents int64, budget *int64) ([]Extent, error) {
	if size == 0 {
		return nil, nil
	}
	want := (size-1)/f.boot.clusterSize + 1
	if noFatChain {
		return f.contiguous(start, want)
	}
	xs, _, err := f.heap.Chain(start, want, want, maxExtents, budget)
	return xs, err
}

// maxUpcase is the most bytes an up-case table may have (65536 characters,
// uncompressed, plus slack).
const maxUpcase = 256 << 10

// loadUpcase reads and decompresses the up-case table of size bytes at
// cluster start, whose checksum is sum.
func (f *FS) loadUpcase(start uint32, size int64, sum uint32) ([]uint16, error) {
	if size < 2 || size > maxUpcase || size%2 != 0 {
		return nil, formatErr(f.clusterOff(2), "up-case table of %d bytes", size)
	}
	budget := f.chainBudget()
	xs, err := f.alloc(start, size, false, 1<<10, &budget)
	if err != nil {
		return nil, err
	}
	raw := make([]byte, size)
	if _, err := readkit.ReadExtents(f.r, xs, raw, 0); err != nil {
		return nil, err
	}
	if got := tableChecksum(raw); got != sum {
		return nil, formatErr(xs[0].Offset, "up-case table checksum 0x%08x, recorded 0x%08x", got, sum)
	}
	table := make([]uint16, 0, 1<<16)
	for i := 0; i+1 < len(raw) && len(table) < 1<<16; i += 2 {
		v := binary.LittleEndian.Uint16(raw[i:])
		if v == 0xFFFF && i+3 < len(raw) {
			// A run of characters that map to themselves.
			i += 2
			run := int(binary.LittleEndian.Uint16(raw[i:]))
			for j := 0; j < run && len(table) < 1<<16; j++ {
				table = append(table, uint16(len(table)))
			}
			continue
		}
		table = append(table, v)
	}
	return table, nil
}

// upper maps a UTF-16 code unit through the up-case table.
func (f *FS) upper(c uint16) uint16 {
	if f.upcase != nil {
		if int(c) < len(f.upcase) {
			return f.upcase[c]
		}
		return c
	}
	if c >= 0xD800 && c < 0xE000 {
		return c
	}
	u := unicode.ToUpper(rune(c))
	if u > 0xFFFF {
		return c
	}
	return uint16(u)
}
