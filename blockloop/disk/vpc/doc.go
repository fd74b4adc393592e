// Package vpc reads Microsoft Virtual PC / Hyper-V virtual hard disks
// (VHD, "vpc" in qemu's naming) as an io.ReaderAt over the virtual disk,
// without Windows or qemu. It is what `loops mount disk.vhd` reads
// through.
//
// It reads:
//
//   - the 512-byte footer (cookie "conectix", ones'-complement checksum,
//     which must match, as qemu requires): at byte 0 for dynamic and
//     differencing images (the copy), else in the last 512 bytes of the
//     file (fixed images; also the 511-byte footer of images made before
//     Virtual PC 2004);
//   - fixed images (type 2): the file's bytes from 0, bytes past the end
//     of the file reading as zeros;
//   - dynamic images (type 3): the dynamic header ("cxsparse") at the
//     footer's data offset and its block allocation table (big-endian
//     sector numbers, 0xffffffff unallocated: zeros). Each block is a
//     sector bitmap (padded to 512 bytes) and the block's data; as qemu
//     does, the bitmap of a dynamic image is ignored (an allocated block is
//     its data);
//   - differencing images (type 4): the bitmap tells, sector by sector,
//     this file (bit set, most significant bit first) or the parent
//     (clear); an unallocated block is the parent's. The parent is opened
//     through [Options.Open] by a parent locator: the relative Windows
//     path (W2ru) first, then the absolute one (W2ku), then the parent's
//     Unicode file name from the header; backslashes become slashes. Its
//     footer's UUID must be the one the header names.
//
// The virtual size is qemu's: the CHS geometry (cylinders × heads ×
// sectors × 512) for images made by Virtual PC and by qemu without
// force_size (creator "vpc ", "qemu", or any other), the footer's current
// size for Hyper-V ("win "), qemu with force_size ("qem2"), Disk2vhd
// ("d2v "), XenServer ("tap\0") and XenConverter ("CTXS"), and for images
// whose geometry is the largest CHS can say. At most 2040 GiB, as qemu.
//
// # Bounds
//
// The reader is meant for hostile images. The block size must be a power
// of two from 512 bytes to [Limits.MaxBlockSize]; the BAT (at most
// [Limits.MaxTableBytes]) must lie inside the file and cover the virtual
// size, and every allocated block must lie inside the file (qemu refuses
// such a truncated image too); parent locators are at most 64 KiB and
// inside the file; differencing chains are at most
// [Limits.MaxParentDepth] deep. No input makes it panic, hang or allocate
// more than these limits allow (fuzzed).
package vpc
