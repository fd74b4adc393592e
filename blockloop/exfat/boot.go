package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// bootSector is the decoded main (or backup) boot sector.
type bootSector struct {
	bytesPerSector int64
	clusterSize    int64
	fatOff         int64 // byte offset of the FAT in use
	fatBytes       int64
	heapOff        int64  // byte offset of cluster 2
	clusters       uint32 // valid cluster numbers are 2..clusters+1
	rootCluster    uint32
	serial         uint32
	backup         bool // read from the backup boot region
}

// mainSectorSize is the sector size the main boot sector claims, or 0.
func mainSectorSize(f *FS) int64 {
	var b [512]byte
	if f.readAt(b[:], 0) != nil || string(b[3:11]) != "EXFAT   " || b[108] < 9 || b[108] > 12 {
		return 0
	}
	return 1 << b[108]
}

// bootChecksum is the exFAT boot region checksum of sectors 0-10 (b), the
// volume flags and percent-in-use bytes of sector 0 left out.
func bootChecksum(b []byte) uint32 {
	var s uint32
	for i, c := range b {
		if i == 106 || i == 107 || i == 112 {
			continue
		}
		s = (s<<31 | s>>1) + uint32(c)
	}
	return s
}

// readBootRegion reads and checks the boot region (12 sectors) at off.
func (f *FS) readBootRegion(off int64) (*bootSector, error) {
	if !f.inImage(off, 512) {
		return nil, fmt.Errorf("exfat: image of %d bytes: %w", f.size, ErrNotExFAT)
	}
	var sec [512]byte
	if err := f.readAt(sec[:], off); err != nil {
		return nil, err
	}
	b, err := parseBootSector(sec[:], off)
	if err != nil {
		return nil, err
	}
	bs := b.bytesPerSector
	if !f.inImage(off, 12*bs) {
		return nil, formatErr(off, "boot region of %d bytes past the end of the image", 12*bs)
	}
	region := make([]byte, 12*bs)
	if err := f.readAt(region, off); err != nil {
		return nil, err
	}
	sum := bootChecksum(region[:11*bs])
	for i := 11 * bs; i < 12*bs; i += 4 {
		if binary.LittleEndian.Uint32(region[i:]) != sum {
			return nil, formatErr(off+i, "boot region checksum 0x%08x, sectors 0-10 sum to 0x%08x", binary.LittleEndian.Uint32(region[i:]), sum)
		}
	}
	// The FAT in use, and the up-case table and root directory reads, are
	// checked against the image as they are used; the FAT must be in it.
	if !f.inImage(b.fatOff, (int64(b.clusters)+2)*4) {
		return nil, formatErr(off+80, "FAT at byte %d past the end of the image (%d bytes)", b.fatOff, f.size)
	}
	return b, nil
}

// parseBootSector decodes and checks the exFAT boot sector b, read at off.
func parseBootSector(b []byte, off int64) (*bootSector, error) {
	if string(b[3:11]) != "EXFAT   " {
		return nil, fmt.Errorf("exfat: no \"EXFAT   \" file system name at byte %d: %w", off+3, ErrNotExFAT)
	}
	for i := 11; i < 64; i++ {
		if b[i] != 0 {
			return nil, notExFAT(off+int64(i), "MustBeZero byte is 0x%02x", b[i])
		}
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		return nil, notExFAT(off+510, "no boot signature 0xAA55")
	}
	le32 := func(o int) int64 { return int64(binary.LittleEndian.Uint32(b[o:])) }
	bss, spcs := int64(b[108]), int64(b[109])
	if bss < 9 || bss > 12 {
		return nil, notExFAT(off+108, "bytes per sector shift %d (9..12)", bss)
	}
	if spcs > 25-bss {
		return nil, notExFAT(off+109, "sectors per cluster shift %d (at most %d)", spcs, 25-bss)
	}
	if rev := binary.LittleEndian.Uint16(b[104:]); rev>>8 != 1 {
		return nil, fmt.Errorf("exfat: file system revision %d.%02d: %w", rev>>8, rev&0xFF, errors.ErrUnsupported)
	}
	nfats := int64(b[110])
	if nfats != 1 && nfats != 2 {
		return nil, notExFAT(off+110, "%d FATs (1 or 2)", nfats)
	}
	volLen := int64(binary.LittleEndian.Uint64(b[72:]))
	fatOff, fatLen, heapOff, count, root := le32(80), le32(84), le32(88), le32(92), le32(96)
	p := &bootSector{
		bytesPerSector: 1 << bss,
		clusterSize:    1 << (bss + spcs),
		clusters:       uint32(count),
		rootCluster:    uint32(root),
		serial:         uint32(le32(100)),
	}
	// The checks keep what reading needs: every structure inside the
	// volume and the image, nothing overlapping, no overflow. What only
	// a formatter must do is not checked: the specification's 1 MiB
	// minimum volume length (mkfs.exfat makes smaller volumes; the kernel,
	// 7-Zip and blkid read them).
	switch {
	case volLen < 24:
		return nil, notExFAT(off+72, "volume length %d sectors, shorter than the two boot regions (24 sectors)", volLen)
	case volLen > 1<<(63-bss)-1:
		return nil, notExFAT(off+72, "volume length %d sectors, past 2^63 bytes", volLen)
	case fatOff < 24:
		return nil, notExFAT(off+80, "FAT offset %d (at least 24)", fatOff)
	case fatLen == 0 || fatLen*p.bytesPerSector < (count+2)*4:
		return nil, notExFAT(off+84, "FAT of %d sectors for %d clusters", fatLen, count)
	case heapOff < fatOff+nfats*fatLen:
		return nil, notExFAT(off+88, "cluster heap at sector %d overlaps the FATs", heapOff)
	case count == 0 || count > 0xFFFFFFF5:
		return nil, notExFAT(off+92, "cluster count %d", count)
	case heapOff+count<<spcs > volLen:
		return nil, notExFAT(off+92, "%d clusters from sector %d past the volume's %d sectors", count, heapOff, volLen)
	case root < 2 || root > count+1:
		return nil, notExFAT(off+96, "root directory cluster %d outside 2..%d", root, count+1)
	}
	active := int64(0)
	if nfats == 2 && b[106]&1 != 0 {
		active = 1
	}
	p.fatBytes = fatLen * p.bytesPerSector
	p.fatOff = (fatOff + active*fatLen) * p.bytesPerSector
	p.heapOff = heapOff * p.bytesPerSector
	return p, nil
}
