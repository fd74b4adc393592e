package ntfs

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDirEntries int   // entries listed in one directory
	MaxIndexBytes int64 // bytes of one directory's $INDEX_ALLOCATION
	MaxRuns       int   // runs (extents) of one attribute
	MaxExtRecords int   // extension MFT records of one file (its attribute list)
	MaxAttrList   int64 // bytes of one $ATTRIBUTE_LIST
	MaxDepth      int   // path components walked by Lookup
}

// DefaultLimits allow what Windows writes: directories of a million
// entries, files fragmented into a million runs.
var DefaultLimits = Limits{
	MaxDirEntries: 1 << 20,
	MaxIndexBytes: 1 << 30,
	MaxRuns:       1 << 20,
	MaxExtRecords: 1 << 16,
	MaxAttrList:   1 << 20,
	MaxDepth:      1024,
}

func (l Limits) withDefaults() Limits {
	d := DefaultLimits
	if l.MaxDirEntries > 0 {
		d.MaxDirEntries = l.MaxDirEntries
	}
	if l.MaxIndexBytes > 0 {
		d.MaxIndexBytes = l.MaxIndexBytes
	}
	if l.MaxRuns > 0 {
		d.MaxRuns = l.MaxRuns
	}
	if l.MaxExtRecords > 0 {
		d.MaxExtRecords = l.MaxExtRecords
	}
	if l.MaxAttrList > 0 {
		d.MaxAttrList = l.MaxAttrList
	}
	if l.MaxDepth > 0 {
		d.MaxDepth = l.MaxDepth
	}
	return d
}

// Options tune OpenOptions. The zero value is what Open uses.
type Options struct {
	Limits Limits
	// MountPoint is where the volume is mounted, for the targets of
	// junctions and absolute symbolic links, which ntfs-3g shows below the
	// mount point; "" shows them from "/".
	MountPoint string
}

// Info is what the volume says about itself.
type Info struct {
	Label   string
	Serial  uint64 // the boot sector's volume serial number
	Version string // the NTFS version, "3.1"
	// Dirty is the dirty flag of $Volume: Windows (or chkdsk) did not
	// finish with the volume.
	Dirty bool
	// Hibernated: hiberfil.sys begins with "hibr" or "wake": Windows is
	// hibernated or shut down with fast startup, and its state in memory
	// is newer than the volume.
	Hibernated bool
	// LogNotClean: $LogFile holds transactions not yet applied.
	LogNotClean bool
	// MFTMirror: $MFT's own record was damaged and was read from $MFTMirr.
	MFTMirror bool
}

// Unclean tells whether Windows did not shut the volume down fully (dirty,
// hibernated or with a $LogFile to replay): it is served read-only as it
// is; writing to it would need Windows to shut down fully first.
func (i Info) Unclean() bool { return i.Dirty || i.Hibernated || i.LogNotClean }

// Well-known MFT record numbers.
const (
	recMFT      = 0
	recMFTMirr  = 1
	recLogFile  = 2
	recVolume   = 3
	recRoot     = 5
	firstUser   = 16
	RootIno     = recRoot // the inode number of the root directory
	maxMFTBytes = 1 << 40
)

// FS is an opened NTFS volume. It is safe for concurrent use.
type FS struct {
	r          io.ReaderAt
	size       int64
	lim        Limits
	mountPoint string

	sectorSize  int64
	clusterSize int64
	recordSize  int64
	indexSize   int64 // the boot sector's index block size
	clusters    int64 // clusters of the volume
	mftLCN      int64
	mirrLCN     int64
	serial      uint64

	mft     *stream // $MFT's $DATA
	records int64   // records in $MFT

	info Info
	root *Entry

	cacheMu sync.Mutex
	cache   map[int64]*mftChunkData // MFT chunks by offset in $MFT
}

// boot is the decoded boot sector.
type boot struct {
	sectorSize, clusterSize, recordSize, indexSize int64
	totalSectors                                   int64
	mftLCN, mirrLCN                                int64
	serial                                         uint64
}

// Open reads the NTFS volume in r (size bytes long): its boot sector, $MFT,
// $Volume and root directory. It returns an error matching ErrNotNTFS when
// r holds no NTFS volume, a *FormatError when its structures are malformed.
// Like ntfs-3g -o ro; needs no privilege.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	f := &FS{r: r, size: size, lim: opts.Limits.withDefaults(), mountPoint: opts.MountPoint, cache: map[int64]*mftChunkData{}}
	if size < 512 {
		return nil, fmt.Errorf("ntfs: image of %d bytes: %w", size, ErrNotNTFS)
	}
	var sec [512]byte
	if err := f.readAt(sec[:], 0); err != nil {
		return nil, err
	}
	b, err := parseBoot(sec[:])
	if err != nil {
		return nil, err
	}
	f.sectorSize, f.clusterSize, f.recordSize, f.indexSize = b.sectorSize, b.clusterSize, b.recordSize, b.indexSize
	f.clusters = b.totalSectors * b.sectorSize / b.clusterSize
	f.mftLCN, f.mirrLCN, f.serial = b.mftLCN, b.mirrLCN, b.serial
	if f.mftLCN >= f.clusters || f.mirrLCN >= f.clusters {
		return nil, notNTFS(0x30, "$MFT at cluster %d or $MFTMirr at %d is past the volume's %d clusters", f.mftLCN, f.mirrLCN, f.clusters)
	}
	if err := f.openMFT(); err != nil {
		return nil, err
	}
	f.info.Serial = f.serial
	if err := f.readVolume(); err != nil {
		return nil, err
	}
	root, err := f.entryFor(recRoot, "/", nil)
	if err != nil {
		return nil, fmt.Errorf("ntfs: root directory: %w", err)
	}
	if !root.IsDir() {
		return nil, formatErr(f.recordOffset(recRoot), "record 5 (the root) is not a directory")
	}
	f.root = root
	if _, err := root.Entries(); err != nil {
		return nil, fmt.Errorf("ntfs: root directory: %w", err)
	}
	f.info.LogNotClean = f.logNotClean()
	f.info.Hibernated = f.hibernated()
	return f, nil
}

