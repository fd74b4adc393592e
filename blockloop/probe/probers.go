package probe

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
