package probe

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Volumes, RAID members and encrypted containers: what holds filesystems
// rather than being one (libblkid linux_raid.c, lvm.c, luks.c, bcache.c,
// bitlocker.c, vmfs.c, apfs.c, zfs.c, isw_raid.c, ddf_raid.c).

func volume(p *Result, typ string) bool {
	p.Type, p.Kind = typ, KindVolume
	return true
}

const mdReserved = 0x10000

// probeLinuxRAID finds an md superblock: 0.90 and 1.0 near the end, 1.1
// at the start, 1.2 at 4 KiB.
func probeLinuxRAID(rd *reader, p *Result) bool {
	if rd.size > mdReserved {
		if mdRAID0(rd, p, (rd.size&^(mdReserved-1))-mdReserved) {
			return volume(p, "linux_raid_member")
		}
		if mdRAID1(rd, p, (rd.size&^0xFFF)-0x2000) {
			p.Version = "1.0"
			return volume(p, "linux_raid_member")
		}
	}
	if mdRAID1(rd, p, 0) {
		p.Version = "1.1"
		return volume(p, "linux_raid_member")
	}
	if mdRAID1(rd, p, 0x1000) {
		p.Version = "1.2"
		return volume(p, "linux_raid_member")
	}
	return false
}

func mdRAID0(rd *reader, p *Result, off int64) bool {
	if rd.size < mdReserved {
		return false
	}
	b := rd.at(off, 64)
	if b == nil {
		return false
	}
	var order binary.ByteOrder
	switch {
	case le32(b, 0) == 0xa92b4efc:
		order = binary.LittleEndian
	case be32(b, 0) == 0xa92b4efc:
		order = binary.BigEndian
	default:
		return false
	}
	ma, mi, pa := order.Uint32(b[4:]), order.Uint32(b[8:]), order.Uint32(b[12:])
	size := uint64(order.Uint32(b[32:])) << 10
	if uint64(rd.size) < size+mdReserved || uint64(off) < size {
		return false
	}
	if rd.coveredByPT(off-int64(size), int64(size)+mdReserved) {
		return false // the superblock of a partition that ends there
	}
	// The set UUID's four words, as blkid prints them: big-endian.
	var u [16]byte
	words := []int{20, 52, 56, 60}
	if mi < 90 {
		words = words[:1]
	}
	for i, w := range words {
		binary.BigEndian.PutUint32(u[4*i:], order.Uint32(b[w:]))
	}
	p.UUID = uuidString(u[:])
	p.Version = fmt.Sprintf("%d.%d.%d", ma, mi, pa)
	return true
}

func mdRAID1(rd *reader, p *Result, off int64) bool {
	b := rd.at(off, 256)
	if b == nil || le32(b, 0) != 0xa92b4efc || le32(b, 4) != 1 || le64(b, 144) != uint64(off)>>9 {
		return false
	}
	p.UUID = uuidString(b[16:32])
	p.Label = blkLabel(b[32:64])
	return true
}

// lvm2CRC is LVM2's label checksum (a CRC-32 without final inversion,
// seeded with 0xf597a6cf).
func lvm2CRC(b []byte) uint32 {
	return ^crc32.Update(^uint32(0xf597a6cf), crc32.IEEETable, b)
}

func probeLVM2(rd *reader, p *Result) bool {
	for _, kb := range []int64{0, 1} {
		buf := rd.at(kb<<10, 512+64)
		if buf == nil {
			continue
		}
		sector := uint64(kb * 2)
		var l []byte
		switch {
		case string(buf[0:8]) == "LABELONE" && string(buf[24:32]) == "LVM2 001":
			l = buf[:512]
		case string(buf[512:520]) == "LABELONE" && string(buf[512+24:512+32]) == "LVM2 001":
			buf = rd.at(kb<<10+512, 512)
			if buf == nil {
				continue
			}
			l = buf
			sector++
		default:
			continue
		}
		if le64(l, 8) != sector || lvm2CRC(l[20:512]) != le32(l, 16) {
			continue
		}
		u := string(l[32:64])
		p.UUID = u[0:6] + "-" + u[6:10] + "-" + u[10:14] + "-" + u[14:18] + "-" + u[18:22] + "-" + u[22:26] + "-" + u[26:32]
		p.Version = "LVM2 001"
		return volume(p, "LVM2_member")
	}
	return false
}

var luks2Secondary = []int64{0x4000, 0x8000, 0x10000, 0x20000, 0x40000, 0x80000, 0x100000, 0x200000, 0x400000}

// luksValid is libblkid's luks_valid: the magic, and for LUKS2 the
// header's own offset (hdr_offset) where it was found.
func luksValid(b []byte, magic string, off int64) bool {
	if string(b[0:6]) != magic {
		return false
	}
	return binary.BigEndian.Uint16(b[6:]) != 2 || be64(b, 256) == uint64(off)
}

