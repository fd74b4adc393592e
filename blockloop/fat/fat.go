package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
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

// bpb is the decoded boot sector.
type bpb struct {
	bits           int // 12, 16 or 32
	bytesPerSector int64
	clusterSize    int64
	fatOff         int64  // byte offset of the FAT in use
	fatBytes       int64  // bytes of one FAT
	rootOff        int64  // FAT12/16: byte offset of the root directory
	rootSize       int64  // FAT12/16: its bytes
	rootCluster    uint32 // FAT32
	dataOff        int64  // byte offset of cluster 2
	clusters       uint32 // data clusters: valid numbers are 2..clusters+1
	label          string // the boot sector's volume label ("" for NO NAME)
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

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// parseBootSector decodes and checks the BIOS parameter block of boot
// sector b (the first 512 bytes of an image of size bytes).
func parseBootSector(b []byte, size int64) (*bpb, error) {
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	jump := (b[0] == 0xEB && b[2] == 0x90) || b[0] == 0xE9
	if !jump && !(b[510] == 0x55 && b[511] == 0xAA) {
		return nil, fmt.Errorf("fat: no boot jump instruction nor 0x55AA signature in sector 0: %w", ErrNotFAT)
	}
	if string(b[3:11]) == "EXFAT   " {
		return nil, fmt.Errorf("fat: an exFAT boot sector: %w", ErrNotFAT)
	}
	p := &bpb{}
	p.bytesPerSector = le16(11)
	if p.bytesPerSector < 512 || p.bytesPerSector > 4096 || !isPow2(p.bytesPerSector) {
		return nil, notFAT(11, "bytes per sector %d (512, 1024, 2048 or 4096)", p.bytesPerSector)
	}
	spc := int64(b[13])
	if !isPow2(spc) {
		return nil, notFAT(13, "sectors per cluster %d (a power of two)", spc)
	}
	p.clusterSize = spc * p.bytesPerSector
	reserved := le16(14)
	if reserved == 0 {
		return nil, notFAT(14, "no reserved sectors")
	}
	nfats := int64(b[16])
	if nfats == 0 || nfats > 16 {
		return nil, notFAT(16, "%d FATs", nfats)
	}
	rootEntries := le16(17)
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	if total == 0 {
		return nil, notFAT(19, "no sectors")
	}
	if media := b[21]; media != 0xF0 && media < 0xF8 {
		return nil, notFAT(21, "media descriptor 0x%02x", media)
	}
	fatSectors := le16(22)
	fat32Layout := fatSectors == 0
	if fat32Layout {
		fatSectors = le32(36)
		if fatSectors == 0 {
			return nil, notFAT(22, "FAT size 0")
		}
		if rootEntries != 0 {
			return nil, notFAT(17, "%d root entries with a FAT32 parameter block", rootEntries)
		}
	} else if rootEntries == 0 {
		return nil, notFAT(17, "no root directory entries with a FAT12/16 parameter block")
	}
	rootSectors := (rootEntries*32 + p.bytesPerSector - 1) / p.bytesPerSector
	p.fatBytes = fatSectors * p.bytesPerSector
	firstData := reserved + nfats*fatSectors + rootSectors // < 2^16 + 16*2^32 + 2^11: no overflow
	if firstData >= total {
		return nil, notFAT(19, "%d sectors, but the data area starts at sector %d", total, firstData)
	}
	clusters := (total - firstData) / spc
	if clusters == 0 {
		return nil, notFAT(19, "no data clusters")
	}
	// The type is decided by the count of clusters (Microsoft's rule), not by
	// the "FAT12   " label. A FAT32 parameter block (16-bit FAT size 0, no
	// fixed root directory) is FAT32 whatever the count, as in Linux and
	// dosfstools: mkfs.vfat -F 32 makes such small volumes.
	switch {
	case fat32Layout:
		p.bits = 32
	case clusters < 4085:
		p.bits = 12
	case clusters < 65525:
		p.bits = 16
	default:
		return nil, notFAT(19, "%d clusters (FAT32) with a FAT12/16 parameter block", clusters)
	}
	// Clusters the FAT can describe (entries 0 and 1 are reserved).
	fatEntries := p.fatBytes * 8 / int64(p.bits)
	if fatEntries < 3 {
		return nil, notFAT(22, "a FAT of %d bytes", p.fatBytes)
	}
	if clusters > fatEntries-2 {
		clusters = fatEntries - 2 // as Linux does
	}
	maxClusters := map[int]int64{12: 0xFF4, 16: 0xFFF4, 32: 0x0FFFFFF5}[p.bits]
	if clusters > maxClusters {
		clusters = maxClusters
	}
	p.clusters = uint32(clusters)
	active := int64(0)
	if p.bits == 32 {
		if v := le16(42); v != 0 {
			return nil, fmt.Errorf("fat: FAT32 version %d.%d: %w", v>>8, v&0xFF, errors.ErrUnsupported)
		}
		if ext := le16(40); ext&0x80 != 0 { // mirroring off: one active FAT
			active = ext & 0x0F
			if active >= nfats {
				return nil, formatErr(40, "active FAT %d of %d", active, nfats)
			}
		}
		p.rootCluster = uint32(le32(44))
		if p.rootCluster < 2 || p.rootCluster > p.clusters+1 {
			return nil, formatErr(44, "root cluster %d outside 2..%d", p.rootCluster, p.clusters+1)
		}
	}
	p.fatOff = (reserved + active*fatSectors) * p.bytesPerSector
	p.rootOff = (reserved + nfats*fatSectors) * p.bytesPerSector
	p.rootSize = rootEntries * 32
	p.dataOff = firstData * p.bytesPerSector
	// The FAT in use and the root directory must be in the image; data
	// clusters past its end (a truncated image) fail the files using them.
	usedFAT := (int64(p.clusters) + 2) * int64(p.bits) / 8
	if p.fatOff+usedFAT+2 > size || p.rootOff+p.rootSize > size {
		return nil, formatErr(p.fatOff, "FAT (%d bytes) or root directory (%d bytes at %d) past the end of the image (%d bytes)", usedFAT, p.rootSize, p.rootOff, size)
	}
	labelOff := 43
	sigOff := 38
	if fat32Layout {
		labelOff, sigOff = 71, 66
	}
	if b[sigOff] == 0x29 {
		p.label = cleanLabel(b[labelOff : labelOff+11])
		if p.label == "NO NAME" {
			p.label = ""
		}
	}
	return p, nil
}

// cleanLabel decodes an 11-byte label (code page 437) without its trailing
// spaces and NULs.
func cleanLabel(b []byte) string {
	b = bytes.TrimRight(b, " \x00")
	if len(b) > 0 && b[0] == 0x05 {
		b = append([]byte{0xE5}, b[1:]...)
	}
	return readkit.SanitizeName(readkit.DecodeCP437(b))
}

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
