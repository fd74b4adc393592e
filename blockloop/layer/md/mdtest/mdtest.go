// Package mdtest writes md RAID superblocks by hand, field by field as
// mdadm's super0.c and super1.c lay them out (mdadm --create needs the md
// driver, which a test machine may lack; package md's tests check these
// with `mdadm --examine`). For the tests of package md and of what mounts
// through it.
package mdtest

import "encoding/binary"

const (
	magic      = 0xa92b4efc
	super1Size = 256
)

// RoleSpare is a 1.x role: a spare. FeatureRecoveryOffset: the member is
// being recovered.
const (
	RoleSpare             = 0xffff
	FeatureRecoveryOffset = 1 << 1
)

// Super1EndOffset is where a 1.0 superblock lies in a member of size
// bytes: 8 KiB before the end, rounded down to 4 KiB.
func Super1EndOffset(size int64) int64 { return (size/512 - 16) &^ 7 * 512 }

// Super0Offset is where a 0.90 superblock lies: the last 64 KiB-aligned
// 64 KiB.
func Super0Offset(size int64) int64 { return size&^(64<<10-1) - 64<<10 }

// checksum1 is mdadm's calc_sb_1_csum over sb (superblock and roles).
func checksum1(sb []byte) uint32 {
	var sum uint64
	for i := 0; i+4 <= len(sb); i += 4 {
		if i != 216 {
			sum += uint64(binary.LittleEndian.Uint32(sb[i:]))
		}
	}
	return uint32(sum&0xffffffff + sum>>32)
}

// checksum0 is mdadm's calc_sb0_csum over the 4 KiB superblock.
func checksum0(b []byte) uint32 {
	var sum uint64
	for i := 0; i < 1024; i++ {
		if i != 38 {
			sum += uint64(binary.LittleEndian.Uint32(b[4*i:]))
		}
	}
	return uint32(sum&0xffffffff + sum>>32)
}

var UUID = [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01}

// Spec is a 1.x member's layout: the superblock at superAt (bytes),
// the data at dataOff, used bytes long.
type Spec struct {
	Level            int32
	Layout           uint32
	Disks            uint32
	Name             string
	SuperAt, DataOff int64
	Used, DataSize   int64
	Role             uint16 // this device's role (0xffff spare)
	Features         uint32
}

// Super1 writes a 1.x superblock into member (whose length is the
// device's size): 256 bytes then 384 roles, 1 KiB in all, as mdadm makes
// it for a new array.
func Super1(member []byte, s Spec) {
	le := binary.LittleEndian
	const maxDev = 384
	sb := member[s.SuperAt : s.SuperAt+super1Size+2*maxDev]
	clear(sb)
	le.PutUint32(sb[0:], magic)
	le.PutUint32(sb[4:], 1)
	le.PutUint32(sb[8:], s.Features)
	copy(sb[16:32], UUID[:])
	copy(sb[32:64], s.Name)
	le.PutUint64(sb[64:], 1796533163) // ctime
	le.PutUint32(sb[72:], uint32(s.Level))
	le.PutUint32(sb[76:], s.Layout)
	le.PutUint64(sb[80:], uint64(s.Used/512))
	le.PutUint32(sb[92:], s.Disks)
	le.PutUint64(sb[128:], uint64(s.DataOff/512))
	le.PutUint64(sb[136:], uint64(s.DataSize/512))
	le.PutUint64(sb[144:], uint64(s.SuperAt/512))
	le.PutUint32(sb[160:], 0) // device number
	copy(sb[168:184], "device-uuid-0000")
	le.PutUint64(sb[192:], 1796533164)         // utime
	le.PutUint64(sb[200:], 7)                  // events
	le.PutUint64(sb[208:], 0xffffffffffffffff) // resync_offset: clean
	le.PutUint32(sb[220:], maxDev)
	for i := range maxDev {
		r := uint16(0xffff)
		if i < int(s.Disks) {
			r = uint16(i)
		}
		le.PutUint16(sb[super1Size+2*i:], r)
	}
	le.PutUint16(sb[super1Size:], s.Role)
	le.PutUint32(sb[216:], checksum1(sb))
}

// Super0 writes a 0.90 superblock into member's last 64 KiB-aligned
// 64 KiB: a RAID-level array of disks members, each used KiB, this one in
// slot 0 (active, in sync) unless spare.
func Super0(member []byte, level int32, disks uint32, usedKiB uint32, spare bool) int64 {
	le := binary.LittleEndian
	off := Super0Offset(int64(len(member)))
	b := member[off : off+4096]
	clear(b)
	// Words as md_p.h numbers them: 1, 2 the version, 5 and 13-15 the
	// UUID, 6 ctime, 7 level, 8 size (KiB), 10 raid_disks, 38 checksum,
	// 39 events, 128 on the disk descriptors, 992 this disk's.
	w := func(i int, v uint32) { le.PutUint32(b[4*i:], v) }
	w(0, magic)
	w(1, 0)
	w(2, 90)
	w(3, 0) // patch
	w(5, le.Uint32(UUID[0:]))
	w(6, 1796533163)
	w(7, uint32(level))
	w(8, usedKiB)
	w(9, disks) // nr_disks
	w(10, disks)
	w(11, 0) // md_minor
	w(13, le.Uint32(UUID[4:]))
	w(13+1, le.Uint32(UUID[8:]))
	w(13+2, le.Uint32(UUID[12:]))
	w(32, 1796533164) // utime
	w(33, 1)          // state: clean
	w(34, disks)      // active
	w(35, disks)      // working
	w(39, 5)
	for d := range disks { // the disk descriptors: number, major, minor, raid_disk, state
		p := 128 + 32*int(d)
		w(p, d)
		w(p+1, 7)
		w(p+2, d)
		w(p+3, d)
		w(p+4, 6) // active, in sync
	}
	copy(b[4*992:], b[4*128:4*128+20])
	if spare {
		w(992+3, disks)
		w(992+4, 0)
	}
	w(38, checksum0(b))
	return off
}
