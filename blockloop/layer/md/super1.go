package md

import (
	"bytes"
	"encoding/binary"
	"fmt"
)

// Superblock 1.x (mdadm's super1.c, struct mdp_superblock_1): 256 bytes,
// then a 16-bit role per device, all little-endian.
const (
	super1Size = 256
	super1Max  = 4096 // mdadm reads at most 4 KiB of it

	featureRecoveryOffset = 1 << 1
	featureReshapeActive  = 1 << 2
	featureBadBlocks      = 1 << 3
	featureNewOffset      = 1 << 6
	featureJournal        = 1 << 9

	roleSpare   = 0xffff
	roleFaulty  = 0xfffe
	roleJournal = 0xfffd

	maxSectors = 1 << 53
)

// super1EndOffset is where a 1.0 superblock lies: 8 KiB before the end,
// rounded down to 4 KiB (in sectors: (size - 16) & ~7).
func super1EndOffset(size int64) int64 {
	s := size/512 - 16
	if s < 0 {
		return -1
	}
	return (s &^ 7) * 512
}

func le32(b []byte) uint32 { return binary.LittleEndian.Uint32(b) }
func le64(b []byte) uint64 { return binary.LittleEndian.Uint64(b) }

// super1Checksum is mdadm's calc_sb_1_csum: the 32-bit little-endian
// words of the superblock and its roles summed (the checksum field as
// zero) in 64 bits, folded once.
func super1Checksum(b []byte) uint32 {
	var sum uint64
	for i := 0; i+4 <= len(b); i += 4 {
		if i != 216 {
			sum += uint64(le32(b[i:]))
		}
	}
	if len(b)%4 == 2 {
		sum += uint64(binary.LittleEndian.Uint16(b[len(b)-2:]))
	}
	return uint32(sum&0xffffffff + sum>>32)
}

// decodeSuper1 decodes and checks the 1.x superblock b found at byte off
// of a member of size bytes.
func decodeSuper1(b []byte, off, size int64, ver string) (Info, error) {
	var in Info
	if v := le32(b[4:]); v != 1 {
		return in, formatErr(off+4, "major version %d, want 1", v)
	}
	maxDev := le32(b[220:])
	if maxDev > (super1Max-super1Size)/2 {
		return in, formatErr(off+220, "max_dev %d: the roles would not fit in 4 KiB", maxDev)
	}
	sb := b[:super1Size+2*maxDev]
	if want, got := le32(sb[216:]), super1Checksum(sb); want != got {
		return in, &ChecksumError{Offset: off, Want: want, Got: got}
	}
	if so := le64(sb[144:]); so != uint64(off/512) {
		return in, formatErr(off+144, "superblock says it is at sector %d, found at sector %d", so, off/512)
	}
	in = Info{Version: ver, SuperAt: off, Level: int(int32(le32(sb[72:]))), RaidDisks: int(le32(sb[92:])), Events: le64(sb[200:])}
	in.LevelName = levelName(in.Level)
	u := sb[16:32]
	in.UUID = fmt.Sprintf("%x:%x:%x:%x", u[0:4], u[4:8], u[8:12], u[12:16])
	name := sb[32:64]
	if i := bytes.IndexByte(name, 0); i >= 0 {
		name = name[:i]
	}
	in.Name = string(bytes.ToValidUTF8(name, []byte("?")))

	dataOff, used, dataSize := le64(sb[128:]), le64(sb[80:]), le64(sb[136:])
	if dataOff > maxSectors || used > maxSectors || dataSize > maxSectors {
		return in, formatErr(off+80, "sizes out of range (data offset %d, size %d, data size %d sectors)", dataOff, used, dataSize)
	}
	in.DataOffset = int64(dataOff) * 512
	end := in.DataOffset + int64(used)*512
	switch {
	case end > size:
		return in, formatErr(off+80, "data (%d sectors from sector %d) runs past the member's %d bytes", used, dataOff, size)
	case ver == "1.0" && end > off:
		return in, formatErr(off+80, "data runs into the superblock at the end")
	case ver != "1.0" && in.DataOffset < off+super1Size+2*int64(maxDev):
		return in, formatErr(off+128, "data offset %d sectors overlaps the superblock", dataOff)
	case dataSize != 0 && used > dataSize:
		return in, formatErr(off+80, "size %d sectors larger than the data size %d", used, dataSize)
	}
	in.ArraySize = arraySize(in.Level, in.RaidDisks, int64(used)*512)

	in.Role = -1
	dev := le32(sb[160:])
	if dev >= maxDev {
		return in, formatErr(off+160, "device number %d, but roles for %d devices", dev, maxDev)
	}
	switch r := binary.LittleEndian.Uint16(sb[super1Size+2*dev:]); r {
	case roleSpare:
		in.notAlone = "is a spare"
	case roleFaulty:
		in.Role, in.notAlone = -2, "is marked faulty"
	case roleJournal:
		in.notAlone = "is a journal device"
	default:
		in.Role = int(r)
	}
	feat := le32(sb[8:])
	switch {
	case feat&featureRecoveryOffset != 0:
		in.notAlone = "is being recovered (its data is incomplete)"
	case feat&featureBadBlocks != 0:
		in.notAlone = "has recorded bad blocks"
	case feat&featureNewOffset != 0 && feat&featureReshapeActive != 0:
		in.notAlone = "is being reshaped to a new data offset"
	case feat&featureJournal != 0:
		in.notAlone = "has a write journal"
	}
	return in, nil
}

// arraySize is the array's size from one member's used size, for the
// levels where the superblock tells it (0 otherwise).
func arraySize(level, disks int, used int64) int64 {
	switch {
	case level == 1:
		return used
	case (level == 4 || level == 5) && disks >= 2 && disks <= 1<<10:
		return used * int64(disks-1)
	case level == 6 && disks >= 3 && disks <= 1<<10:
		return used * int64(disks-2)
	}
	return 0
}