// probeLUKS finds a LUKS header in its primary place, at 0.
func probeLUKS(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil || !luksValid(b, "LUKS\xba\xbe", 0) {
		return false
	}
	luksInfo(b, p)
	return true
}

// probeLUKS2Secondary finds a LUKS2 secondary header alone (the primary
// wiped or overwritten). blkid -p does not look for it at all; loops does,
// but as the last prober and only where no other signature was found: a
// secondary header left inside a swap area or a filesystem never outranks
// the valid signature in its primary place.
func probeLUKS2Secondary(rd *reader, p *Result) bool {
	for _, off := range luks2Secondary {
		h := rd.at(off, 512)
		if h == nil {
			return false
		}
		if luksValid(h, "SKUL\xba\xbe", off) {
			luksInfo(h, p)
			return true
		}
	}
	return false
}

func luksInfo(b []byte, p *Result) {
	p.Type, p.Kind = "crypto_LUKS", KindCrypto
	v := binary.BigEndian.Uint16(b[6:])
	p.Version = fmt.Sprint(v)
	switch v {
	case 1:
		p.UUID = cstr(b[168:208])
	case 2:
		p.UUID = cstr(b[168:208])
		p.Label = blkLabel(b[24:72])
	}
}

func probeBcache(rd *reader, p *Result) bool {
	b := rd.at(4096, 56)
	if b == nil || string(b[24:40]) != bcacheMagic || le64(b, 8) != 8 {
		return false
	}
	p.UUID = uuidString(b[40:56])
	return volume(p, "bcache")
}

const (
	bcacheMagic   = "\xc6\x85\x73\xf6\x4e\x1a\x45\xca\x82\x65\xf5\x7f\x48\xba\x6d\x81"
	bcachefsMagic = "\xc6\x85\x73\xf6\x66\xce\x90\xa9\xd9\x6a\x60\xcf\x80\x3d\xf7\xef"
)

// probeBcachefs: a bcachefs superblock at 4 KiB (libblkid 2.39 and later;
// the blkid 2.38 of Debian 12 does not know it): either magic, the
// superblock's own offset (8 sectors), a device index below the count.
func probeBcachefs(rd *reader, p *Result) bool {
	b := rd.at(4096, 128)
	if b == nil {
		return false
	}
	if m := string(b[24:40]); m != bcachefsMagic && m != bcacheMagic {
		return false
	}
	if le64(b, 104) != 8 || b[123] == 0 || b[122] >= b[123] {
		return false
	}
	p.Type, p.Kind = "bcachefs", KindFilesystem
	p.UUID = uuidString(b[56:72])
	p.Label = blkLabel(b[72:104])
	v := le16(b, 16)
	p.Version = fmt.Sprintf("%d.%d", v>>10, v&0x3FF)
	return true
}

const (
	bdeVista = "\xeb\x52\x90-FVE-FS-"
	bdeWin7  = "\xeb\x58\x90-FVE-FS-"
	bdeToGo  = "\xeb\x58\x90MSWIN4.1"
)

// probeBitLocker: the BitLocker boot sector (blkid checks it before FAT,
// whose boot sector it mimics) and its FVE metadata block.
func probeBitLocker(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil {
		return false
	}
	var off uint64
	switch string(b[:11]) {
	case bdeVista:
		p.Type, p.Kind = "BitLocker", KindCrypto
		return true
	case bdeWin7:
		off = le64(b, 176)
	case bdeToGo:
		off = le64(b, 440)
	default:
		return false
	}
	if off == 0 || off > 1<<62 {
		return false
	}
	fve := rd.at(int64(off), 12)
	if fve == nil || string(fve[:8]) != "-FVE-FS-" {
		return false
	}
	p.Type, p.Kind = "BitLocker", KindCrypto
	if string(b[:11]) == bdeWin7 {
		if s := le32(b, 67); s != 0 {
			p.UUID = fmt.Sprintf("%016d", s)
		}
	}
	p.Version = fmt.Sprint(le16(fve, 10))
	return true
}

func vmfsUUID(u []byte) string {
	return fmt.Sprintf("%02x%02x%02x%02x-%02x%02x%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x",
		u[3], u[2], u[1], u[0], u[7], u[6], u[5], u[4], u[9], u[8], u[10], u[11], u[12], u[13], u[14], u[15])
}

func probeVMFS(rd *reader, p *Result) bool {
	b := rd.at(2<<20, 157)
	if b == nil || string(b[:4]) != "\x5e\xf1\xab\x2f" {
		return false
	}
	if !allZero(b[9:25]) {
		p.UUID = vmfsUUID(b[9:25])
	}
	p.Label = blkLabel(b[29:157])
	p.Version = fmt.Sprint(b[8])
	return volume(p, "VMFS")
}

