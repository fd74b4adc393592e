package probe

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"
)

// The rarer types blkid names (libblkid befs.c, bfs.c, hpfs.c, vxfs.c,
// zonefs.c, netware.c, scoutfs.c, ubifs.c, mpool.c): filesystems Linux
// seldom mounts, or mounts only on special devices. Their containers (ubi,
// vdo, drbd, ceph_bluestore, cs_fvault2...) are in volumes.go.

// castagnoli is the CRC-32C table, made at the first use: making it at
// start would cost every program that links the prober (the CLI does).
var castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

// rawCRC is util-linux's ul_crc32 and crc32c: the table CRC from seed,
// without the final inversion.
func rawCRC(tab *crc32.Table, seed uint32, b []byte) uint32 {
	return ^crc32.Update(^seed, tab, b)
}

// probeBFS: the SCO UnixWare boot filesystem, magic 0x1BADFACE at 0.
func probeBFS(rd *reader, p *Result) bool {
	if !rd.has(0, "\xce\xfa\xad\x1b") {
		return false
	}
	p.Type, p.Kind = "bfs", KindFilesystem
	return true
}

// probeHPFS: OS/2's HPFS, its superblock at 8 KiB, the spare superblock
// after it, the label and serial in the boot block.
func probeHPFS(rd *reader, p *Result) bool {
	sb := rd.at(0x2000, 9)
	if sb == nil || string(sb[:4]) != "\x49\xe8\x95\xf9" {
		return false
	}
	if !rd.has(0x2200, "\x49\x18\x91\xf9") {
		return false
	}
	b := rd.at(0, 512)
	if b == nil {
		return false
	}
	if string(b[510:512]) == "\x55\xaa" && string(b[54:58]) == "HPFS" && b[38] == 0x28 {
		p.Label = blkLabel(b[43:54])
		p.UUID = fmt.Sprintf("%02X%02X-%02X%02X", b[42], b[41], b[40], b[39])
	}
	p.Type, p.Kind = "hpfs", KindFilesystem
	p.Version = fmt.Sprint(sb[8])
	return true
}

// probeVxFS: Veritas VxFS, little-endian at 1 KiB or big-endian at 8 KiB.
func probeVxFS(rd *reader, p *Result) bool {
	var order binary.ByteOrder
	var sb []byte
	if b := rd.at(1024, 8); b != nil && string(b[:4]) == "\xf5\xfc\x01\xa5" {
		order, sb = binary.LittleEndian, b
	} else if b := rd.at(8192, 8); b != nil && string(b[:4]) == "\xa5\x01\xfc\xf5" {
		order, sb = binary.BigEndian, b
	} else {
		return false
	}
	p.Type, p.Kind = "vxfs", KindFilesystem
	p.Version = fmt.Sprint(order.Uint32(sb[4:]))
	return true
}

// probeZonefs: zonefs (one file per zone of a zoned device), its
// superblock at 0 with a CRC-32 over the 4 KiB block, the CRC field as
// zeros.
func probeZonefs(rd *reader, p *Result) bool {
	sb := rd.at(0, 4096)
	if sb == nil || string(sb[:4]) != "SFOZ" {
		return false
	}
	crc := rawCRC(crc32.IEEETable, ^uint32(0), sb[:4])
	crc = rawCRC(crc32.IEEETable, crc, []byte{0, 0, 0, 0})
	crc = rawCRC(crc32.IEEETable, crc, sb[8:])
	if crc != le32(sb, 4) {
		return false
	}
	p.Type, p.Kind = "zonefs", KindFilesystem
	if sb[8] != 0 {
		p.Label = blkLabel(sb[8:40])
	}
	p.UUID = uuidString(sb[40:56])
	return true
}

// probeNSS: Novell Storage Services (blkid's netware.c), "SPB5" at 4 KiB.
func probeNSS(rd *reader, p *Result) bool {
	sb := rd.at(4096, 364)
	if sb == nil || string(sb[:4]) != "SPB5" {
		return false
	}
	p.Type, p.Kind = "nss", KindFilesystem
	p.UUID = uuidString(sb[348:364])
	p.Version = fmt.Sprintf("%d.%02d", le16(sb, 8), le16(sb, 10))
	return true
}

// scoutfs's superblock: a 4 KiB block at 64 KiB with a crc32c; a flag
// tells the metadata device from the data device.
func scoutfsSuper(rd *reader, p *Result, meta bool) bool {
	b := rd.at(64<<10, 4096)
	if b == nil || string(b[4:8]) != "\x8b\x42\x3c\x10" {
		return false
	}
	if rawCRC(castagnoli(), ^uint32(0), b[4:]) != le32(b, 0) {
		return false
	}
	if isMeta := le64(b, 48)&1 != 0; isMeta != meta {
		return false
	}
	p.Type, p.Kind = "scoutfs_data", KindFilesystem
	if meta {
		p.Type = "scoutfs_meta"
	}
	p.Version = fmt.Sprint(le64(b, 40))
	p.UUID = uuidString(b[56:72])
	return true
}

