package fat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"syscall"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Image is what a writable volume is read from and written to: the image
// file (an *os.File), or the section of it the volume is in.
type Image interface {
	io.ReaderAt
	io.WriterAt
	// Sync makes what was written durable (fdatasync).
	Sync() error
}

// Volume is a FAT12/16/32 volume opened read-write ([OpenVolume]). It is
// safe for concurrent use. File data is written to the image at once,
// into clusters the image has free until the next checkpoint ([Volume.Sync],
// which the server runs every second, at fsync and at unmount) links them
// into the file, in an order that keeps the image consistent for fsck.fat
// at every step (see Sync): a killed writer or a lost machine loses what
// changed since the last checkpoint, leaving lost clusters at most, never
// a cross-linked cluster or a damaged directory.
//
// While open, the volume is marked dirty (the boot sector's state byte, as
// Linux does, and the clean-shutdown bit of FAT entry 1 on FAT16/32, as
// Windows does); Close clears both, unless the volume was dirty when
// opened.
type Volume struct {
	mu   sync.Mutex
	img  Image
	size int64
	b    *bpb
	loc  *time.Location
	now  func() time.Time

	nfats     int
	fatStride int64 // bytes between two FATs
	mirror    bool  // write every FAT (else only the active one)
	fsinfoOff int64 // FAT32: byte offset of the FSInfo sector, 0 if none

	val     []uint32 // the FAT as the volume is now
	raw     []byte   // the FAT in use as written to the image
	free    uint32   // clusters with val 0
	hint    uint32   // next cluster to try allocating
	bootSec [512]byte

	wasDirty bool
	closed   bool
	root     *Node
	nextIno  uint64
	live     map[*Node]bool // nodes changed since the last checkpoint, or unlinked while open
	// pendingFree are clusters free in memory that the image still has
	// allocated: the next checkpoint frees them, after the entries.
	pendingFree []uint32
	fsinfoStale bool // FSInfo to write even with nothing else pending
}

// VolumeOptions tune OpenVolume.
type VolumeOptions struct {
	// Location is the time zone FAT times are written and read in (nil:
	// time.Local), as for the reader.
	Location *time.Location
	// Now is the clock (nil: time.Now).
	Now func() time.Time
}

// OpenVolume opens the FAT volume of img (size bytes) read-write and marks
// it dirty. It refuses an image shorter than the volume's boot sector
// says (a truncated image) with an error matching ErrTruncated. Its FAT
// is read into memory (4 bytes per cluster).
func OpenVolume(img Image, size int64, opts VolumeOptions) (*Volume, error) {
	v := &Volume{img: img, size: size, loc: opts.Location, now: opts.Now, nextIno: RootIno + 1, live: map[*Node]bool{}}
	if v.loc == nil {
		v.loc = time.Local
	}
	if v.now == nil {
		v.now = time.Now
	}
	if size < 512 {
		return nil, fmt.Errorf("fat: image of %d bytes: %w", size, ErrNotFAT)
	}
	if err := v.read(v.bootSec[:], 0); err != nil {
		return nil, err
	}
	b, err := parseBootSector(v.bootSec[:], size)
	if err != nil {
		return nil, err
	}
	if b.version != 0 {
		// Read as 0.0; written, it might mean what no one defined.
		return nil, fmt.Errorf("fat: FAT32 version %d.%d is read, not written: %w", b.version>>8, b.version&0xFF, errors.ErrUnsupported)
	}
	v.b = b
	sec := v.bootSec[:]
	total := int64(binary.LittleEndian.Uint16(sec[19:]))
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(sec[32:]))
	}
	if need := total * b.bytesPerSector; need > size {
		return nil, fmt.Errorf("fat: the boot sector claims %d bytes, the image has %d: %w", need, size, ErrTruncated)
	}
	v.nfats = int(sec[16])
	v.fatStride = b.fatBytes
	v.mirror = true
	if b.bits == 32 {
		if ext := binary.LittleEndian.Uint16(sec[40:]); ext&0x80 != 0 {
			v.mirror = false
		}
		if fsi := int64(binary.LittleEndian.Uint16(sec[48:])); fsi > 0 && fsi < int64(binary.LittleEndian.Uint16(sec[14:])) {
			var s [512]byte
			if err := v.read(s[:], fsi*b.bytesPerSector); err == nil &&
				binary.LittleEndian.Uint32(s[0:]) == 0x41615252 && binary.LittleEndian.Uint32(s[484:]) == 0x61417272 {
				v.fsinfoOff = fsi * b.bytesPerSector
				v.hint = binary.LittleEndian.Uint32(s[492:])
			}
		}
	}
	if err := v.loadFAT(); err != nil {
		return nil, err
	}
	v.wasDirty = v.dirtyOnImage()
	v.root = &Node{v: v, isRoot: true, isDir: true, ino: RootIno, cluster: b.rootCluster}
	v.root.de.attr = AttrDir
	if err := v.root.load(); err != nil {
		return nil, fmt.Errorf("fat: root directory: %w", err)
	}
	if err := v.setDirty(true); err != nil {
		return nil, err
	}
	return v, nil
}

