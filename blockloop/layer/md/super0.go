package md

import (
	"encoding/binary"
	"fmt"
)

// Superblock 0.90 (the kernel's md_p.h, mdadm's super0.c): 1024 32-bit
// words, little-endian on the disks of x86 machines, in the last 64 KiB
// (aligned to 64 KiB) of the member. Word numbers below are md_p.h's.
const (
	super0Size     = 4096
	super0Reserved = 64 << 10

	w0Major, w0Minor       = 1, 2
	w0UUID0, w0Ctime       = 5, 6
	w0Level, w0Size        = 7, 8 // size in KiB
	w0RaidDisks            = 10
	w0UUID1                = 13 // 13, 14, 15
	w0Csum                 = 38
	w0EventsLo, w0EventsHi = 39, 40
	w0ThisDisk             = 992 // its descriptor: number, major, minor, raid_disk, state

	diskFaulty = 1 << 0
	diskActive = 1 << 1
	diskSync   = 1 << 2
)

// super0Offset is where a 0.90 superblock lies (MD_NEW_SIZE_SECTORS).
func super0Offset(size int64) int64 {
	return size&^(super0Reserved-1) - super0Reserved
}

// super0Checksum is mdadm's calc_sb0_csum: the 1024 words summed (the
// checksum word as zero) in 64 bits, folded once.
func super0Checksum(b []byte) uint32 {
	var sum uint64
	for i := 0; i < super0Size/4; i++ {
		if i != w0Csum {
			sum += uint64(le32(b[4*i:]))
		}
	}
	return uint32(sum&0xffffffff + sum>>32)
}

func decodeSuper0(b []byte, off, size int64, ver string) (Info, error) {
	w := func(i int) uint32 { return binary.LittleEndian.Uint32(b[4*i:]) }
	var in Info
	if w(w0Major) != 0 || w(w0Minor) != 90 {
		return in, formatErr(off+4, "version %d.%d, want 0.90", w(w0Major), w(w0Minor))
	}
	if want, got := w(w0Csum), super0Checksum(b); want != got {
		return in, &ChecksumError{Offset: off, Want: want, Got: got}
	}
	in = Info{Version: ver, SuperAt: off, Level: int(int32(w(w0Level))), RaidDisks: int(w(w0RaidDisks)),
		Events: uint64(w(w0EventsHi))<<32 | uint64(w(w0EventsLo))}
	in.LevelName = levelName(in.Level)
	in.UUID = fmt.Sprintf("%08x:%08x:%08x:%08x", w(w0UUID0), w(w0UUID1), w(w0UUID1+1), w(w0UUID1+2))
	used := int64(w(w0Size)) * 1024
	if used > off {
		return in, formatErr(off+4*w0Size, "size %d KiB runs into the superblock at byte %d", w(w0Size), off)
	}
	in.ArraySize = arraySize(in.Level, in.RaidDisks, used)
	raidDisk, state := w(w0ThisDisk+3), w(w0ThisDisk+4)
	switch {
	case state&diskFaulty != 0:
		in.Role, in.notAlone = -2, "is marked faulty"
	case state&(diskActive|diskSync) != diskActive|diskSync || int(raidDisk) >= in.RaidDisks:
		in.Role, in.notAlone = -1, "is a spare"
	default:
		in.Role = int(raidDisk)
	}
	return in, nil
}
