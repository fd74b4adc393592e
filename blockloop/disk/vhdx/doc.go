// Package vhdx reads Hyper-V virtual hard disks (VHDX) as an io.ReaderAt
// over the virtual disk, without Hyper-V or qemu. It is what `loops mount
// disk.vhdx` reads through.
//
// It reads (MS-VHDX):
//
//   - the file type identifier "vhdxfile";
//   - the two headers, the valid one (signature "head", CRC-32C) with the
//     higher sequence number;
//   - the region table (CRC-32C; its copy when the first is damaged) with
//     the BAT and metadata regions; an unknown required region is refused;
//   - the metadata items: file parameters (block size, leave blocks
//     allocated, has parent), virtual disk size, logical and physical
//     sector size, page 83 data, the parent locator; an unknown required
//     item is refused;
//   - the BAT, payload entries with a sector bitmap entry after every
//     chunk ratio of them. Payload states: NOT_PRESENT (the parent, else
//     zeros), UNDEFINED, ZERO and UNMAPPED (zeros), FULLY_PRESENT (the
//     block at the entry's offset) and PARTIALLY_PRESENT (differencing
//     disks: the chunk's sector bitmap tells, sector by sector, this file
//     or the parent);
//   - dynamic, fixed and differencing disks; the parent is opened through
//     [Options.Open] by the locator's relative_path (else
//     absolute_win32_path, volume_path) and must carry the data write GUID
//     the locator's parent_linkage names.
//
// A header whose log GUID is not zero has a log that may hold writes not
// yet applied: it is refused with errors.ErrUnsupported ("log must be replayed"),
// since reading around it could return stale data. Opening it once with
// `qemu-img check -r all` or Hyper-V replays it.
//
// # Bounds
//
// The reader is meant for hostile images. Regions must be 1 MiB aligned
// and inside the file; metadata items inside their region; parent locator
// strings inside their item; the BAT (at most [Limits.MaxTableBytes]) is
// read whole at Open; a payload or bitmap block that starts past the end of
// the file is a [*FormatError] when read (one that starts inside and ends
// past it reads as zeros past the end). Differencing chains are at most
// [Limits.MaxParentDepth] deep. No input makes it panic, hang or allocate
// more than these limits allow (fuzzed).
//
// Reads of fully present blocks that follow each other in the file are
// made as one read.
package vhdx
