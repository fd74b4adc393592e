package probe

import (
	"crypto/md5"
	"encoding/binary"
	"fmt"
	"hash/crc32"
)

// Linux and Unix filesystems and swap (libblkid ext.c, xfs.c, btrfs.c,
// squashfs.c, erofs.c, swap.c, reiserfs.c, jfs.c, hfs.c, ufs.c, cramfs.c,
// romfs.c, minix.c, gfs.c, ocfs.c, nilfs.c, f2fs.c).

const toiMagic = "\xed\xc3\x02\xe9\x98\x56\xe5\x0c"

// swapMagic finds the swap or suspend signature in the last 10 bytes of
// the first page, for pages of 4 to 64 KiB.
func swapMagic(rd *reader, magics ...string) string {
	for _, ps := range []int64{4096, 8192, 16384, 32768, 65536} {
		m := rd.at(ps-10, 10)
		if m == nil {
			continue
		}
		for _, want := range magics {
			if string(m[:len(want)]) == want {
				return want
			}
		}
	}
	return ""
}

// swapInfo reads the swap header's label and UUID (v1), as blkid's
// swap_set_info; false when a SWAPSPACE2 header is invalid.
func swapInfo(rd *reader, p *Result, version string) bool {
	h := rd.at(1024, 1204-1024)
	if h == nil {
		return false
	}
	if version == "1" {
		if v := le32(h, 0); v != 1 && be32(h, 0) != 1 {
			return false
		}
		if le32(h, 4) == 0 {
			return false
		}
	}
	if le32(h, 172) == 0 && le32(h, 176) == 0 {
		p.Label = blkLabel(h[28:44])
		p.UUID = uuidString(h[12:28])
	}
	p.Version = version
	return true
}

func probeSwap(rd *reader, p *Result) bool {
	m := swapMagic(rd, "SWAP-SPACE", "SWAPSPACE2")
	if m == "" || rd.has(0, toiMagic) {
		return false // TuxOnIce keeps a valid swap header: swsuspend
	}
	p.Type, p.Kind = "swap", KindSwap
	if m == "SWAP-SPACE" {
		p.Version = "0"
		return true
	}
	return swapInfo(rd, p, "1")
}

// probeSwsuspend: a hibernation image in swap space (blkid checks it
// before swap): TuxOnIce at 0, or the kernel's and uswsusp's signatures.
func probeSwsuspend(rd *reader, p *Result) bool {
	var v string
	if rd.has(0, toiMagic) {
		v = "tuxonice"
	} else {
		switch swapMagic(rd, "S1SUSPEND", "S2SUSPEND", "ULSUSPEND", "LINHIB0001") {
		case "S1SUSPEND":
			v = "s1suspend"
		case "S2SUSPEND":
			v = "s2suspend"
		case "ULSUSPEND":
			v = "ulsuspend"
		case "LINHIB0001":
			v = "linhib0001"
		default:
			return false
		}
	}
	p.Type, p.Kind = "swsuspend", KindSwap
	return swapInfo(rd, p, v)
}

// probeXFSLog: an external XFS log (a log record header in the first 256
// KiB, and no XFS superblock before it).
func probeXFSLog(rd *reader, p *Result) bool {
	b := rd.at(0, 256<<10)
	if b == nil {
		return false
	}
	for i := 0; i < 512; i++ {
		h := b[i*512 : i*512+512]
		if string(h[:4]) == "XFSB" {
			return false
		}
		if be32(h, 0) != 0xFEEDBABE {
			continue
		}
		v, l, f := be32(h, 8), be32(h, 12), be32(h, 300)
		if v == 0 || v&^3 != 0 || l == 0 || l > 1<<31-1 || f < 1 || f > 3 {
			continue
		}
		p.Type, p.Kind = "xfs_external_log", KindFilesystem
		return true
	}
	return false
}

