// Package ntfs reads NTFS volumes (Windows disks, Windows VM disks, USB
// drives) from any io.ReaderAt, read-only, without a kernel driver. It is
// what `loops mount` serves through FUSE where the kernel has no ntfs3, for
// users without root, and for volumes Windows left hibernated or dirty.
// Reading needs no privilege; it matches `ntfs-3g -o ro` (with
// streams_interface=xattr), whose output its tests compare with.
//
// It reads:
//
//   - the boot sector: sector size (256..4096), cluster size (large
//     clusters up to 2 MiB included), total sectors, $MFT and $MFTMirr,
//     MFT record and index block sizes, the serial number;
//   - $MFT: its own record (from $MFTMirr when the first copy is damaged:
//     [Info.MFTMirror]), records with their update-sequence fixups checked,
//     attribute lists and extension records, resident and non-resident
//     attributes split across records;
//   - data: run lists (sparse runs and the part past the initialized size
//     read as zeros), LZNT1-compressed files (units of 16 clusters, clusters
//     up to 4 KiB), resident data; files of any size;
//   - directories: $INDEX_ROOT and $INDEX_ALLOCATION (B+ trees of any
//     depth; every node must be in use in $BITMAP, carry its own VCN and be
//     reached once), Win32 and POSIX names (DOS 8.3 aliases left out, names
//     differing only in case kept), the root's system files ($MFT, ...,
//     $Extend) left out as ntfs-3g does;
//   - hard links (one inode: the MFT record number), symbolic links: NTFS
//     symbolic links and junctions (reparse points), WSL symlinks and the
//     Interix symlinks ntfs-3g writes, with the targets ntfs-3g shows
//     (absolute ones below [Options.MountPoint], in .NTFS-3G/ when they
//     leave the volume);
//   - times ($STANDARD_INFORMATION: modification, access, MFT change,
//     creation), the volume label, version and serial, and whether Windows
//     shut the volume down fully ([Info]: the dirty flag, a hiberfil.sys
//     beginning "hibr" or "wake", a $LogFile not clean);
//   - alternate data streams ([Entry.Streams], [Entry.Stream]), which the
//     FUSE server offers as user.* extended attributes as ntfs-3g's
//     streams_interface=xattr does.
//
// Not read: EFS-encrypted data (its reads fail with [ErrEncrypted], which
// matches fs.ErrPermission; the rest of the tree serves), $Secure's ACLs
// (owners are the mounting user's, as for FAT), WOF/deduplicated/cloud
// reparse points (their data fails with [errors.ErrUnsupported]), compression
// with clusters over 4 KiB, $EA, $UsnJrnl. Names are looked up
// case-sensitively, as ntfs-3g does; Windows link targets are resolved
// ignoring case when translated. A relative symbolic link's target is
// shown as stored, "\" made "/", without ntfs-3g's case correction.
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// the image is checked before use: boot sector fields, fixups (a mismatch
// fails the record: a torn write), attribute lengths, run lists (no run
// past the volume, at most [Limits.MaxRuns]), attribute lists (at most
// [Limits.MaxExtRecords] extension records, each naming the file as its
// base), index nodes (each reached once: a loop is an error) and entries,
// LZNT1 chunks (a unit expanding past its size, or a back reference before
// its start, fails). A directory lists at most [Limits.MaxDirEntries]
// entries; a directory listed outside the parent its record names is left
// out, so the directory graph is a tree. A damaged file's DataErr is set
// and the rest of the volume is served. Nothing recurses on image data. No
// input makes it panic, hang or allocate more than these limits allow
// (fuzzed).
//
// Plainly stored data is not copied by the reader: [Entry.Extents] gives
// the byte ranges of the image that hold it, for a server to splice.
package ntfs
