package probe

import (
	"io"
	"strings"
	"unicode/utf16"
)

// usage is what blkid calls a prober's usage: a RAID member or a crypto
// volume found first ends the probing (it wins over any filesystem
// signature in the data it holds); the others are compared for ambiguity.
type usage int

const (
	usageFS usage = iota
	usageRAID
	usageCrypto
	usageOther
	// usageDisk: a VM disk image (qcow2, vmdk, vhdx, vdi, vpc), which blkid
	// does not know; found first, it ends the probing: what its virtual
	// disk holds is probed through package disk.
	usageDisk
)

type prober struct {
	name string
	fn   func(*reader, *Result) bool
	use  usage
	// tolerant probers (udf, iso9660, hfs) may coexist with one another
	// without an ambiguity: a UDF bridge disc, a hybrid ISO/HFS disc.
	tolerant bool
	minsz    int64 // blkid skips the prober on smaller devices
	// lastResort probers count only where no other prober matched: they
	// never outrank, nor make ambiguous, a signature found elsewhere.
	lastResort bool
}

// probers in blkid's order (libblkid's superblocks.c idinfos[]): RAID
// members and volumes first, then BitLocker before FAT, swsuspend before
// swap, UDF before ISO 9660... Disk images, which blkid does not know, come
// first of all.
var probers = []prober{
	{name: "disk_image", fn: probeDiskImage, use: usageDisk},
	{name: "linux_raid_member", fn: probeLinuxRAID, use: usageRAID},
	{name: "ddf_raid_member", fn: probeDDF, use: usageRAID},
	{name: "isw_raid_member", fn: probeISW, use: usageRAID},
	{name: "lsi_mega_raid_member", fn: probeLSI, use: usageRAID},
	{name: "via_raid_member", fn: probeVIA, use: usageRAID},
	{name: "silicon_medley_raid_member", fn: probeSilicon, use: usageRAID},
	{name: "nvidia_raid_member", fn: probeNvidia, use: usageRAID},
	{name: "promise_fasttrack_raid_member", fn: probePromise, use: usageRAID},
	{name: "hpt45x_raid_member", fn: probeHPT45x, use: usageRAID},
	{name: "hpt37x_raid_member", fn: probeHPT37x, use: usageRAID},
	{name: "adaptec_raid_member", fn: probeAdaptec, use: usageRAID},
	{name: "jmicron_raid_member", fn: probeJMicron, use: usageRAID},
	{name: "bcache", fn: probeBcache, use: usageOther, minsz: 8192},
	{name: "ceph_bluestore", fn: probeBluestore, use: usageOther},
	{name: "drbd", fn: probeDRBD, use: usageRAID, minsz: 0x10000},
	{name: "drbdmanage_control_volume", fn: probeDRBDManage, use: usageOther, minsz: 64 << 10},
	{name: "LVM2_member", fn: probeLVM2, use: usageRAID},
	{name: "crypto_LUKS", fn: probeLUKS, use: usageCrypto},
	{name: "VMFS_volume_member", fn: probeVMFSVolume, use: usageRAID},
	{name: "ubi", fn: probeUBI, use: usageRAID},
	{name: "vdo", fn: probeVDO, use: usageOther},
	{name: "BitLocker", fn: probeBitLocker, use: usageCrypto},
	{name: "cs_fvault2", fn: probeFVault2, use: usageCrypto},
	{name: "vfat", fn: probeFAT},
	{name: "swsuspend", fn: probeSwsuspend, use: usageOther, minsz: 10 * 4096},
	{name: "swap", fn: probeSwap, use: usageOther, minsz: 10 * 4096},
	{name: "xfs", fn: probeXFS},
	{name: "xfs_external_log", fn: probeXFSLog, use: usageOther, minsz: 10 << 20},
	{name: "ext", fn: probeExt},
	{name: "reiserfs", fn: probeReiser, minsz: 128 << 10},
	{name: "jfs", fn: probeJFS, minsz: 16 << 20},
	{name: "udf", fn: probeUDF, tolerant: true},
	{name: "iso9660", fn: probeISO, tolerant: true},
	{name: "zfs_member", fn: probeZFS, use: usageOther, minsz: 64 << 20},
	{name: "hfsplus", fn: probeHFSPlus},
	{name: "hfs", fn: probeHFS, tolerant: true},
	{name: "ufs", fn: probeUFS},
	{name: "hpfs", fn: probeHPFS},
	{name: "ntfs", fn: probeNTFS},
	{name: "cramfs", fn: probeCramfs},
	{name: "romfs", fn: probeRomfs},
	{name: "scoutfs_meta", fn: probeScoutfsMeta, minsz: 0x20000},
	{name: "scoutfs_data", fn: probeScoutfsData, minsz: 0x20000},
	{name: "minix", fn: probeMinix},
	{name: "gfs2", fn: probeGFS2, minsz: 32 << 20},
	{name: "ocfs2", fn: probeOCFS2, minsz: 14000 << 10},
	{name: "vxfs", fn: probeVxFS},
	{name: "squashfs", fn: probeSquashfs},
	{name: "nss", fn: probeNSS},
	{name: "btrfs", fn: probeBtrfs},
	{name: "ubifs", fn: probeUBIFS},
	{name: "bfs", fn: probeBFS},
	{name: "VMFS", fn: probeVMFS},
	{name: "befs", fn: probeBeFS, minsz: 1440 << 10},
	{name: "nilfs2", fn: probeNILFS2, minsz: 1 << 20},
	{name: "exfat", fn: probeExFAT},
	{name: "f2fs", fn: probeF2FS},
	{name: "mpool", fn: probeMpool},
	{name: "bcachefs", fn: probeBcachefs},
	{name: "apfs", fn: probeAPFS},
	{name: "zonefs", fn: probeZonefs},
	{name: "erofs", fn: probeErofs},
	{name: "crypto_LUKS (secondary header)", fn: probeLUKS2Secondary, lastResort: true},
}

