package md

import (
	"encoding/binary"
)

// Members built by hand, field by field as mdadm's super0.c and super1.c
// write them (mdadm --create needs the md driver, which this kernel lacks;
// `mdadm --examine` checks these in the tests).

var testUUID = [16]byte{0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xf0, 0x01}

// super1Spec is a 1.x member's layout: the superblock at superAt (bytes),
// the data at dataOff, used bytes long.
type super1Spec struct {
	level            int32
	layout           uint32
	disks            uint32
	name             string
	superAt, dataOff int64
	used, dataSize   int64
	role             uint16 // this device's role (0xffff spare)
	features         uint32
}

// super1 writes a 1.x superblock into member (whose length is the
// device's size): 256 bytes then 384 roles, 1 KiB in all, as mdadm makes
// it for a new array.
func super1(member []byte, s super1Spec) {
	le := binary.LittleEndian
	const maxDev = 384
	sb := member[s.superAt : s.superAt+super1Size+2*maxDev]
	clear(sb)
	le.PutUint32(sb[0:], mdMagic)
	le.PutUint32(sb[4:], 1)
	le.PutUint32(sb[8:], s.features)
	copy(sb[16:32], testUUID[:])
	copy(sb[32:64], s.name)
	le.PutUint64(sb[64:], 1796533163) // ctime
	le.PutUint32(sb[72:], uint32(s.level))
	le.PutUint32(sb[76:], s.layout)
	le.PutUint64(sb[80:], uint64(s.used/512))
	le.PutUint32(sb[92:], s.disks)
	le.PutUint64(sb[128:], uint64(s.dataOff/512))
	le.PutUint64(sb[136:], uint64(s.dataSize/512))
	le.PutUint64(sb[144:], uint64(s.superAt/512))
	le.PutUint32(sb[160:], 0) // device number
	copy(sb[168:184], "device-uuid-0000")
	le.PutUint64(sb[192:], 1796533164)         // utime
	le.PutUint64(sb[200:], 7)                  // events
	le.PutUint64(sb[208:], 0xffffffffffffffff) // resync_offset: clean
	le.PutUint32(sb[220:], maxDev)
	for i := range maxDev {
		r := uint16(roleSpare)
		if i < int(s.disks) {
			r = uint16(i)
		}
		le.PutUint16(sb[super1Size+2*i:], r)
	}
	le.PutUint16(sb[super1Size:], s.role)
	le.PutUint32(sb[216:], super1Checksum(sb))
}

// super0 writes a 0.90 superblock into member's last 64 KiB-aligned
// 64 KiB: a RAID-level array of disks members, each used KiB, this one in
// slot 0 (active, in sync) unless spare.
func super0(member []byte, level int32, disks uint32, usedKiB uint32, spare bool) int64 {
	le := binary.LittleEndian
	off := super0Offset(int64(len(member)))
	b := member[off : off+super0Size]
	clear(b)
	w := func(i int, v uint32) { le.PutUint32(b[4*i:], v) }
	w(0, mdMagic)
	w(w0Major, 0)
	w(w0Minor, 90)
	w(3, 0) // patch
	w(w0UUID0, le.Uint32(testUUID[0:]))
	w(w0Ctime, 1796533163)
	w(w0Level, uint32(level))
	w(w0Size, usedKiB)
	w(9, disks) // nr_disks
	w(w0RaidDisks, disks)
	w(11, 0) // md_minor
	w(w0UUID1, le.Uint32(testUUID[4:]))
	w(w0UUID1+1, le.Uint32(testUUID[8:]))
	w(w0UUID1+2, le.Uint32(testUUID[12:]))
	w(32, 1796533164) // utime
	w(33, 1)          // state: clean
	w(34, disks)      // active
	w(35, disks)      // working
	w(w0EventsLo, 5)
	for d := range disks { // the disk descriptors: number, major, minor, raid_disk, state
		p := 128 + 32*int(d)
		w(p, d)
		w(p+1, 7)
		w(p+2, d)
		w(p+3, d)
		w(p+4, diskActive|diskSync)
	}
	copy(b[4*w0ThisDisk:], b[4*128:4*128+20])
	if spare {
		w(w0ThisDisk+3, disks)
		w(w0ThisDisk+4, 0)
	}
	w(w0Csum, super0Checksum(b))
	return off
}
