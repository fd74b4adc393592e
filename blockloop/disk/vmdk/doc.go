// Package vmdk reads VMware virtual disks (VMDK) as an io.ReaderAt over the
// virtual disk, without a kernel driver or qemu. It is what `loops mount
// disk.vmdk` reads through.
//
// It reads:
//
//   - hosted sparse extents ("KDMV" header, version 1 to 3): grain
//     directory, grain tables (loaded on demand, cached), grains of any
//     power-of-two size; grain table entry 0 is unallocated (zeros, or the
//     parent of a delta link), 1 a zeroed grain;
//   - monolithicSparse (one sparse extent with its descriptor embedded);
//   - streamOptimized: deflate (zlib) compressed grains behind grain
//     markers (LBA, size), with the grain directory either where the header
//     says or, when the header says GD_AT_END, in the footer copy of the
//     header 1024 bytes before the end of the file;
//   - descriptor files ("# Disk DescriptorFile"): monolithicFlat,
//     twoGbMaxExtentFlat, twoGbMaxExtentSparse, vmfs; their FLAT, VMFS,
//     SPARSE and ZERO extents, opened through [Options.Open];
//   - delta links (parentCID, parentFileNameHint): the parent is opened
//     through [Options.Open] and read where the child has no grain.
//
// Not read (errors.ErrUnsupported): ESX "COWD" sparse extents (VMFSSPARSE),
// SESPARSE, raw device mappings (VMFSRDM, VMFSRAW) and compression other
// than deflate.
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read from
// a file is checked against that file's size before use: a table or grain
// pointing past the end is a [*FormatError]. The grain directories (of all
// extents together) are at most [Limits.MaxTableBytes], grain tables kept
// in memory at most [Limits.MaxCacheBytes], grains at most
// [Limits.MaxGrainSize] (the last 8 to 64 decompressed grains are kept, at
// most 8 MiB of them unless 8 grains are more),
// a compressed grain at most twice a grain, descriptor text at most
// [Limits.MaxDescriptorSize], extents at most [Limits.MaxExtents], delta
// links at most [Limits.MaxParentDepth] deep. Nothing recurses on image data
// beyond the parent chain; no input makes it panic, hang or allocate more
// than these limits allow (fuzzed).
//
// Reads coalesce grains that are contiguous in the file into one read of
// the underlying file, keep the last decompressed grains, and decompress
// the grains of a read that spans several in parallel (GOMAXPROCS), whole
// grains straight into the caller's buffer. Grains are inflated with the
// "deflate" decompressor of blockloop/disk/codec (the zlib header is
// checked and skipped, the Adler-32 not checked): compress/flate, or
// github.com/klauspost/compress/flate in a program that links
// blockloop/disk/codec/klauspost (loops' server). Sequential reads of a compressed
// extent (one starting where the last ended) decompress ahead: each makes
// sure the grains of the next 2 MiB are being decompressed into the grain
// cache by up to 4 goroutines (GOMAXPROCS at most), which end when they
// are that far ahead or the reads stop being sequential.
package vmdk