// runProbers runs the probers as blkid's safe probing does: the first
// match is the result; a RAID member or crypto volume found first ends it;
// any further match makes the result ambiguous, except between tolerant
// types (a UDF bridge disc's ISO 9660 tree goes to Also). (blkid takes
// the first match without a word on images of a floppy's size; loops
// still reports the other signatures there: it acts on the type.)
func runProbers(rd *reader, size int64) *Result {
	res := &Result{Kind: KindUnknown, Size: size}
	if size <= 1024 {
		return res // blkid ignores such tiny files
	}
	var first *prober
	floppy := size <= 1440<<10
	for i := range probers {
		p := &probers[i]
		if p.minsz > size || p.use == usageRAID && floppy {
			continue // too small; no RAID on floppies (as blkid)
		}
		if p.lastResort && first != nil {
			continue
		}
		cand := Result{Kind: KindUnknown, Size: size}
		if !p.fn(rd, &cand) || rd.err != nil {
			continue
		}
		if first == nil {
			*res, first = cand, p
			if p.use == usageRAID || p.use == usageCrypto || p.use == usageDisk {
				break
			}
			continue
		}
		if first.tolerant && p.tolerant {
			res.Also = append(res.Also, cand.Type)
		} else {
			res.Ambiguous = append(res.Ambiguous, cand.Type)
		}
	}
	return res
}

// reader reads bounded ranges, remembering the first real I/O error. It
// reads the first headWindow bytes of the image, and the last tailWindow
// bytes (RAID signatures, backup superblocks), once each: probing reads
// dozens of small pieces, and a pread each would cost more than blkid.
type reader struct {
	r     io.ReaderAt
	size  int64
	err   error
	whole bool // a whole image, not a partition: firmware RAID metadata counts
	// windows: read the head and tail windows once and serve reads from
	// them (Probe); without, each read is a pread (ReadPartitions).
	windows bool

	head, tail         []byte
	headDone, tailDone bool
	tailOff            int64

	pt     *PartitionTable // read on first need, by coveredByPT
	ptDone bool
}

