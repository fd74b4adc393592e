package fat

import (
	"fmt"
	"io"
	"io/fs"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDirSize    int64 // bytes of one directory (its cluster chain, or the FAT12/16 root)
	MaxDirEntries int   // entries listed in one directory
	MaxExtents    int   // extents (runs of contiguous clusters) of one file
	MaxDepth      int   // path components walked by Lookup
}

// DefaultLimits allow every valid FAT volume: a directory holds at most
// 65536 32-byte entries (2 MiB, the limit of Windows and Linux), and a file
// at most 4 GiB.
var DefaultLimits = Limits{
	MaxDirSize:    2 << 20,
	MaxDirEntries: 65536,
	MaxExtents:    1 << 20,
	MaxDepth:      1024,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune OpenOptions. The zero value is what Open uses.
type Options struct {
	Limits Limits
	// Location is the time zone of the timestamps, which FAT records
	// without one (local time of the machine that wrote them). Nil is
	// time.Local.
	Location *time.Location
}

// RootIno is the inode number of the root directory (see Entry.Ino).
const RootIno = 1

// FS is an opened FAT volume. It is safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	lim  Limits
	loc  *time.Location
	bpb  *bpb

	root       *Entry
	label      string // from the root directory's volume label entry
	labelFound bool

	heap *readkit.ClusterHeap // the clusters and the FAT that chains them

	claims readkit.ClusterClaims // directory cluster -> its directory
}

// Open reads the boot sector of the FAT image r (size bytes long) and its
// root directory. It returns an error matching ErrNotFAT when r holds no
// FAT volume, a *FormatError when its structures are malformed.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	f := &FS{r: r, size: size, lim: opts.Limits.withDefaults(), loc: opts.Location}
	if f.loc == nil {
		f.loc = time.Local
	}
	if size < 512 {
		return nil, fmt.Errorf("fat: image of %d bytes: %w", size, ErrNotFAT)
	}
	var sec [512]byte
	if err := f.readAt(sec[:], 0); err != nil {
		return nil, err
	}
	b, err := parseBootSector(sec[:], size)
	if err != nil {
		return nil, err
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
	if b.bits == 32 {
		budget := f.chainBudget()
		xs, n, err := f.dirChain(b.rootCluster, &budget)
		if err != nil {
			return nil, fmt.Errorf("fat: root directory: %w", err)
		}
		f.root.dirExtents = xs
		f.claim(f.root, f.root)
		f.root.Size = n
	} else {
		f.root.dirExtents = []Extent{{Offset: b.rootOff, Length: b.rootSize}}
		f.root.Size = b.rootSize
	}
	if _, err := f.root.Entries(); err != nil {
		return nil, err
	}
	return f, nil
}

// Root is the root directory.
func (f *FS) Root() *Entry { return f.root }

// Type is "fat12", "fat16" or "fat32".
func (f *FS) Type() string { return fmt.Sprintf("fat%d", f.bpb.bits) }

// Size is the image size given to Open.
func (f *FS) Size() int64 { return f.size }

// ClusterSize is the bytes of one cluster.
func (f *FS) ClusterSize() int { return int(f.bpb.clusterSize) }

// Label is the volume label as blkid reports it: the root directory's
// volume label entry when there is one (even "NO NAME"), else the boot
// sector's, "" when that is "NO NAME". Trailing spaces are removed.
func (f *FS) Label() string {
	if f.labelFound {
		return f.label
	}
	return f.bpb.label
}

// use makes b the volume's boot sector, and the clusters and FAT it
// describes the volume's.
func (f *FS) use(b *bpb) {
	f.bpb = b
	f.heap = &readkit.ClusterHeap{
		Format: "fat", R: f.r, Size: f.size,
		FATOff: b.fatOff, FATBytes: b.fatBytes,
		HeapOff: b.dataOff, ClusterSize: b.clusterSize, Clusters: b.clusters,
		Next: f.next, End: f.eoc,
	}
}

// readAt reads exactly len(p) bytes at off, refusing ranges outside the image.
func (f *FS) readAt(p []byte, off int64) error { return readkit.ReadFull("fat", f.r, f.size, p, off) }

// inImage tells whether [off, off+n) lies inside the image.
func (f *FS) inImage(off, n int64) bool { return readkit.InRange(off, n, f.size) }

// fatFree is the FAT entry of a free cluster.
const fatFree = 0

// next is FAT entry n: the cluster after n in its chain.
func (f *FS) next(n uint32) (uint32, error) {
	p := f.bpb
	var off int64
	switch p.bits {
	case 12:
		off = int64(n) + int64(n)/2
	case 16:
		off = int64(n) * 2
	default:
		off = int64(n) * 4
	}
	width := int64(p.bits+7) / 8
	if p.bits == 12 {
		width = 2
	}
	v, err := f.heap.Uint(off, width)
	if err != nil {
		return 0, err
	}
	switch p.bits {
	case 12:
		if n&1 != 0 {
			v >>= 4
		}
		v &= 0xFFF
	case 32:
		v &= 0x0FFFFFFF
	}
	return v, nil
}

// eoc tells whether FAT value v ends a chain.
func (f *FS) eoc(v uint32) bool {
	switch f.bpb.bits {
	case 12:
		return v >= 0xFF8
	case 16:
		return v >= 0xFFF8
	}
	return v >= 0x0FFFFFF8
}

func (f *FS) validCluster(c uint32) bool { return c >= 2 && c <= f.bpb.clusters+1 }

func (f *FS) clusterOff(c uint32) int64 {
	return f.bpb.dataOff + int64(c-2)*f.bpb.clusterSize
}

// chainBudget is the clusters the chains of one directory's entries may
// have in all (see chain).
func (f *FS) chainBudget() int64 { return int64(f.bpb.clusters) + 64 }

// dirChain is the chain of the directory starting at cluster c.
func (f *FS) dirChain(c uint32, budget *int64) ([]Extent, int64, error) {
	maxClusters := max(f.lim.MaxDirSize/f.bpb.clusterSize, 1)
	return f.heap.Chain(c, -1, maxClusters, maxClusters, budget)
}

// fileChain is the chain of a file of size bytes starting at cluster c.
func (f *FS) fileChain(c uint32, size int64, budget *int64) ([]Extent, error) {
	if size == 0 {
		return nil, nil
	}
	want := (size + f.bpb.clusterSize - 1) / f.bpb.clusterSize
	xs, _, err := f.heap.Chain(c, want, want, int64(f.lim.MaxExtents), budget)
	if err != nil {
		return nil, err
	}
	// The last cluster is partly used.
	xs[len(xs)-1].Length -= want*f.bpb.clusterSize - size
	return xs, nil
}
