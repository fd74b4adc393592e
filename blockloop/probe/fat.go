package probe

import (
	"fmt"
)

// FAT, exFAT and NTFS: boot sectors that look alike, told apart as blkid
// does (libblkid vfat.c, exfat.c, ntfs.c).

const (
	fat12Max = 0xFF4
	fat16Max = 0xFFF4
	fat32Max = 0x0FFFFFF6
)

// fatMagic tells whether the boot sector carries one of blkid's vfat
// magics, and whether that magic is a weak one (a jump or 55AA only).
func fatMagic(b []byte) (ok, weak bool) {
	switch {
	case string(b[0x52:0x57]) == "MSWIN", string(b[0x52:0x5A]) == "FAT32   ",
		string(b[0x36:0x3B]) == "MSDOS", string(b[0x36:0x3E]) == "FAT16   ",
		string(b[0x36:0x3E]) == "FAT12   ", string(b[0x36:0x3E]) == "FAT     ":
		return true, false
	case b[0] == 0xEB, b[0] == 0xE9, b[510] == 0x55 && b[511] == 0xAA:
		return true, true
	}
	return false, false
}

func isPow2(n uint32) bool { return n != 0 && n&(n-1) == 0 }

// fatGeometry validates a FAT boot sector as blkid's fat_valid_superblock.
func fatGeometry(b []byte) (clusters, fatSize uint32, ok bool) {
	has, weak := fatMagic(b)
	if !has {
		return 0, 0, false
	}
	if weak {
		if b[510] != 0x55 || b[511] != 0xAA {
			return 0, 0, false
		}
		if m := string(b[0x36:0x3E]); m == "JFS     " || m == "HPFS    " {
			return 0, 0, false
		}
	}
	fats, reserved, media, clusterSize := uint32(b[16]), uint32(le16(b, 14)), b[21], uint32(b[13])
	if fats == 0 || reserved == 0 || !(media >= 0xF8 || media == 0xF0) || !isPow2(clusterSize) {
		return 0, 0, false
	}
	sectorSize := uint32(le16(b, 11))
	if !isPow2(sectorSize) || sectorSize < 512 || sectorSize > 4096 {
		return 0, 0, false
	}
	dirEntries := uint32(le16(b, 17))
	sectors := uint32(le16(b, 19))
	if sectors == 0 {
		sectors = le32(b, 32)
	}
	fatLength := uint32(le16(b, 22))
	if fatLength == 0 {
		fatLength = le32(b, 36)
	}
	fatSize = fatLength * fats
	dirSize := (dirEntries*32 + sectorSize - 1) / sectorSize
	clusters = (sectors - (reserved + fatSize + dirSize)) / clusterSize
	var max uint32 = fat12Max
	switch {
	case le16(b, 22) == 0 && le32(b, 36) != 0:
		max = fat32Max
	case clusters > fat12Max:
		max = fat16Max
	}
	if clusters > max {
		return 0, 0, false
	}
	return clusters, fatSize, true
}

// maxFATDirBytes bounds the root directory bytes read for a label.
const maxFATDirBytes = 4 << 20

// fatLabelEntry finds the volume label entry among n directory entries
// at off, as blkid's search_fat_label: the scan ends at a free-for-ever
// entry; deleted entries, entries with a cluster and long-name entries
// are passed over. budget bounds the bytes read.
func fatLabelEntry(rd *reader, off int64, n uint32, budget *int64) (label []byte, found bool) {
	const chunk = 4096
	for i := int64(0); i < int64(n); {
		k := min(int64(n)-i, chunk/32)
		if *budget < k*32 {
			return nil, false
		}
		*budget -= k * 32
		d := rd.at(off+i*32, int(k*32))
		if d == nil {
			return nil, false
		}
		for j := int64(0); j < k; j++ {
			e := d[j*32 : j*32+32]
			switch {
			case e[0] == 0:
				return nil, false
			case e[0] == 0xE5, le16(e, 20) != 0 || le16(e, 26) != 0, e[11]&0x3F == 0x0F:
				continue
			case e[11]&(0x08|0x10) == 0x08:
				l := append([]byte(nil), e[:11]...)
				if l[0] == 0x05 {
					l[0] = 0xE5
				}
				return l, true
			}
		}
		i += k
	}
	return nil, false
}

func probeFAT(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil {
		return false
	}
	clusters, fatSize, ok := fatGeometry(b)
	if !ok || probeBitLocker(rd, &Result{}) {
		return false
	}
	sectorSize := int64(le16(b, 11))
	reserved := int64(le16(b, 14))
	var label []byte
	budget := int64(maxFATDirBytes)
	switch {
	case le16(b, 22) != 0: // FAT12/16: a fixed root directory
		label, _ = fatLabelEntry(rd, (reserved+int64(fatSize))*sectorSize, uint32(le16(b, 17)), &budget)
		if b[38] == 0x28 || b[38] == 0x29 {
			p.UUID = fmt.Sprintf("%02X%02X-%02X%02X", b[42], b[41], b[40], b[39])
		}
		switch {
		case clusters < fat12Max:
			p.Version = "FAT12"
		case clusters < fat16Max:
			p.Version = "FAT16"
		}
	case le32(b, 36) != 0: // FAT32: the root directory is a cluster chain
		clusterBytes := int64(b[13]) * sectorSize
		start := reserved + int64(fatSize)
		entries := uint64(le32(b, 36)) * uint64(sectorSize) / 4
		next := uint64(le32(b, 44))
		for loop := 99; next != 0 && next < entries && loop > 0; loop-- {
			off := (start + (int64(next)-2)*int64(b[13])) * sectorSize
			var found bool
			if label, found = fatLabelEntry(rd, off, uint32(clusterBytes/32), &budget); found {
				break
			}
			e := rd.at(reserved*sectorSize+int64(next)*4, 4)
			if e == nil {
				break
			}
			next = uint64(le32(e, 0) & 0x0FFFFFFF)
		}
		p.Version = "FAT32"
		p.UUID = fmt.Sprintf("%02X%02X-%02X%02X", b[70], b[69], b[68], b[67])
		if fsinfo := int64(le16(b, 48)); fsinfo != 0 {
			fi := rd.at(fsinfo*sectorSize, 512)
			if fi == nil {
				return false
			}
			if s := string(fi[0:4]); s != "RRaA" && s != "RRdA" && s != "\x00\x00\x00\x00" {
				return false
			}
			if s := string(fi[484:488]); s != "rrAa" && s != "\x00\x00\x00\x00" {
				return false
			}
		}
	}
	p.Type, p.Kind = "vfat", KindFilesystem
	if label != nil {
		// The bytes as stored, as blkid gives them: FAT records no code
		// page, and 437 is only the kernel's default.
		p.Label = blkLabel(label)
	}
	sectors := uint64(le16(b, 19))
	if sectors == 0 {
		sectors = uint64(le32(b, 32))
	}
	p.FSSize = claimed(mul(sectors, uint64(sectorSize)))
	return true
}

