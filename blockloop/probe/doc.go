// Package probe identifies what a disk image or a partition holds, as
// `blkid -p` does (libblkid stands apart from mount(8) the same way):
// filesystems by their superblocks, RAID members, LVM physical volumes and
// other volumes, encrypted containers, swap, VM disk images (by
// disk.Detect) and MBR/GPT partition tables, whose partitions it probes in
// turn. It reads only: [Image] takes an io.ReaderAt, [File] a path; both
// read the image's first 68 KiB once and serve the probers from memory.
// It never imports blockloop: blockloop's mount decision reads its
// [Result].
//
// # Where a new prober goes
//
// A prober is a func(*reader, *Result) bool in the file of its family
// (linuxfs.go: Linux and Unix filesystems and swap; fat.go: FAT, exFAT,
// NTFS; optical.go: ISO 9660, UDF; volumes.go: volumes, RAID members and
// encrypted containers; hwraid.go: firmware RAID; others.go: the rarer
// types), and one line in probers (probers.go) at the place libblkid's
// superblocks.c idinfos[] gives it, with its usage: a RAID member or an
// encrypted container ends the probing (usageRAID, usageCrypto) as in
// blkid. A container gets KindVolume or KindCrypto; blockloop's
// ContainerError then says what it is. A layer that loops opens itself
// (LUKS, LVM, md: blockloop/layer/…) keeps its detection here and its
// reading there: the layer package opens what Result names.
package probe
