// Package iso9660 reads ISO 9660 images (ECMA-119) with their Rock Ridge
// and Joliet extensions, from any io.ReaderAt, without a kernel driver. It is
// what `loops mount image.iso` serves through FUSE where the kernel has no
// iso9660 filesystem.
//
// It reads:
//
//   - the volume descriptor set: the primary volume descriptor (PVD), a
//     Joliet supplementary volume descriptor (SVD) and the terminator. A UDF
//     volume recognition sequence without a PVD is reported as a
//     [*UDFOnlyError];
//   - directory records, sector by sector, with multi-extent files (files
//     over 4 GiB, recorded as consecutive records with the multi-extent flag)
//     merged into ONE [Entry] whose data is the concatenation of its extents;
//   - SUSP and Rock Ridge: PX (mode, nlink, uid, gid, serial), NM (long
//     names, continued), SL (symlink targets, continued), TF (timestamps),
//     PN (device numbers), CE (continuation areas), CL/PL/RE (directories
//     relocated because they were deeper than 8 levels are shown at their
//     original place and the relocation directory is hidden);
//   - Joliet names (UCS-2 big endian), used when there is no Rock Ridge;
//   - plain ISO 9660 names as the kernel shows them ([Options].Map: by
//     default lower case, without ";1"; as stored with [MapOff]);
//   - the path table ([Image.PathTable]), cross-checked by [Image.Check].
//
// Images made with isohybrid (an MBR in the system area) are read like any
// other: the system area is never interpreted.
//
// The tree chosen is Rock Ridge when the primary tree has it, else Joliet,
// else the plain primary tree ([Image.Tree]).
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// the image is checked against the image size before use; directories are
// read whole, at most [Limits.MaxDirSize] bytes, and yield at most
// [Limits.MaxDirEntries] entries; continuation areas are followed at most
// [Limits.MaxCEHops] times per record and [Limits.MaxSUSPBytes] in total;
// a multi-extent file has at most [Limits.MaxExtents] extents; names and
// symlink targets are capped. A directory extent belongs to the first
// directory that lists it, and never to itself or to the root (the ".."
// records cannot be trusted: libisofs writes a Joliet ".." pointing at the
// directory itself), so the directory graph is a tree: no loops, no
// directory reachable twice. Nothing recurses on image data. No input makes
// it panic, hang or allocate more than these limits allow (fuzzed).
//
// File data is never copied by the reader: [Entry.Extents] gives the byte
// ranges of the image that hold it, and [Entry.ReaderAt] reads them.
package iso9660
