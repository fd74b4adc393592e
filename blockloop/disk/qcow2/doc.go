// Package qcow2 reads qcow2 disk images (qemu's docs/interop/qcow2.txt) as
// their virtual disk: an [Image] is an io.ReaderAt over the guest's view,
// from any io.ReaderAt holding the image file, without qemu, nbd or a
// kernel driver. It is what `loops` serves a qcow2 image through. It never
// writes and never prints.
//
// It reads:
//
//   - version 2 and 3 headers: header_length, the incompatible, compatible
//     and autoclear feature bits, the header extensions (backing format,
//     feature name table; others are skipped) and the backing file name;
//   - cluster sizes from 512 bytes to 2 MiB (cluster_bits 9..21);
//   - the L1 table (read whole at Open: the entries the virtual size
//     needs) and L2 tables (read on demand, kept in an LRU cache);
//   - standard clusters, the version 3 "reads as zeros" flag (also with a
//     preallocated host cluster), unallocated clusters (from the backing
//     file, or zeros when there is none, and zeros past the end of a
//     backing file shorter than the image);
//   - compressed clusters: zlib (raw deflate) and zstd (incompatible bit 3
//     with compression_type 1), with the decompressors registered in
//     blockloop/disk/codec: compress/flate for zlib by default, none for
//     zstd; a program that links blockloop/disk/codec/klauspost (loops'
//     server) reads both with github.com/klauspost/compress, whose flate
//     takes a fifth less CPU here. The compressed length in the L2
//     entry is a sector-count upper bound: the data may end before it, and
//     another cluster's data may follow; decompression stops at one
//     cluster;
//   - extended L2 entries (incompatible bit 4): 32 subclusters per
//     cluster, each allocated, zero, or unallocated (from the backing
//     file);
//   - the dirty (bit 0) and corrupt (bit 1) bits: the image is read as its
//     tables map it, with a warning in [Info].
//
// It refuses, at Open:
//
//   - encrypted images (crypt_method 1, AES, or 2, LUKS): [ErrEncrypted];
//   - the external data file bit (2) and any unknown incompatible bit:
//     [*UnsupportedFeatureError], with the names the image's feature name
//     table gives them;
//   - qcow version 1, versions over 3, compression types other than zlib
//     and zstd: [errors.ErrUnsupported];
//   - a compression type this program has no decompressor for (zstd
//     without blockloop/disk/codec/klauspost): an error matching
//     codec.ErrMissing that names it;
//   - malformed headers and L1 tables: [*FormatError] with the byte offset
//     in the file.
//
// Malformed L2 tables and entries (unaligned or out of the file, invalid
// subcluster bitmaps, compressed data that does not inflate to one
// cluster) are reported by ReadAt and Map as a [*FormatError] for the
// reads that need them. Internal snapshots, refcounts and bitmaps are
// ignored: reading needs none of them.
//
// # Backing files
//
// [Options.Backing] opens the backing file named in the header (the name
// as stored, usually relative to the overlay's directory, and the format
// from the header extension). The caller resolves the path, opens the
// format (another [Image] for a qcow2 backing file) and bounds the chain's
// depth and cycles: this package opens no files. Without it, reads of
// clusters the image does not hold fail with [ErrNoBacking].
//
// # Bounds
//
// The reader is meant for hostile images. Every offset and length read
// from the image is checked against the file size and the spec's limits
// before use: the header fits in the first cluster, the backing file name
// is at most 1023 bytes and the backing format 15, header extensions stay
// inside the first cluster (so their loop runs at most cluster/8 times),
// the L1 table lies inside the file and has at most [Limits.MaxL1Entries]
// entries, L2 tables are cluster-aligned and inside the file, data
// clusters start inside the file (a cluster cut by the end of the file
// reads as zeros past it, as qemu reads it), compressed data is read only
// up to the end of the file (at most two clusters) and must inflate to
// exactly one cluster, and a zstd frame's window is at most 8 MiB
// (codec.MaxZstdWindow, which a zstd decompressor must enforce). The L2
// cache holds at most [Limits.MaxCacheBytes] of tables and the
// decompressed-cluster cache [Limits.MaxClusterCacheBytes]. Every loop
// walks a range of the request or of one cluster: nothing recurses on
// image data, and no input makes it panic, hang or allocate beyond these
// bounds (fuzzed).
//
// # Speed
//
// ReadAt coalesces clusters that are contiguous in the file (and runs of
// backing-file clusters) into one ReadAt, reads the compressed data of
// consecutive compressed clusters at once and inflates whole clusters in
// parallel (up to GOMAXPROCS), straight into the caller's buffer, with
// pooled decompressors and buffers; reads of part of a compressed cluster
// go through a small cache of decompressed clusters (concurrent readers of
// one cluster decompress it once). Sequential reads (one starting where
// the last ended) decompress ahead: each makes sure that the compressed
// clusters of the next 4 MiB (at most half the cluster cache) are being
// decompressed into the cache by up to 4 goroutines (GOMAXPROCS at most),
// which end when they are that far ahead or the reads stop being
// sequential; no goroutine runs between reads for longer than that. [Image.Map] tells which ranges are stored
// uncompressed in the file, so that a server can read them directly.
package qcow2
