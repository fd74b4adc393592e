// Package md reads a member of a Linux software RAID (md) array in
// userspace, read-only, without the md driver or mdadm: the superblock
// in, the array's data as an io.ReaderAt out, for RAID1 (where every
// member holds the whole array). It is what `loops mount` reads a RAID1
// disk through, where `mdadm --assemble; mount /dev/md0` would need the md
// driver and root.
//
// It reads the superblock in each place mdadm puts one (mdadm's super0.c
// and super1.c, the kernel's md_p.h):
//
//   - 0.90: 4 KiB, little-endian, in the last 64 KiB-aligned 64 KiB of
//     the device; the data from byte 0, the "size" field (KiB) long;
//   - 1.0: at the end (8 KiB before it, 4 KiB aligned), 1.1 at byte 0,
//     1.2 at 4 KiB: 256 bytes and a role per device, little-endian; the
//     data at data_offset, "size" sectors long.
//
// Each is checked as mdadm checks it (magic, version, checksum, where the
// superblock says it is). [Open] returns the member and its [Info], like
// `mdadm --examine`; [Member.Data] the array's data, for RAID1 only: other
// levels are refused naming the level ([ErrUnsupported]), and so are
// members mdadm would not trust alone (a spare, a faulty member, one being
// recovered or reshaped to a new offset, one with recorded bad blocks).
//
// Nothing needs a privilege beyond reading the member. Every offset and
// size is checked against the device's size; no input makes it panic.
package md
