// Package fat reads FAT12, FAT16 and FAT32 images with VFAT long names,
// from any io.ReaderAt, without a kernel driver. It is what `loops mount`
// serves through FUSE where the kernel has no vfat filesystem.
//
// It reads:
//
//   - the boot sector's BIOS parameter block, every field checked (bytes
//     per sector 512..4096 and a power of two, sectors per cluster a power
//     of two, reserved sectors, number of FATs, root entries, 16- or 32-bit
//     total sectors and FAT size, media descriptor). The CHS geometry, the
//     FSInfo sector and the backup boot sector are never used;
//   - the FAT type from the count of data clusters (< 4085 FAT12, < 65525
//     FAT16, else FAT32), never from the "FAT16   " type label; a FAT32
//     parameter block (16-bit FAT size 0, no fixed root directory) is FAT32
//     whatever the count, as in Linux and dosfstools;
//   - the FAT in use (the first, or FAT32's active one when mirroring is
//     off), 12-bit packed entries included, a 64 KiB page at a time, cached;
//   - directories: the fixed FAT12/16 root and cluster chains; 8.3 entries
//     with the NT case bits (byte 12: bit 3 lower-case base, bit 4
//     lower-case extension) and 0x05 for a leading 0xE5; VFAT long names
//     (attribute 0x0F entries before the 8.3 entry, sequence numbers and the
//     checksum of the 8.3 name checked, UCS-2 with surrogate pairs to
//     UTF-8). Long-name entries that belong to no 8.3 entry are ignored;
//     8.3 names are code page 437 (Linux's default);
//   - timestamps: write time (2 s), creation time (10 ms), access date, in
//     local time ([Options.Location]);
//   - the volume label as blkid reports it ([FS.Label]).
//
// Names are looked up case-insensitively ([Entry.Child], [FS.Lookup]),
// against long and 8.3 names, as FAT does. Names holding "/" or NUL are
// served with "_" in their place.
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// the image is checked against the image size before use. A file's cluster
// chain is followed for exactly the clusters its size needs; one that loops,
// leaves the volume or the image, meets a free or bad cluster or ends early
// makes that file's [Entry.DataErr] an error (its reads fail), and the rest
// of the volume is still served. A directory's chain is followed to its end,
// at most [Limits.MaxDirSize] bytes, and yields at most
// [Limits.MaxDirEntries] entries; a file has at most [Limits.MaxExtents]
// runs of clusters. The chains followed for the entries of one directory
// have at most as many clusters in all as the volume (more means
// cross-linked chains: the entries past that fail), so no listing costs more
// than one pass over the volume's FAT. Every cluster of a directory belongs
// to the first directory that lists it: a directory whose clusters are
// another's (its parent's, the root's, one listed elsewhere) is left out,
// so the directory graph is a tree. Nothing recurses on image data. No input makes it panic, hang or
// allocate more than these limits allow (fuzzed).
//
// File data is never copied by the reader: [Entry.Extents] gives the byte
// ranges of the image that hold it, and [Entry.ReaderAt] reads them.
//
// # Writing
//
// [OpenVolume] opens a volume read-write ([Volume], [Node]): create, write,
// truncate, rename, unlink, mkdir, rmdir and times, with VFAT long names
// and 8.3 aliases made as Linux's vfat makes them, every FAT copy and
// FSInfo kept right, the dirty mark set while open, and writes ordered so
// that a writer killed at any point leaves at most lost clusters (see
// Volume). It needs the whole FAT in memory and write access to the image;
// `loops mount --rw` serves it through FUSE (blockloop/userfs).
//
// Not supported: FAT32 versions other than 0.0, code pages other than 437
// for 8.3 names, OS/2 extended attributes.
package fat