// parseBoot decodes the boot sector b (512 bytes), checking every field
// the reader uses.
func parseBoot(b []byte) (*boot, error) {
	if string(b[3:11]) != "NTFS    " {
		return nil, fmt.Errorf("ntfs: no \"NTFS\" OEM name in the boot sector: %w", ErrNotNTFS)
	}
	// The 0x55AA boot signature is not checked: only firmware booting
	// the volume needs it; ntfs-3g (with a warning) and blkid read a
	// volume without it, and the OEM name, the sizes and $MFT's records
	// tell NTFS apart.
	bt := &boot{}
	bt.sectorSize = int64(binary.LittleEndian.Uint16(b[0x0B:]))
	if bt.sectorSize < 256 || bt.sectorSize > 4096 || !isPow2(bt.sectorSize) {
		return nil, notNTFS(0x0B, "bytes per sector %d", bt.sectorSize)
	}
	spc := int64(b[0x0D])
	if spc > 0x80 {
		// Large clusters: 2^(256-n) sectors (Windows 10 1709+).
		if 256-spc > 12 {
			return nil, notNTFS(0x0D, "sectors per cluster 2^%d", 256-spc)
		}
		spc = 1 << (256 - spc)
	}
	if spc == 0 || !isPow2(spc) {
		return nil, notNTFS(0x0D, "sectors per cluster %d", spc)
	}
	bt.clusterSize = spc * bt.sectorSize
	if bt.clusterSize > 2<<20 {
		return nil, notNTFS(0x0D, "cluster size %d", bt.clusterSize)
	}
	bt.totalSectors = int64(binary.LittleEndian.Uint64(b[0x28:]))
	if bt.totalSectors <= 0 || bt.totalSectors > 1<<48 {
		return nil, notNTFS(0x28, "total sectors %d", bt.totalSectors)
	}
	bt.mftLCN = int64(binary.LittleEndian.Uint64(b[0x30:]))
	bt.mirrLCN = int64(binary.LittleEndian.Uint64(b[0x38:]))
	if bt.mftLCN <= 0 || bt.mirrLCN <= 0 {
		return nil, notNTFS(0x30, "$MFT at cluster %d, $MFTMirr at %d", bt.mftLCN, bt.mirrLCN)
	}
	var err error
	if bt.recordSize, err = sizeField(int8(b[0x40]), bt.clusterSize); err != nil || !isPow2(bt.recordSize) || bt.recordSize < 512 || bt.recordSize > 64<<10 {
		return nil, notNTFS(0x40, "MFT record size (field %d)", int8(b[0x40]))
	}
	if bt.indexSize, err = sizeField(int8(b[0x44]), bt.clusterSize); err != nil || !isPow2(bt.indexSize) || bt.indexSize < 512 || bt.indexSize > 64<<10 {
		return nil, notNTFS(0x44, "index block size (field %d)", int8(b[0x44]))
	}
	bt.serial = binary.LittleEndian.Uint64(b[0x48:])
	return bt, nil
}

// sizeField decodes the boot sector's record and index block sizes: a
// count of clusters, or, negative, 2^-n bytes.
func sizeField(v int8, clusterSize int64) (int64, error) {
	switch {
	case v > 0:
		return int64(v) * clusterSize, nil
	case v < 0 && v >= -31:
		return 1 << uint(-v), nil
	}
	return 0, errors.New("zero")
}

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// Root is the root directory.
func (f *FS) Root() *Entry { return f.root }

// Size is the image size given to Open.
func (f *FS) Size() int64 { return f.size }

// ClusterSize is the volume's cluster size in bytes.
func (f *FS) ClusterSize() int { return int(f.clusterSize) }

// Label is the volume label ($Volume's $VOLUME_NAME), as blkid shows it.
func (f *FS) Label() string { return f.info.Label }

// Info is what the volume says about itself: label, serial, version and
// whether Windows shut it down cleanly.
func (f *FS) Info() Info { return f.info }

// readAt reads exactly len(p) bytes at off of the image.
func (f *FS) readAt(p []byte, off int64) error { return readkit.ReadFull("ntfs", f.r, f.size, p, off) }