// read reads exactly len(p) bytes at off of the image, refusing ranges
// outside it.
func (v *Volume) read(p []byte, off int64) error {
	return readkit.ReadFull("fat", v.img, v.size, p, off)
}

// write writes p at off of the image, all of it or an error.
func (v *Volume) write(p []byte, off int64) error {
	n, err := v.img.WriteAt(p, off)
	if err == nil && n < len(p) {
		err = io.ErrShortWrite
	}
	if err != nil {
		return fmt.Errorf("fat: write %d bytes at %d: %w", len(p), off, err)
	}
	return nil
}

// Root is the root directory.
func (v *Volume) Root() *Node { return v.root }

// Type is "fat12", "fat16" or "fat32".
func (v *Volume) Type() string { return fmt.Sprintf("fat%d", v.b.bits) }

// ClusterSize is the bytes of one cluster.
func (v *Volume) ClusterSize() int { return int(v.b.clusterSize) }

// WasDirty tells whether the volume was marked dirty when opened: not
// cleanly unmounted (fsck.fat should check it).
func (v *Volume) WasDirty() bool { return v.wasDirty }

// Clusters is the count of data clusters and of free ones.
func (v *Volume) Clusters() (total, free uint32) {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.b.clusters, v.free
}

// stateOff is the byte of the boot sector holding the dirty flag (Linux's
// FAT_STATE_DIRTY, what fsck.fat reports).
func (v *Volume) stateOff() int {
	if v.b.bits == 32 {
		return 65
	}
	return 37
}

// cleanBit is FAT entry 1's clean-shutdown bit (0 on FAT12, which has none).
func (v *Volume) cleanBit() uint32 {
	switch v.b.bits {
	case 16:
		return 0x8000
	case 32:
		return 0x08000000
	}
	return 0
}

func (v *Volume) dirtyOnImage() bool {
	if v.bootSec[v.stateOff()]&1 != 0 {
		return true
	}
	cb := v.cleanBit()
	return cb != 0 && v.rawEntry(1)&cb == 0
}