func probeVMFSVolume(rd *reader, p *Result) bool {
	b := rd.at(1<<20, 146)
	if b == nil || string(b[:4]) != "\x0d\xd0\x01\xc0" {
		return false
	}
	p.Version = fmt.Sprint(le32(b, 4))
	if u := rd.at(1<<20+512+20, 35); u != nil {
		p.UUID = cstr(u)
	}
	return volume(p, "VMFS_volume_member")
}

func probeAPFS(rd *reader, p *Result) bool {
	b := rd.at(0, 88)
	if b == nil || string(b[32:36]) != "NXSB" || le16(b, 24) != 1 || le16(b, 28) != 0 || le16(b, 30) != 0 || le32(b, 36) != 4096 {
		return false
	}
	p.UUID = uuidString(b[72:88])
	return volume(p, "apfs")
}

// probeISW: Intel Matrix (IMSM) RAID metadata, two sectors from the end.
func probeISW(rd *reader, p *Result) bool {
	b := lastSector(rd, 2, 48)
	if b == nil || string(b[:24]) != "Intel Raid ISM Cfg Sig. " {
		return false
	}
	p.Version = cstr(b[24:30])
	return volume(p, "isw_raid_member")
}

// probeDDF: SNIA DDF RAID metadata in the last sector or 257 from the end.
func probeDDF(rd *reader, p *Result) bool {
	if rd.size < 0x30000 {
		return false
	}
	for _, h := range []int64{1, 257} {
		b := rd.at((rd.size/512-h)*512, 512)
		if b == nil {
			return false
		}
		var lba uint64
		switch {
		case be32(b, 0) == 0xDE11DE11:
			lba = be64(b, 96)
		case le32(b, 0) == 0xDE11DE11:
			lba = le64(b, 96)
		default:
			continue
		}
		if lba > 0 {
			if lba > 1<<54 {
				return false
			}
			m := rd.at(int64(lba)<<9, 4)
			if m == nil || string(m) != string(b[:4]) {
				return false
			}
		}
		p.UUID = cstr(b[8:32])
		p.Version = cstr(b[32:40])
		return volume(p, "ddf_raid_member")
	}
	return false
}

// ZFS: vdev labels (256 KiB) at 0, 256 KiB, and 512 and 256 KiB before
// the last 256 KiB boundary; each holds a ring of 128 uberblocks from 128
// KiB. blkid calls the device zfs_member when it counts four uberblocks,
// and reads the pool name (LABEL) and pool_guid (UUID) from the nvlist at
// 16 KiB into that label.
const (
	zfsUberMagic = 0x00bab10c
	zfsLabelSize = 256 << 10
)

func probeZFS(rd *reader, p *Result) bool {
	align := rd.size % zfsLabelSize
	offs := []int64{0, zfsLabelSize, rd.size - 2*zfsLabelSize - align, rd.size - zfsLabelSize - align}
	found := 0
	var version uint64
	var off int64
	var ring []byte // one buffer for the rings outside the reader's windows
	for _, off = range offs {
		if off < 0 || off+zfsLabelSize > rd.size {
			return false
		}
		if rd.coveredByPT(off, zfsLabelSize) {
			continue // a label of a partition's pool
		}
		if ring == nil {
			ring = make([]byte, 128<<10)
		}
		label := rd.atInto(ring, off+128<<10) // the uberblock ring
		if label == nil {
			return false
		}
		for i := 0; i+16 <= len(label); i += 1024 {
			switch {
			case le64(label, i) == zfsUberMagic:
				found++
				version = le64(label, i+8)
			case be64(label, i) == zfsUberMagic:
				found++
				version = be64(label, i+8)
			}
		}
		if found >= 4 {
			break
		}
	}
	if found < 4 {
		return false
	}
	p.Version = fmt.Sprint(version)
	zfsNVList(rd, p, off&^(zfsLabelSize-1)+16<<10)
	return volume(p, "zfs_member")
}

// zfsNVList walks the first 4 KiB of the XDR nvlist as blkid does: the
// top-level "name" string and "pool_guid" number; nested lists skipped.
func zfsNVList(rd *reader, p *Result, off int64) {
	b := rd.at(off, 4096)
	if b == nil {
		return
	}
	be := binary.BigEndian
	o, level := 12, 0
	for len(b)-o > 12 {
		size := int64(be.Uint32(b[o:]))
		if size == 0 {
			if level == 0 {
				return
			}
			level--
			o += 8
			continue
		}
		nameLen := int64(be.Uint32(b[o+8:]))
		nameSize := (nameLen + 3) &^ 3
		if size > int64(len(b)-o) || nameSize+12 > size {
			return
		}
		name := string(b[o+12 : o+12+int(nameLen)])
		val := b[o+12+int(nameSize) : o+int(size)]
		if len(val) >= 16 && be.Uint32(val) == 19 { // a nested nvlist
			level++
			o += 12 + int(nameSize) + 16
			continue
		}
		if level == 0 {
			switch {
			case name == "name" && len(val) >= 12 && be.Uint32(val) == 9:
				if n := int64(be.Uint32(val[8:])); n+12 <= int64(len(val)) {
					p.Label = blkLabel(val[12 : 12+n])
				}
			case name == "pool_guid" && len(val) >= 16 && be.Uint32(val) == 8:
				if g := be.Uint64(val[8:]); g != 0 {
					p.UUID = fmt.Sprint(g)
				}
			}
		}
		o += int(size)
	}
}