func probeReiser(rd *reader, p *Result) bool {
	for _, m := range []struct {
		kb    int64
		off   int
		magic string
	}{{8, 0x34, "ReIsErFs"}, {64, 0x34, "ReIsEr2Fs"}, {64, 0x34, "ReIsEr3Fs"}, {64, 0x34, "ReIsErFs"}, {8, 20, "ReIsErFs"}} {
		sb := rd.at(m.kb<<10, 116)
		if sb == nil || string(sb[m.off:m.off+len(m.magic)]) != m.magic {
			continue
		}
		bs := uint32(le16(sb, 44))
		if bs>>9 == 0 || uint32(m.kb)/(bs>>9) > le32(sb, 12)/2 {
			return false
		}
		switch m.magic[6] {
		case '2', '3':
			p.Label = blkLabel(sb[100:116])
			p.UUID = uuidString(sb[84:100])
			p.Version = "3.6"
			if m.magic[6] == '3' {
				p.Version = "JR"
			}
		default:
			p.Version = "3.5"
		}
		p.Type, p.Kind = "reiserfs", KindFilesystem
		p.FSSize = claimed(mul(uint64(le32(sb, 0)), uint64(bs)))
		return true
	}
	if sb := rd.at(64<<10, 52); sb != nil && string(sb[:7]) == "ReIsEr4" {
		p.Type, p.Kind, p.Version = "reiser4", KindFilesystem, "4"
		p.Label = blkLabel(sb[36:52])
		p.UUID = uuidString(sb[20:36])
		return true
	}
	return false
}

func probeJFS(rd *reader, p *Result) bool {
	sb := rd.at(32<<10, 184)
	if sb == nil || string(sb[:4]) != "JFS1" {
		return false
	}
	l2b, l2pb := le16(sb, 20), le16(sb, 28)
	if l2b >= 32 || l2pb >= 32 || le32(sb, 16) != 1<<l2b || le32(sb, 24) != 1<<l2pb || l2b-l2pb != le16(sb, 22) {
		return false
	}
	p.Type, p.Kind = "jfs", KindFilesystem
	p.Label = blkLabel(sb[152:168])
	p.UUID = uuidString(sb[136:152])
	return true
}

// hfsUUID is blkid's UUID for HFS and HFS+: an MD5-based (version 3)
// UUID of the 8-byte finder info volume id.
func hfsUUID(id []byte) string {
	if allZero(id) {
		return ""
	}
	u := md5sum(append([]byte{0xb3, 0xe2, 0x0f, 0x39, 0xf2, 0x92, 0x11, 0xd6, 0x97, 0xa4, 0x00, 0x30, 0x65, 0x43, 0xec, 0xac}, id...))
	u[6] = 0x30 | u[6]&0x0f
	u[8] = 0x80 | u[8]&0x3f
	return uuidString(u[:])
}

func probeHFS(rd *reader, p *Result) bool {
	m := rd.at(1024, 162)
	if m == nil || string(m[:2]) != "BD" {
		return false
	}
	if e := string(m[124:126]); e == "H+" || e == "HX" {
		return false // an HFS+ volume wrapped in HFS: hfsplus
	}
	if bs := be32(m, 20); bs == 0 || bs&511 != 0 {
		return false
	}
	p.Type, p.Kind = "hfs", KindFilesystem
	p.UUID = hfsUUID(m[116:124])
	n := min(int(m[36]), 27)
	p.Label = blkLabel(m[37 : 37+n]) // Mac Roman, kept as bytes as blkid
	return true
}

func probeHFSPlus(rd *reader, p *Result) bool {
	m := rd.at(1024, 512)
	if m == nil {
		return false
	}
	var off int64
	switch string(m[:2]) {
	case "BD":
		if e := string(m[124:126]); e != "H+" && e != "HX" {
			return false
		}
		off = int64(be16(m, 28))*512 + int64(be16(m, 126))*int64(be32(m, 20))
		if m = rd.at(off+1024, 512); m == nil {
			return false
		}
	case "H+", "HX":
	default:
		return false
	}
	if s := string(m[:2]); s != "H+" && s != "HX" {
		return false
	}
	bs := int64(be32(m, 40))
	if bs < 512 {
		return false
	}
	p.Type, p.Kind = "hfsplus", KindFilesystem
	p.UUID = hfsUUID(m[104:112])
	// The label is the name of the catalog's first leaf record (the root
	// folder's thread), found through the catalog file's extents.
	ext := m[288 : 288+64]
	node := rd.at(off+int64(be32(ext, 0))*bs, 0x2000)
	if node == nil {
		return true
	}
	head, nodeSize, leaves := int64(be32(node, 14+10)), int64(be16(node, 14+18)), be32(node, 14+6)
	if nodeSize < 14+518 || leaves == 0 {
		return true
	}
	leaf := head * nodeSize / bs
	var start int64
	found := false
	for i := 0; i < 8; i++ {
		s, c := int64(be32(ext, i*8)), int64(be32(ext, i*8+4))
		if c == 0 {
			return true
		}
		if leaf < c {
			start, found = s, true
			break
		}
		leaf -= c
	}
	if !found {
		return true
	}
	b := rd.at(off+(start+leaf)*bs, int(nodeSize))
	if b == nil || be16(b, 10) == 0 || b[8] != 0xFF {
		return true
	}
	key := b[14:]
	if be32(key, 2) != 1 || be16(key, 6) > 255 {
		return true
	}
	p.Label = utf16Label(key[8:8+2*int(be16(key, 6))], true)
	return true
}

