// Package udf reads UDF images (ECMA-167 3rd edition, OSTA UDF 1.02 to
// 2.60) from any io.ReaderAt, without a kernel driver: Windows installer
// and DVD-Video bridge discs, Blu-ray discs, packet-written and mkudffs
// volumes. It is what `loops mount` serves through FUSE where the kernel
// has no udf filesystem.
//
// It reads:
//
//   - the volume recognition sequence from byte 32768 (BEA01, NSR02 or
//     NSR03, TEA01, after any ISO 9660 descriptors and their terminator;
//     [Detect] reports it for the prober);
//   - the anchor volume descriptor pointer at block 256, N-257 or N-1 of the
//     image, for every logical block size ECMA-167 allows (2048, 512, 4096,
//     then 1024, 8192, 16384 and 32768: the tag location tells), with every
//     descriptor tag checked (checksum, CRC-16, location);
//   - the main volume descriptor sequence, else the reserve one, in any
//     order, through volume descriptor pointers, up to the terminator; the
//     prevailing primary, partition and logical volume descriptors;
//   - partition maps of type 1 and of type 2: sparable partitions (packets
//     remapped through the first valid sparing table), metadata partitions
//     (the metadata file, else its mirror) and virtual partitions (the VAT
//     of UDF 1.50 or 2.00+, found in the last 32 blocks of the image);
//   - the file set descriptor and the root directory;
//   - File Entries and Extended File Entries, reached through indirect
//     entries (ICB strategy 4096: the entry the chain of indirect entries
//     ends at is used), with short_ad, long_ad and ext_ad allocation
//     descriptors continued by allocation extent descriptors, extents
//     allocated but not recorded (or not allocated) read as zeros, and data
//     embedded in the entry;
//   - File Identifier Descriptors, read from the directory's data as one
//     stream (they may straddle blocks); deleted ones, the parent one and,
//     unless [Options.Unhide], hidden ones are left out, as Linux does;
//   - names in OSTA CS0: compression id 8 and 254 (Latin-1), 16 and 255
//     (UTF-16 big endian); "/" and NUL in a name become "_";
//   - permissions (read, write, execute of owner, group and other; the
//     change-attribute and delete bits have no POSIX meaning), setuid,
//     setgid and sticky from the ICB flags, uid and gid ("not set" when
//     0xFFFFFFFF), the link count, times with their time zone;
//   - symbolic links (path components: root, parent, current, names);
//   - hard links: identifiers naming one ICB give entries with one
//     [Entry.Ino].
//
// It does not read: named streams and extended attributes (so no device
// numbers), multi-session VAT history, ICB strategies other than 4 and 4096
// beyond following indirect entries, multi-volume sets, and
// strategy-4096 entry sequences written in place (the first entry found is
// used). Partition maps of other types, and a logical block size that
// differs from the sector size the anchor was found at, wrap ErrUnsupported.
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// the image is checked against the image and partition sizes before use;
// descriptors are read at most [Limits.MaxVDSDescriptors] per sequence,
// pointers included; indirect entries are followed at most
// [Limits.MaxICBHops] times and allocation extent descriptors
// [Limits.MaxAEDHops] times per file and four times that for all the files
// of one directory (a chain that comes back is an error); mapping a file's
// extents through its partition takes at most [Limits.MaxMapSteps] steps
// (four times that for one directory); a file has at most
// [Limits.MaxExtents] extents; a directory is read whole,
// at most [Limits.MaxDirSize] bytes and [Limits.MaxDirEntries] identifiers;
// sparing tables and the VAT are at most [Limits.MaxTableSize] bytes; link
// targets at most [Limits.MaxSymlinkSize]. A directory ICB belongs to the
// first directory that lists it and is never the directory itself nor the
// root, so the directory graph is a tree: no loops, no directory reachable
// twice. A file entry is read once however many identifiers name it, so
// memory grows with the image, not with the names pointing into it.
// Nothing recurses on image data. No input makes it panic, hang or
// allocate more than these limits allow (fuzzed).
//
// File data is never copied by the reader: [Entry.Extents] gives the byte
// ranges of the image that hold it (and the ranges that read as zeros), and
// [Entry.ReaderAt] reads them.
package udf