// setDirty marks the volume dirty or clean, in the boot sector and FAT
// entry 1, and syncs.
func (v *Volume) setDirty(dirty bool) error {
	if !dirty && v.wasDirty {
		return nil // found dirty: it stays so until fsck.fat
	}
	if err := v.img.Sync(); err != nil {
		return fmt.Errorf("fat: sync: %w", err)
	}
	so := v.stateOff()
	if v.bootSec[38+28*btoi(v.b.bits == 32)] == 0x29 { // an extended boot signature: the byte is ours
		if dirty {
			v.bootSec[so] |= 1
		} else {
			v.bootSec[so] &^= 1
		}
		if err := v.write(v.bootSec[so:so+1], int64(so)); err != nil {
			return err
		}
	}
	if cb := v.cleanBit(); cb != 0 {
		e := v.rawEntry(1)
		if dirty {
			e &^= cb
		} else {
			e |= cb
		}
		v.setRaw(1, e)
		if err := v.writeRaw(1, 1); err != nil {
			return err
		}
	}
	if err := v.img.Sync(); err != nil {
		return fmt.Errorf("fat: sync: %w", err)
	}
	return nil
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// Sync is a checkpoint: it writes every change not yet on the image and
// makes it durable, what fsync(2) and sync(2) do. The order, with an
// fdatasync(2) between steps, keeps the image consistent for fsck.fat
// whenever it stops, a killed writer or a lost machine alike:
//
//  1. the data written so far (fdatasync);
//  2. the FAT entries of clusters taken since the last checkpoint (every
//     FAT copy): until a directory entry points at them they are lost
//     clusters at most;
//  3. the directory entries that changed (size, first cluster, times),
//     with the FAT entry linking a file's old last cluster to its new ones;
//  4. the FAT entries that shrink a chain or free clusters (truncated,
//     unlinked, replaced files: their entries were changed in step 3 or
//     erased before), and FSInfo.
//
// Creating an entry (size 0, no cluster) and erasing one are written at
// once; a rename erases the old entry and syncs before it writes the new
// one; a new directory's cluster is zeroed and its chain synced before its
// entry is written.
func (v *Volume) Sync() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	return v.checkpoint()
}

func (v *Volume) syncImage() error {
	if err := v.img.Sync(); err != nil {
		return fmt.Errorf("fat: sync: %w", err)
	}
	return nil
}

func (v *Volume) checkpoint() error {
	if v.closed {
		return ErrClosed
	}
	if len(v.live) == 0 && len(v.pendingFree) == 0 && !v.fsinfoStale {
		return nil
	}
	all := func(c, old, now uint32) bool { return true }
	steps := []func() error{
		v.syncImage,
		func() error {
			for n := range v.live {
				if !n.unlinked {
					if err := v.flushEntries(n.chain, func(c, old, now uint32) bool { return old == 0 }); err != nil {
						return err
					}
				}
			}
			return nil
		},
		v.syncImage,
		func() error {
			for n := range v.live {
				if n.unlinked {
					continue
				}
				if err := v.flushEntries(n.chain, func(c, old, now uint32) bool { return v.grows(old, now) }); err != nil {
					return err
				}
				if n.dirty {
					if err := n.writeEntry(); err != nil {
						return err
					}
					n.dirty = false
				}
			}
			return nil
		},
		v.syncImage,
		func() error {
			for n := range v.live {
				if n.unlinked {
					continue // its clusters go at its last release
				}
				if err := v.flushEntries(n.chain, all); err != nil {
					return err
				}
				delete(v.live, n)
			}
			if err := v.flushEntries(v.pendingFree, all); err != nil {
				return err
			}
			v.pendingFree = nil
			v.fsinfoStale = false
			return v.writeFSInfo()
		},
		v.syncImage,
	}
	for _, step := range steps {
		if err := step(); err != nil {
			return err
		}
	}
	return nil
}

// Close syncs the volume and marks it clean (the clean umount). Files
// still open are closed; nodes are unusable after.
func (v *Volume) Close() error {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.closed {
		return nil
	}
	for n := range v.live {
		if n.unlinked {
			delete(v.live, n)
			v.freeLater(n.chain)
			n.chain = nil
		}
	}
	v.fsinfoStale = true
	if err := v.checkpoint(); err != nil {
		return err
	}
	if err := v.setDirty(false); err != nil {
		return err
	}
	v.closed = true
	return nil
}

// writeFSInfo writes FAT32's free count and next-free hint.
func (v *Volume) writeFSInfo() error {
	if v.fsinfoOff == 0 {
		return nil
	}
	var b [8]byte
	binary.LittleEndian.PutUint32(b[0:], v.free)
	binary.LittleEndian.PutUint32(b[4:], v.hint)
	return v.write(b[:], v.fsinfoOff+488)
}

// errno wraps a POSIX error number with what happened.
func errnoErr(e syscall.Errno, format string, args ...any) error {
	return fmt.Errorf("fat: "+format+": %w", append(args, e)...)
}