// coveredByPT tells whether [off, off+n) lies inside a partition of the
// image's partition table, as blkid's blkid_probe_is_covered_by_pt: an md
// 0.90 superblock or a ZFS label found there on the whole disk belongs to
// the partition, not to the disk. A table that does not fit the image
// covers nothing.
func (rd *reader) coveredByPT(off, n int64) bool {
	if !rd.whole {
		return false
	}
	if !rd.ptDone {
		rd.ptDone = true
		rd.pt, _ = ReadPartitions(rd.r, rd.size)
	}
	if rd.pt == nil {
		return false
	}
	for _, p := range rd.pt.Partitions {
		if p.Start/512+p.Size/512 > rd.size/512 {
			return false
		}
	}
	start, end := off/512, (off+n)/512
	for _, p := range rd.pt.Partitions {
		if start >= p.Start/512 && end <= p.Start/512+p.Size/512 {
			return true
		}
	}
	return false
}

const (
	headWindow = 256 << 10 // every superblock near the start, the xfs log scan
	tailWindow = 192 << 10 // md 0.90 (up to 128 KiB from the end), DDF, isw
)

func (rd *reader) load(off, n int64) []byte {
	b := make([]byte, n)
	got, err := rd.r.ReadAt(b, off)
	if int64(got) < n {
		if err != nil && err != io.EOF {
			rd.err = err
		}
		return nil
	}
	return b
}

// at returns n bytes at off, or nil when they lie (partly) past the end.
// The bytes may be shared with later calls: callers must not modify them.
func (rd *reader) at(off int64, n int) []byte {
	if off < 0 || n < 0 || off > rd.size || int64(n) > rd.size-off || rd.err != nil {
		return nil
	}
	end := off + int64(n)
	if !rd.windows {
		return rd.load(off, int64(n))
	}
	if end <= min(rd.size, headWindow) {
		if !rd.headDone {
			rd.headDone = true
			rd.head = rd.load(0, min(rd.size, headWindow))
		}
		if rd.head != nil {
			return rd.head[off:end:end]
		}
	}
	if t := max(0, rd.size-tailWindow); off >= t && rd.size > headWindow {
		if !rd.tailDone {
			rd.tailDone = true
			rd.tailOff = t
			rd.tail = rd.load(t, rd.size-t)
		}
		if rd.tail != nil {
			return rd.tail[off-rd.tailOff : end-rd.tailOff : end-rd.tailOff]
		}
	}
	if rd.err != nil {
		return nil
	}
	return rd.load(off, int64(n))
}

// atInto is at for a piece the caller is done with before its next
// atInto: a piece outside both windows is read into buf (len(buf) bytes)
// instead of a fresh slice, so a prober that scans several such pieces
// (ZFS's uberblock rings, 128 KiB each) faults in one buffer's pages, not
// one per piece.
func (rd *reader) atInto(buf []byte, off int64) []byte {
	n := int64(len(buf))
	if off < 0 || off > rd.size || n > rd.size-off || rd.err != nil {
		return nil
	}
	inHead := off+n <= min(rd.size, headWindow)
	inTail := off >= max(0, rd.size-tailWindow) && rd.size > headWindow
	if !rd.windows || inHead || inTail {
		return rd.at(off, len(buf))
	}
	got, err := rd.r.ReadAt(buf, off)
	if int64(got) < n {
		if err != nil && err != io.EOF {
			rd.err = err
		}
		return nil
	}
	return buf
}

// blkLabel is a label as blkid's set_label keeps it: the bytes up to the
// first NUL, trailing whitespace cut, invalid UTF-8 kept as is.
func blkLabel(b []byte) string {
	return strings.TrimRight(cstr(b), " \t\n\v\f\r")
}

// utf16Label decodes UTF-16 (LE or BE) up to the first NUL, as blkid's
// set_utf8label, trailing whitespace cut.
func utf16Label(b []byte, bigEndian bool) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i]) | uint16(b[i+1])<<8
		if bigEndian {
			c = uint16(b[i])<<8 | uint16(b[i+1])
		}
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.TrimRight(string(utf16.Decode(u)), " \t\n\v\f\r")
}

func latin1Label(b []byte) string {
	var sb strings.Builder
	for _, c := range b {
		if c == 0 {
			break
		}
		sb.WriteRune(rune(c))
	}
	return strings.TrimRight(sb.String(), " \t\n\v\f\r")
}
