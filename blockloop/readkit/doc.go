// Package readkit is what loops' format readers share: the error types
// they return (a malformed structure, a limit exceeded; unsupported
// features wrap [errors.ErrUnsupported]), bounded full reads, extents
// and the bookkeeping that keeps a directory graph a tree; for the
// filesystem readers (iso9660, udf, fat, exfat, ntfs, and every later one)
// entry lookup by path, name sanitizing, POSIX modes, code page 437, an
// [io/fs.FS] over a reader's tree ([NewFS]) and a FAT volume's cluster
// chains ([ClusterHeap]); for the VM disk readers the read loop of a
// block-mapped disk and its parent ([ReadBlocks], [Backing]).
//
// It imports only the standard library, like disk/codec and disk/ahead:
// the readers are siblings that never import each other, and this is the
// leaf they have in common. It opens no file and needs no privilege.
package readkit
