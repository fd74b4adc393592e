// Package readkit is what loops' format readers share: the error types
// they return (a malformed structure, a limit exceeded; unsupported
// features wrap [errors.ErrUnsupported]), bounded full reads, extents
// and the bookkeeping that keeps a directory graph a tree, and for the
// filesystem readers (iso9660, udf, fat, exfat, and every later one) entry
// lookup by path, name sanitizing, POSIX modes, code page 437, and an
// [io/fs.FS] over a reader's tree ([NewFS]).
//
// It imports only the standard library, like disk/codec and disk/ahead:
// the readers are siblings that never import each other, and this is the
// leaf they have in common. It opens no file and needs no privilege.
package readkit
