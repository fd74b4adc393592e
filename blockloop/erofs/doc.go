// Package erofs writes an EROFS metadata index over an existing image:
// a small filesystem image (superblock, inodes, directories, chunk maps)
// whose file data stays where it is, in the unmodified image given to the
// kernel as EROFS device 1 (mount -t erofs -o ro,device=IMAGE INDEX DIR).
// The kernel then reads the image's files at its own speed, with no
// driver for the image's filesystem and no server process, as
// mkfs.erofs --tar=i does for tar files.
//
// The caller describes the tree (Node: names, owners, modes, times, links
// and where each file's bytes are in the image); Write picks a block size,
// lays the index out and writes it. Bytes that are not block-addressable
// in the image (a file starting mid-block, data a format embeds in its
// metadata) are copied into the index. Write checks the description
// first: no index it writes points outside the image.
//
// The format is the kernel's fs/erofs/erofs_fs.h. Writing needs no
// privilege; mounting the result needs root (mount(2)).
package erofs