func be16(b []byte, o int) uint16 { return binary.BigEndian.Uint16(b[o:]) }

func probeUFS(rd *reader, p *Result) bool {
	mags := []uint32{0x19540119, 0x00011954, 0x00195612, 0x00095014, 0x00612195, 0x05231994}
	for _, kb := range []int64{0, 8, 64, 256} {
		sb := rd.at(kb<<10, 1376)
		if sb == nil {
			return false
		}
		for _, m := range mags {
			var order binary.ByteOrder
			switch {
			case le32(sb, 1372) == m:
				order = binary.LittleEndian
			case be32(sb, 1372) == m:
				order = binary.BigEndian
			default:
				continue
			}
			p.Type, p.Kind, p.Version = "ufs", KindFilesystem, "1"
			if m == 0x19540119 {
				p.Version = "2"
				p.Label = blkLabel(sb[680:712])
			}
			if a, b := order.Uint32(sb[144:]), order.Uint32(sb[148:]); a != 0 || b != 0 {
				p.UUID = fmt.Sprintf("%08x%08x", a, b)
			}
			return true
		}
	}
	return false
}

func probeCramfs(rd *reader, p *Result) bool {
	b := rd.at(0, 64)
	if b == nil || string(b[:4]) != "\x45\x3d\xcd\x28" && string(b[:4]) != "\x28\xcd\x3d\x45" {
		return false
	}
	p.Type, p.Kind = "cramfs", KindFilesystem
	p.Label = blkLabel(b[48:64])
	return true
}

func probeRomfs(rd *reader, p *Result) bool {
	b := rd.at(0, 32)
	if b == nil || string(b[:8]) != "-rom1fs-" {
		return false
	}
	p.Type, p.Kind = "romfs", KindFilesystem
	p.Label = blkLabel(b[16:32])
	p.FSSize = int64(be32(b, 8))
	return true
}

func probeMinix(rd *reader, p *Result) bool {
	sb := rd.at(1024, 32)
	if sb == nil {
		return false
	}
	version, swap := 0, false
	mag := func(v uint16) int {
		switch v {
		case 0x137F, 0x138F:
			return 1
		case 0x2468, 0x2478:
			return 2
		}
		return 0
	}
	if version = mag(le16(sb, 16)); version == 0 && le16(sb, 24) == 0x4D5A {
		version = 3
	}
	if version == 0 {
		swap = true
		if version = mag(be16(sb, 16)); version == 0 && le16(sb, 24) == 0x4D5A {
			version = 3
		}
	}
	if version == 0 {
		return false
	}
	u16 := func(o int) uint64 {
		if swap {
			return uint64(be16(sb, o))
		}
		return uint64(le16(sb, o))
	}
	u32 := func(o int) uint64 {
		if swap {
			return uint64(be32(sb, o))
		}
		return uint64(le32(sb, o))
	}
	var zones, inodes, imaps, zmaps, firstz, zoneSize uint64
	switch version {
	case 1, 2:
		if st := u16(18); st&3 != st {
			return false
		}
		zones = u16(2)
		if version == 2 {
			zones = u32(20)
		}
		inodes, imaps, zmaps, firstz = u16(0), u16(4), u16(6), u16(8)
		zoneSize = uint64(le16(sb, 10))
	case 3:
		zones, inodes, imaps, zmaps, firstz = u32(20), u32(0), u16(6), u16(8), u16(10)
		zoneSize = uint64(le16(sb, 12))
	}
	if zoneSize != 0 || inodes == 0 || inodes == 1<<32-1 || imaps*1024*8 < inodes+1 || firstz > zones || zmaps*1024*8 < zones-firstz+1 {
		return false
	}
	if rd.has(0x400+0x38, "\x53\xef") { // ext
		return false
	}
	// An erofs superblock at 1 KiB too: its inode count lies where the
	// minix magic does (libblkid minix.c, since util-linux 2.42).
	if rd.has(0x400, erofsMagic) {
		return false
	}
	p.Type, p.Kind, p.Version = "minix", KindFilesystem, fmt.Sprint(version)
	return true
}

