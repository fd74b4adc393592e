package fat

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// bpb is the decoded boot sector.
type bpb struct {
	bits           int // 12, 16 or 32
	bytesPerSector int64
	clusterSize    int64
	fatOff         int64  // byte offset of the FAT in use
	fatBytes       int64  // bytes of one FAT
	rootOff        int64  // FAT12/16: byte offset of the root directory
	rootSize       int64  // FAT12/16: its bytes
	rootCluster    uint32 // FAT32
	dataOff        int64  // byte offset of cluster 2
	clusters       uint32 // data clusters: valid numbers are 2..clusters+1
	label          string // the boot sector's volume label ("" for NO NAME)
	version        int64  // FAT32's BPB_FSVer (0: 0.0)
}

func isPow2(n int64) bool { return n > 0 && n&(n-1) == 0 }

// parseBootSector decodes and checks the BIOS parameter block of boot
// sector b (the first 512 bytes of an image of size bytes).
func parseBootSector(b []byte, size int64) (*bpb, error) {
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	jump := (b[0] == 0xEB && b[2] == 0x90) || b[0] == 0xE9
	if !jump && !(b[510] == 0x55 && b[511] == 0xAA) {
		return nil, fmt.Errorf("fat: no boot jump instruction nor 0x55AA signature in sector 0: %w", ErrNotFAT)
	}
	if string(b[3:11]) == "EXFAT   " {
		return nil, fmt.Errorf("fat: an exFAT boot sector: %w", ErrNotFAT)
	}
	p := &bpb{}
	p.bytesPerSector = le16(11)
	if p.bytesPerSector < 512 || p.bytesPerSector > 4096 || !isPow2(p.bytesPerSector) {
		return nil, notFAT(11, "bytes per sector %d (512, 1024, 2048 or 4096)", p.bytesPerSector)
	}
	spc := int64(b[13])
	if !isPow2(spc) {
		return nil, notFAT(13, "sectors per cluster %d (a power of two)", spc)
	}
	p.clusterSize = spc * p.bytesPerSector
	reserved := le16(14)
	if reserved == 0 {
		return nil, notFAT(14, "no reserved sectors")
	}
	nfats := int64(b[16])
	if nfats == 0 || nfats > 16 {
		return nil, notFAT(16, "%d FATs", nfats)
	}
	rootEntries := le16(17)
	total := le16(19)
	if total == 0 {
		total = le32(32)
	}
	if total == 0 {
		return nil, notFAT(19, "no sectors")
	}
	if media := b[21]; media != 0xF0 && media < 0xF8 {
		return nil, notFAT(21, "media descriptor 0x%02x", media)
	}
	fatSectors := le16(22)
	fat32Layout := fatSectors == 0
	if fat32Layout {
		fatSectors = le32(36)
		if fatSectors == 0 {
			return nil, notFAT(22, "FAT size 0")
		}
		if rootEntries != 0 {
			return nil, notFAT(17, "%d root entries with a FAT32 parameter block", rootEntries)
		}
	} else if rootEntries == 0 {
		return nil, notFAT(17, "no root directory entries with a FAT12/16 parameter block")
	}
	rootSectors := (rootEntries*32 + p.bytesPerSector - 1) / p.bytesPerSector
	p.fatBytes = fatSectors * p.bytesPerSector
	firstData := reserved + nfats*fatSectors + rootSectors // < 2^16 + 16*2^32 + 2^11: no overflow
	if firstData >= total {
		return nil, notFAT(19, "%d sectors, but the data area starts at sector %d", total, firstData)
	}
	clusters := (total - firstData) / spc
	if clusters == 0 {
		return nil, notFAT(19, "no data clusters")
	}
	// The type is decided by the count of clusters (Microsoft's rule), not by
	// the "FAT12   " label. A FAT32 parameter block (16-bit FAT size 0, no
	// fixed root directory) is FAT32 whatever the count, as in Linux and
	// dosfstools: mkfs.vfat -F 32 makes such small volumes.
	switch {
	case fat32Layout:
		p.bits = 32
	case clusters < 4085:
		p.bits = 12
	case clusters < 65525:
		p.bits = 16
	default:
		return nil, notFAT(19, "%d clusters (FAT32) with a FAT12/16 parameter block", clusters)
	}
	// Clusters the FAT can describe (entries 0 and 1 are reserved).
	fatEntries := p.fatBytes * 8 / int64(p.bits)
	if fatEntries < 3 {
		return nil, notFAT(22, "a FAT of %d bytes", p.fatBytes)
	}
	if clusters > fatEntries-2 {
		clusters = fatEntries - 2 // as Linux does
	}
	maxClusters := map[int]int64{12: 0xFF4, 16: 0xFFF4, 32: 0x0FFFFFF5}[p.bits]
	if clusters > maxClusters {
		clusters = maxClusters
	}
	p.clusters = uint32(clusters)
	active := int64(0)
	if p.bits == 32 {
		// A version other than 0.0 is read as 0.0, as mtools, fsck.fat
		// and Linux (which does not look at it) read it: no other
		// version's layout was ever defined. The writer refuses it.
		p.version = le16(42)
		if ext := le16(40); ext&0x80 != 0 { // mirroring off: one active FAT
			active = ext & 0x0F
			if active >= nfats {
				return nil, formatErr(40, "active FAT %d of %d", active, nfats)
			}
		}
		p.rootCluster = uint32(le32(44))
		if p.rootCluster < 2 || p.rootCluster > p.clusters+1 {
			return nil, formatErr(44, "root cluster %d outside 2..%d", p.rootCluster, p.clusters+1)
		}
	}
	p.fatOff = (reserved + active*fatSectors) * p.bytesPerSector
	p.rootOff = (reserved + nfats*fatSectors) * p.bytesPerSector
	p.rootSize = rootEntries * 32
	p.dataOff = firstData * p.bytesPerSector
	// The FAT in use and the root directory must be in the image; data
	// clusters past its end (a truncated image) fail the files using them.
	usedFAT := (int64(p.clusters) + 2) * int64(p.bits) / 8
	if p.fatOff+usedFAT+2 > size || p.rootOff+p.rootSize > size {
		return nil, formatErr(p.fatOff, "FAT (%d bytes) or root directory (%d bytes at %d) past the end of the image (%d bytes)", usedFAT, p.rootSize, p.rootOff, size)
	}
	labelOff := 43
	sigOff := 38
	if fat32Layout {
		labelOff, sigOff = 71, 66
	}
	if b[sigOff] == 0x29 {
		p.label = cleanLabel(b[labelOff : labelOff+11])
		if p.label == "NO NAME" {
			p.label = ""
		}
	}
	return p, nil
}

// cleanLabel decodes an 11-byte label (code page 437) without its trailing
// spaces and NULs.
func cleanLabel(b []byte) string {
	b = bytes.TrimRight(b, " \x00")
	if len(b) > 0 && b[0] == 0x05 {
		b = append([]byte{0xE5}, b[1:]...)
	}
	return readkit.SanitizeName(readkit.DecodeCP437(b))
}
