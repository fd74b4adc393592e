package probe

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/loops-cli/loops/blockloop/disk"
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

func (rd *reader) has(off int64, magic string) bool {
	b := rd.at(off, len(magic))
	return b != nil && string(b) == magic
}

func le16(b []byte, o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
func le32(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
func le64(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
func be32(b []byte, o int) uint32 { return binary.BigEndian.Uint32(b[o:]) }
func be64(b []byte, o int) uint64 { return binary.BigEndian.Uint64(b[o:]) }

// cstr is a NUL-terminated (or full) string with invalid UTF-8 kept as is,
// as blkid does.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func uuidString(b []byte) string {
	if allZero(b) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// mul returns a*b, or -1 when that does not fit an int64.
func mul(a, b uint64) int64 {
	if a != 0 && b > (1<<63-1)/a {
		return -1
	}
	return int64(a * b)
}

func claimed(n int64) int64 {
	if n < 0 {
		return 1<<63 - 1
	}
	return n
}

func probeExt(rd *reader, p *Result) bool {
	sb := rd.at(1024, 1024)
	if sb == nil || le16(sb, 0x38) != 0xEF53 {
		return false
	}
	compat, incompat, rocompat := le32(sb, 0x5C), le32(sb, 0x60), le32(sb, 0x64)
	const (
		hasJournal  = 0x4
		journalDev  = 0x8
		ext3Incompt = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
		ext3RoCompt = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	)
	switch {
	case incompat&journalDev != 0:
		p.Type = "jbd"
	case incompat&^ext3Incompt != 0 || rocompat&^ext3RoCompt != 0:
		p.Type = "ext4"
	case compat&hasJournal != 0:
		p.Type = "ext3"
	default:
		p.Type = "ext2"
	}
	p.Kind = KindFilesystem
	p.Version = fmt.Sprintf("%d.%d", le32(sb, 0x4C), le16(sb, 0x3E))
	p.Label = cstr(sb[0x78 : 0x78+16])
	p.UUID = uuidString(sb[0x68 : 0x68+16])
	logBS := le32(sb, 0x18)
	if logBS < 7 {
		blocks := uint64(le32(sb, 0x04))
		if incompat&0x80 != 0 { // 64bit
			blocks |= uint64(le32(sb, 0x150)) << 32
		}
		p.FSSize = claimed(mul(blocks, 1024<<logBS))
	}
	return true
}

func probeXFS(rd *reader, p *Result) bool {
	sb := rd.at(0, 512)
	if sb == nil || string(sb[0:4]) != "XFSB" {
		return false
	}
	p.Type, p.Kind = "xfs", KindFilesystem
	p.UUID = uuidString(sb[32:48])
	p.Label = cstr(sb[108:120])
	p.FSSize = claimed(mul(be64(sb, 8), uint64(be32(sb, 4))))
	return true
}

func probeBtrfs(rd *reader, p *Result) bool {
	sb := rd.at(0x10000, 4096)
	if sb == nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return false
	}
	p.Type, p.Kind = "btrfs", KindFilesystem
	p.UUID = uuidString(sb[0x20:0x30])
	p.Label = cstr(sb[0x12B : 0x12B+256])
	p.FSSize = claimed(int64Of(le64(sb, 0x70)))
	return true
}

func int64Of(u uint64) int64 {
	if u > 1<<63-1 {
		return -1
	}
	return int64(u)
}

func probeSquashfs(rd *reader, p *Result) bool {
	sb := rd.at(0, 96)
	if sb == nil {
		return false
	}
	switch string(sb[0:4]) {
	case "hsqs":
		if le16(sb, 28) < 4 { // s_major: v3 and older are not mountable here
			p.Type = "squashfs3"
		} else {
			p.Type = "squashfs"
			p.Version = fmt.Sprintf("%d.%d", le16(sb, 28), le16(sb, 30))
			p.FSSize = claimed(int64Of(le64(sb, 40)))
		}
	case "sqsh":
		p.Type = "squashfs3"
	default:
		return false
	}
	p.Kind = KindFilesystem
	return true
}

// erofsMagic is EROFS_SUPER_MAGIC_V1 (0xE0F5E1E2) as stored, at 1 KiB.
const erofsMagic = "\xe2\xe1\xf5\xe0"

func probeErofs(rd *reader, p *Result) bool {
	sb := rd.at(1024, 128)
	if sb == nil || string(sb[:4]) != erofsMagic {
		return false
	}
	p.Type, p.Kind = "erofs", KindFilesystem
	p.UUID = uuidString(sb[48:64])
	p.Label = cstr(sb[64:80])
	if bits := sb[12]; bits >= 9 && bits <= 16 {
		p.FSSize = claimed(mul(uint64(le32(sb, 36)), 1<<bits))
	}
	return true
}

func isoDate(b []byte) string {
	for _, c := range b[:16] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if string(b[:16]) == "0000000000000000" {
		return ""
	}
	s := string(b[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", s[0:4], s[4:6], s[6:8], s[8:10], s[10:12], s[12:14], s[14:16])
}

// diskHead is how much of the start disk.Detect looks at (a vmdk
// descriptor is text; the binary formats need 8 to 68 bytes).
const diskHead = 4096

// probeDiskImage names a VM disk image by its magic, as disk.Detect does
// (the one place that knows the formats' magics).
func probeDiskImage(rd *reader, p *Result) bool {
	b := rd.at(0, int(min(rd.size, diskHead)))
	if b == nil {
		return false
	}
	typ := disk.Detect(b)
	if typ == "" {
		return false
	}
	p.Type, p.Kind = typ, KindDiskImage
	return true
}
