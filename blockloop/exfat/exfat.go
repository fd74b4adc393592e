package exfat

import (
	"encoding/binary"
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

// tableChecksum is the checksum of the up-case table.
func tableChecksum(b []byte) uint32 {
	var s uint32
	for _, c := range b {
		s = (s<<31 | s>>1) + uint32(c)
	}
	return s
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