func probeScoutfsMeta(rd *reader, p *Result) bool { return scoutfsSuper(rd, p, true) }
func probeScoutfsData(rd *reader, p *Result) bool { return scoutfsSuper(rd, p, false) }

// probeUBIFS: a UBIFS superblock node (UBIFS lives in a UBI volume; an
// image of one, as mkfs.ubifs writes it), CRC-32 from its sequence number.
func probeUBIFS(rd *reader, p *Result) bool {
	sb := rd.at(0, 4096)
	if sb == nil || string(sb[:4]) != "\x31\x18\x10\x06" {
		return false
	}
	if rawCRC(crc32.IEEETable, ^uint32(0), sb[8:]) != le32(sb, 4) {
		return false
	}
	p.Type, p.Kind = "ubifs", KindFilesystem
	p.UUID = uuidString(sb[108:124])
	p.Version = fmt.Sprintf("w%dr%d", le32(sb, 80), le32(sb, 124))
	p.FSSize = claimed(mul(uint64(le32(sb, 36)), uint64(le32(sb, 40))))
	return true
}

// befs: the BeOS/Haiku filesystem; the superblock's name field starts at
// 0 or 512, its three magics, byte order and block size checked.
const (
	befsMagic1     = 0x42465331
	befsMagic2     = 0xdd121031
	befsMagic3     = 0x15b6830e
	befsEndian     = 0x42494745
	befsInodeMagic = 0x3bbe0ad9
	befsUint64Type = 0x554c4c47
	befsKey        = "be:volume_id"
)

func probeBeFS(rd *reader, p *Result) bool {
	for _, at := range []int64{0, 512} {
		sb := rd.at(at, 132)
		if sb == nil {
			return false
		}
		var order binary.ByteOrder
		for _, o := range []binary.ByteOrder{binary.LittleEndian, binary.BigEndian} {
			if o.Uint32(sb[32:]) == befsMagic1 && o.Uint32(sb[68:]) == befsMagic2 &&
				o.Uint32(sb[112:]) == befsMagic3 && o.Uint32(sb[36:]) == befsEndian {
				order = o
			}
		}
		if order == nil {
			continue
		}
		return befsInfo(rd, p, sb, order)
	}
	return false
}

// befsInfo checks the block size and the root directory's inode, and takes
// the volume id from the root's small data (blkid also looks in the
// attribute directory's B+tree; loops does not, and gives no UUID then).
func befsInfo(rd *reader, p *Result, sb []byte, o binary.ByteOrder) bool {
	bsize, bshift := o.Uint32(sb[40:]), o.Uint32(sb[44:])
	agShift := o.Uint32(sb[76:])
	if bshift < 10 || bshift > 13 || bsize != 1<<bshift || uint64(agShift)+uint64(bshift) >= 64 {
		return false
	}
	run := sb[116:124] // root_dir: allocation group, start, len
	ag, start, n := uint64(o.Uint32(run)), uint64(o.Uint16(run[4:])), uint64(o.Uint16(run[6:]))
	off := ag<<agShift<<bshift + start<<bshift
	const inodeHead = 232          // struct befs_inode without its small data
	size := min(n<<bshift, 64<<10) // the small data read is bounded
	if off > 1<<62 || size < inodeHead {
		return false
	}
	in := rd.at(int64(off), int(size))
	if in == nil || o.Uint32(in) != befsInodeMagic {
		return false
	}
	total := min(size-inodeHead, uint64(o.Uint32(in[64:])))
	var id uint64
	for sd := uint64(0); sd+8 <= total; {
		e := in[inodeHead+sd:]
		typ, nameLen, dataLen := o.Uint32(e), uint64(o.Uint16(e[4:])), uint64(o.Uint16(e[6:]))
		n := 8 + nameLen + 3 + dataLen + 1
		if sd+n > total {
			break
		}
		if typ == befsUint64Type && nameLen == uint64(len(befsKey)) && dataLen == 8 && string(e[8:8+nameLen]) == befsKey {
			id = o.Uint64(e[8+nameLen+3:])
			break
		}
		if typ == 0 && nameLen == 0 && dataLen == 0 {
			break
		}
		sd += n
	}
	if attr := in[52:60]; id == 0 && !allZero(attr) {
		// blkid then reads the attribute directory's inode, which must
		// be one.
		aoff := uint64(o.Uint32(attr))<<agShift<<bshift + uint64(o.Uint16(attr[4:]))<<bshift
		a := rd.at(int64(min(aoff, 1<<62)), 4)
		if a == nil || o.Uint32(a) != befsInodeMagic {
			return false
		}
	}
	p.Type, p.Kind = "befs", KindFilesystem
	if sb[0] != 0 {
		p.Label = blkLabel(sb[0:32])
	}
	p.Version = "little-endian"
	if o == binary.BigEndian {
		p.Version = "big-endian"
	}
	if id != 0 {
		p.UUID = fmt.Sprintf("%016x", id)
	}
	return true
}
