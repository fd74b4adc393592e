package probe

import (
	"io"
	"io/fs"
	"os"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// Kind says what sort of thing an image holds.
type Kind string

const (
	KindUnknown        Kind = "unknown"
	KindFilesystem     Kind = "filesystem"
	KindPartitionTable Kind = "partition-table"
	KindDiskImage      Kind = "disk-image" // qcow2, vmdk, vhdx, vdi, vpc: not raw, a loop device cannot read it
	KindCrypto         Kind = "crypto"     // LUKS, BitLocker
	KindSwap           Kind = "swap"
	// KindVolume: a container that holds filesystems but is not one: an
	// LVM physical volume, a RAID member, bcache, ZFS, APFS, VMFS.
	KindVolume Kind = "volume"
)

// Result is what Image found in an image or a partition. Type, Label,
// UUID, PTType and PTUUID use the names and formats of `blkid -p`.
type Result struct {
	Kind   Kind
	Type   string // blkid TYPE: ext4, xfs, iso9660, squashfs, crypto_LUKS, qcow2…; "" for a bare partition table
	Label  string
	UUID   string
	PTType string // "dos" (MBR) or "gpt" when a partition table was found
	PTUUID string
	// Version is blkid's VERSION where it gives one ("FAT32", "1.2",
	// "LVM2 001", "Joliet Extension"…).
	Version string
	// BlockSize is blkid's BLOCK_SIZE where loops reads it (udf: the
	// logical block size the anchor was found at); 0 otherwise.
	BlockSize int64

	// Size is the size of what was probed; FSSize the size the superblock
	// claims (0 when unknown). FSSize > Size means a truncated image.
	Size   int64
	FSSize int64

	// Ambiguous lists the other filesystem signatures found beside Type.
	Ambiguous []string
	// Also lists filesystems present beside Type by design, not by
	// accident: the ISO 9660 tree of a UDF bridge disc. blkid calls such
	// a disc udf; --type iso9660 mounts the other tree.
	Also []string

	// Partitions are the entries of the partition table, each probed.
	Partitions []Partition
	// PTError is why the partition table could not be read, if it could not.
	PTError error
}

// Truncated reports whether the superblock claims more bytes than there are.
func (p *Result) Truncated() bool { return p.FSSize > p.Size }

// Options are the choices of Image and File.
type Options struct {
	// Part: what is probed is one part of a disk (a partition, or a range
	// given by an offset and a size), not a whole disk or image file: no
	// partition table is read in it, and firmware RAID metadata at its end
	// does not count (blkid does the same on a partition).
	Part bool
}

// File opens path read-only and probes it. A directory or a device is
// refused with ErrNotRegular. Like `blkid -p FILE`; needs read access only.
// Errors are *fs.PathError with Op "probe".
func File(path string, opts Options) (Result, error) {
	fail := func(err error) (Result, error) {
		return Result{}, &fs.PathError{Op: "probe", Path: path, Err: err}
	}
	f, err := kernfile.Open(path, os.O_RDONLY)
	if err != nil {
		return fail(unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return fail(unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return fail(notRegular(st.Mode()))
	}
	p, err := Image(f, st.Size(), opts)
	if err != nil {
		return fail(err)
	}
	return p, nil
}

// Image identifies the content of r, of the given size, as `blkid -p`
// does, with blkid's names, precedence and ambiguity rules: filesystems by
// their superblocks (with label, UUID, version and claimed size), RAID
// members, LVM physical volumes and other volumes (KindVolume), LUKS and
// BitLocker (KindCrypto), swap and hibernation images, VM disk images
// (KindDiskImage, by disk.Detect), and partition tables (whose partitions
// it probes in turn). An unknown format is not an error: Kind is
// KindUnknown. It returns an error only when r cannot be read. The first
// 68 KiB are read once, in one read. Needs read access only.
func Image(r io.ReaderAt, size int64, opts Options) (Result, error) {
	p, err := probe(newHeadCache(r, size), size, !opts.Part)
	if err != nil {
		return Result{}, err
	}
	return *p, nil
}

func probe(r io.ReaderAt, size int64, partitions bool) (*Result, error) {
	rd := &reader{r: r, size: size, whole: partitions, windows: true}
	res := runProbers(rd, size)
	if rd.err != nil {
		return nil, rd.err
	}
	if partitions && (res.Kind == KindUnknown || res.Kind == KindFilesystem) {
		pt, err := ReadPartitions(r, size)
		if rd.err == nil && pt != nil {
			res.PTType, res.PTUUID = pt.Type, pt.UUID
			if res.Kind == KindUnknown {
				res.Kind = KindPartitionTable
			}
			for _, part := range pt.Partitions {
				if part.Start < size {
					n := part.Size
					if part.Start+n > size {
						n = size - part.Start
					}
					fs, perr := probe(io.NewSectionReader(r, part.Start, n), n, false)
					if perr != nil {
						return nil, perr
					}
					if part.Start+part.Size > size {
						fs.Size = n
						if fs.FSSize == 0 {
							fs.FSSize = part.Size
						}
					}
					part.FS = fs
				}
				res.Partitions = append(res.Partitions, part)
			}
		} else if err != nil && res.Kind == KindUnknown {
			res.PTError = err
		}
	}
	return res, nil
}