func probeExFAT(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[3:11]) != "EXFAT   " {
		return false
	}
	blockBits, bpcBits := uint(b[108]), uint(b[109])
	if blockBits+bpcBits >= 32 {
		return false // blkid: a cluster size of 0 (overflow) is no exfat
	}
	clusterSize := int64(1) << (blockBits + bpcBits)
	p.Type, p.Kind = "exfat", KindFilesystem
	p.UUID = fmt.Sprintf("%02X%02X-%02X%02X", b[103], b[102], b[101], b[100])
	p.Version = fmt.Sprintf("%d.%d", b[105], b[104])
	if blockBits >= 9 && blockBits <= 12 {
		p.FSSize = claimed(mul(le64(b, 72), 1<<blockBits))
	}
	// The label entry (type 0x83) of the root directory, followed along
	// its cluster chain, at most 10000 entries as blkid.
	fatStart := int64(le32(b, 80)) << blockBits
	heapStart := int64(le32(b, 88))
	cluster := le32(b, 96)
	toOff := func(c uint32) int64 {
		return (heapStart + (int64(c)-2)<<bpcBits) << blockBits
	}
	off := toOff(cluster)
	for i := 0; i < 10000; i++ {
		e := rd.at(off, 32)
		if e == nil || e[0] == 0 {
			break
		}
		if e[0] == 0x83 {
			n := min(int(e[1])*2, 22)
			p.Label = utf16Label(e[2:2+n], false)
			break
		}
		off += 32
		if off%clusterSize == 0 {
			nx := rd.at(fatStart+int64(cluster)*4, 4)
			if nx == nil {
				break
			}
			cluster = le32(nx, 0)
			if cluster < 2 || cluster > 0xFFFFFF6 {
				break
			}
			off = toOff(cluster)
		}
	}
	return true
}

func probeNTFS(rd *reader, p *Result) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[3:11]) != "NTFS    " {
		return false
	}
	sectorSize := uint32(le16(b, 11))
	if sectorSize < 256 || sectorSize > 4096 {
		return false
	}
	spc := uint32(b[13])
	switch spc {
	case 1, 2, 4, 8, 16, 32, 64, 128:
	default:
		if spc < 240 || spc > 249 {
			return false
		}
		spc = 1 << (256 - spc)
	}
	if sectorSize*spc > 2<<20 {
		return false
	}
	if le16(b, 14) != 0 || le16(b, 17) != 0 || le16(b, 19) != 0 || le16(b, 22) != 0 || le32(b, 32) != 0 || b[16] != 0 {
		return false
	}
	cpm := int8(b[0x40])
	if uint8(cpm) < 0xE1 || uint8(cpm) > 0xF7 {
		switch cpm {
		case 1, 2, 4, 8, 16, 32, 64:
		default:
			return false
		}
	}
	var recSize uint64
	if cpm > 0 {
		recSize = uint64(cpm) * uint64(spc) * uint64(sectorSize)
	} else {
		recSize = 1 << uint(-cpm)
	}
	clusters := le64(b, 0x28) / uint64(spc)
	mft, mirr := le64(b, 0x30), le64(b, 0x38)
	if mft > clusters || mirr > clusters || recSize < 4 || recSize > 1<<16 {
		return false
	}
	off := mul(mft, uint64(sectorSize)*uint64(spc))
	if off < 0 {
		return false
	}
	if r := rd.at(off, int(recSize)); r == nil || string(r[:4]) != "FILE" {
		return false
	}
	off += 3 * int64(recSize)
	rec := rd.at(off, int(recSize))
	if rec == nil || string(rec[:4]) != "FILE" {
		return false
	}
	p.Type, p.Kind = "ntfs", KindFilesystem
	// $Volume's attributes: the volume name (0x60) is the label.
	attr := uint64(le16(rec, 20))
	for attr+24 <= recSize && attr <= uint64(le32(rec, 28)) {
		a := rec[attr:]
		alen := uint64(le32(a, 4))
		typ := le32(a, 0)
		if alen == 0 || typ == 0xFFFFFFFF {
			break
		}
		if typ == 0x60 {
			voff, vlen := uint64(le16(a, 20)), uint64(le32(a, 16))
			if attr+voff+vlen <= recSize {
				p.Label = utf16Label(a[voff:voff+vlen], false)
			}
			break
		}
		attr += alen
	}
	p.UUID = fmt.Sprintf("%016X", le64(b, 0x48))
	p.FSSize = claimed(mul(le64(b, 0x28), uint64(sectorSize)))
	return true
}