func probeGFS2(rd *reader, p *Result) bool {
	sb := rd.at(64<<10, 272)
	if sb == nil || be32(sb, 0) != 0x01161970 {
		return false
	}
	f, m := be32(sb, 24), be32(sb, 28)
	switch {
	case f == 1309 && m == 1401:
		p.Type = "gfs"
	case f >= 1800 && f < 1900 && m >= 1900 && m < 2000:
		p.Type, p.Version = "gfs2", "1"
	default:
		return false
	}
	p.Kind = KindFilesystem
	p.Label = blkLabel(sb[160:224])
	p.UUID = uuidString(sb[256:272])
	return true
}

func probeOCFS2(rd *reader, p *Result) bool {
	for _, kb := range []int64{1, 2, 4, 8} {
		sb := rd.at(kb<<10, 352)
		if sb == nil || string(sb[:6]) != "OCFSV2" {
			continue
		}
		p.Type, p.Kind = "ocfs2", KindFilesystem
		p.Label = blkLabel(sb[272:336])
		p.UUID = uuidString(sb[336:352])
		p.Version = fmt.Sprintf("%d.%d", le16(sb, 192), le16(sb, 194))
		return true
	}
	return false
}

// nilfsValid checks a NILFS2 superblock's magic and CRC (seeded, over the
// first s_bytes with the checksum field as zeros).
func nilfsValid(sb []byte) bool {
	if sb == nil || le16(sb, 6) != 0x3434 {
		return false
	}
	n := int(le16(sb, 8))
	if n < 20 || n > 1024 {
		return false
	}
	crc := ^crc32.Update(^le32(sb, 12), crc32.IEEETable, sb[:16])
	crc = ^crc32.Update(^crc, crc32.IEEETable, []byte{0, 0, 0, 0})
	crc = ^crc32.Update(^crc, crc32.IEEETable, sb[20:n])
	return crc == le32(sb, 16)
}

func probeNILFS2(rd *reader, p *Result) bool {
	prim := rd.at(0x400, 1024)
	bak := rd.at((rd.size/512-8)*512, 1024)
	if prim == nil && bak == nil {
		return false
	}
	v0, v1 := nilfsValid(prim), nilfsValid(bak)
	if !v0 && !v1 {
		return false
	}
	sb := prim
	if v1 && (!v0 || le64(prim, 56) > le64(bak, 56)) {
		sb = bak
	}
	p.Type, p.Kind = "nilfs2", KindFilesystem
	p.Label = blkLabel(sb[168:248])
	p.UUID = uuidString(sb[152:168])
	p.Version = fmt.Sprint(le32(sb, 0))
	return true
}

func probeF2FS(rd *reader, p *Result) bool {
	sb := rd.at(1024, 0x7C+1024)
	if sb == nil || string(sb[:4]) != "\x10\x20\xF5\xF2" {
		return false
	}
	p.Type, p.Kind = "f2fs", KindFilesystem
	maj, mn := le16(sb, 4), le16(sb, 6)
	if maj == 1 && mn == 0 {
		return true
	}
	if sb[0x7C] != 0 {
		p.Label = utf16Label(sb[0x7C:0x7C+1024], false)
	}
	p.UUID = uuidString(sb[0x6C:0x7C])
	p.Version = fmt.Sprintf("%d.%d", maj, mn)
	return true
}

func md5sum(b []byte) [16]byte { return md5.Sum(b) }

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