// probeBluestore: a Ceph BlueStore OSD data device.
func probeBluestore(rd *reader, p *Result) bool {
	return rd.has(0, "bluestore block device") && volume(p, "ceph_bluestore")
}

// probeDRBD: DRBD 8.4 or 9 internal metadata in the last 4 KiB (libblkid
// drbd.c): the magic, 4 KiB per bitmap bit, and zero padding to the end of
// the block. The data before it is the replicated device's.
func probeDRBD(rd *reader, p *Result) bool {
	if rd.size < 4096 {
		return false
	}
	b := rd.at(rd.size-4096, 4096)
	if b == nil || be32(b, 80) != 4096 {
		return false
	}
	var pad, uuid int
	switch string(b[60:64]) {
	case "\x83\x74\x02\x6b", "\x83\x74\x02\x6c":
		pad, uuid, p.Version = 100, 40, "v08"
	case "\x83\x74\x02\x6d":
		pad, uuid, p.Version = 1392, 48, "v09"
	default:
		return false
	}
	if !allZero(b[pad:]) {
		return false
	}
	if id := be64(b, uuid); id != 0 {
		p.UUID = fmt.Sprintf("%x", id)
	}
	return volume(p, "drbd")
}

// probeDRBDManage: drbdmanage's control volume: a magic, a hex UUID and a
// newline, and the persistence block at 4 KiB that gives the version.
func probeDRBDManage(rd *reader, p *Result) bool {
	b := rd.at(0, 44)
	if b == nil || string(b[:10]) != "$DRBDmgr=q" || b[43] != '\n' {
		return false
	}
	for _, c := range b[11:43] {
		if !isHex(c) {
			return false
		}
	}
	p.UUID = string(b[11:43])
	if v := rd.at(0x1000, 8); v != nil && string(v[:4]) == "\x1a\xdb\x98\xa2" {
		p.Version = fmt.Sprint(be32(v, 4))
	}
	return volume(p, "drbdmanage_control_volume")
}

// probeUBI: a UBI image (raw flash: erase counter headers, then volumes),
// the first erase counter header's CRC-32 checked.
func probeUBI(rd *reader, p *Result) bool {
	h := rd.at(0, 64)
	if h == nil || string(h[:4]) != "UBI#" || rawCRC(crc32.IEEETable, ^uint32(0), h[:60]) != be32(h, 60) {
		return false
	}
	p.Version = fmt.Sprint(h[4])
	if seq := be32(h, 24); seq != 0 {
		p.UUID = fmt.Sprint(seq)
	}
	return volume(p, "ubi")
}

// probeVDO: a VDO (deduplicating, compressing) volume's backing device.
func probeVDO(rd *reader, p *Result) bool {
	b := rd.at(0, 56)
	if b == nil || string(b[:8]) != "dmvdo001" {
		return false
	}
	p.UUID = uuidString(b[40:56])
	return volume(p, "vdo")
}

// probeFVault2: an Apple Core Storage physical volume encrypted with
// FileVault 2 (AES-XTS), its header's crc32c checked.
func probeFVault2(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[88:90]) != "CS" || le16(b, 8) != 1 || le32(b, 90) != 1 {
		return false
	}
	if rawCRC(castagnoli(), le32(b, 4), b[8:512]) != le32(b, 0) {
		return false
	}
	if le16(b, 10) != 0x10 || le32(b, 168) != 16 || le32(b, 172) != 2 {
		return false
	}
	p.Type, p.Kind = "cs_fvault2", KindCrypto
	p.Version = "1"
	p.UUID = uuidString(b[304:320])
	return true
}

// probeMpool: a Micron mpool media pool device (blkid calls it a
// filesystem; it holds an object store, not files), its crc32c checked.
func probeMpool(rd *reader, p *Result) bool {
	b := rd.at(0, 66)
	if b == nil || string(b[:8]) != "mpoolDev" {
		return false
	}
	if crc32.Checksum(b[:62], castagnoli()) != le32(b, 62) {
		return false
	}
	p.Label = blkLabel(b[8:40])
	p.UUID = uuidString(b[40:56])
	return volume(p, "mpool")
}
