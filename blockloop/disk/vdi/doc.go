// Package vdi reads VirtualBox disk images (VDI) as an io.ReaderAt over the
// virtual disk, without VirtualBox or qemu. It is what `loops mount
// disk.vdi` reads through.
//
// It reads the VDI 1.1 header (after the "<<< ... >>>" text, signature
// 0xbeda107f), dynamic ("normal", type 1) and static ("fixed", type 2)
// images, and differencing images (type 4) whose parent is opened through
// [Options.Open] by UUID, since VDI records no parent file name. The block
// map gives each block's index in the data area: 0xffffffff is unallocated
// (zeros, or the parent's data), 0xfffffffe a discarded block (zeros).
// Blocks of any multiple of 512 bytes (VirtualBox and qemu use 1 MiB), and
// blocks with extra data in front, are read.
//
// Not read (errors.ErrUnsupported): header versions other than 1.1, undo images
// (type 3), sector sizes other than 512.
//
// # Bounds
//
// The reader is meant for hostile images. The block map (at most
// [Limits.MaxTableBytes]) must lie inside the file; a block that starts
// past the end of the file is a [*FormatError] when read (one that starts
// inside and ends past it reads as zeros past the end, as qemu does);
// blocks are at most [Limits.MaxBlockSize]; differencing chains at most
// [Limits.MaxParentDepth] deep. No input makes it panic, hang or allocate
// more than these limits allow (fuzzed).
//
// Reads of blocks that follow each other in the file are made as one read.
package vdi
