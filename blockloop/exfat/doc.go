// Package exfat reads exFAT images from any io.ReaderAt, without a kernel
// driver. It is what `loops mount` serves through FUSE where the kernel has
// no exfat filesystem.
//
// It reads:
//
//   - the boot region: the boot sector ("EXFAT   ", MustBeZero bytes, the
//     sector and cluster shifts, FAT, cluster heap and root directory
//     positions, all checked) and the boot region checksum (sectors 0-10,
//     checksum sector 11); when the main region fails its checks, the
//     backup region (sectors 12-23) is used;
//   - the FAT in use (the second when the ActiveFat flag says so), a 64 KiB
//     page at a time, cached;
//   - the root directory's critical entries: the allocation bitmap (not
//     needed to read), the up-case table (its compressed form, checked
//     against its checksum, used for name lookups) and the volume label;
//   - directory entry sets: a File entry, its Stream Extension and File Name
//     entries, the SetChecksum checked (a bad set is skipped, the rest of
//     the directory still served); the NoFatChain flag (contiguous
//     allocations) and FAT chains; ValidDataLength (bytes past it read as
//     zeros); files over 4 GiB; directories over one cluster;
//   - timestamps with their 10 ms increments and UTC offsets (when marked
//     valid; otherwise in [Options.Location]).
//
// Names are UTF-16 (surrogate pairs included) served as UTF-8, and looked
// up case-insensitively through the volume's up-case table ([Entry.Child],
// [FS.Lookup]); without a usable table, Unicode simple upper case.
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// the image is checked against the image size before use. A file's
// clusters are exactly those its data length needs; a chain that loops,
// leaves the volume or the image, or ends early, a contiguous run past the
// volume, or a valid data length over the data length makes that file's
// [Entry.DataErr] an error (its reads fail), and the rest of the volume is
// still served. A directory is read whole, at most [Limits.MaxDirSize]
// bytes (the root's chain is followed at most that far), and yields at most
// [Limits.MaxDirEntries] entries; a file has at most [Limits.MaxExtents]
// runs of clusters. The FAT chains followed for the entries of one
// directory, and its contiguous subdirectories, have at most as many
// clusters in all as the volume (more means cross-linked allocations: the
// entries past that fail), so no listing costs more than one pass over the
// volume. Every cluster of a directory belongs to the first directory that
// lists it: a directory whose clusters are another's (its parent's, the
// root's, one listed elsewhere) is left out, so the directory graph is a
// tree. Nothing recurses on image data. No input makes it panic, hang or
// allocate more than these limits allow (fuzzed).
//
// File data is never copied by the reader: [Entry.Extents] gives the byte
// ranges of the image that hold it, and [Entry.ReaderAt] reads them.
//
// Not supported: writing, TexFAT, the allocation bitmap (never needed to
// read), vendor extension entries (skipped), file system revisions other
// than 1.x. Name hashes are not checked (names are compared whole).
package exfat
