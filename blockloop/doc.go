// Package blockloop shows a regular file (a disk image: ext4, xfs, btrfs,
// squashfs, erofs, a partitioned disk, an .iso) as a block device through a
// Linux loop device, and mounts it. It is what `losetup` and `mount -o loop`
// do, with the races and leaks of both taken care of. It is not the network
// loopback (package netloop).
//
// The pieces, from pure to privileged:
//
//   - Package probe ([probe.Image], [probe.File]) reads an image's
//     superblocks (like `blkid -p IMAGE`): type, label, UUID, and for a
//     partitioned disk its MBR or GPT partitions, each probed in turn.
//     [Host.PlanMount] probes and decides in one call. Both need only read
//     access to the image.
//   - [Decide] is the mount decision, a pure function: the kernel path when
//     the kernel has a driver for the type, else a userspace path when loops
//     has a reader (as root where the kernel has erofs: an EROFS index of the
//     tree the kernel mounts over the image; else a FUSE server), else an
//     error naming the missing driver. It returns a [Plan].
//   - [Host] holds the kernel paths (/proc/filesystems, /proc/self/mountinfo,
//     /sys/block, /dev/loop-control, /media) so tests can point them
//     elsewhere. Its zero value uses the real ones.
//   - [Host.List] lists loop devices (like `losetup --list`) and needs no
//     privilege.
//   - [Host.Attach], [Host.Detach], [Host.Mount] and [Host.Unmount] need
//     root (CAP_SYS_ADMIN). Attach uses LOOP_CONFIGURE with autoclear set
//     at configure time and retries the free-device race; Detach checks that
//     the device still backs the file it was asked about.
//
// Below it: the prober (probe), the format readers (iso9660, udf, fat,
// exfat, ntfs) and their kit (readkit), the VM disk readers (disk), the
// layers (layer: luks, lvm, md), the EROFS index writer (erofs), the FUSE
// server (userfs) and the kernel-file helpers (kernfile);
// docs/architecture.md maps them.
//
// Errors are [*Error] values that name the image, device or directory and
// wrap the cause, so errors.Is works with the sentinels below and with
// errno values (unix.EPERM, unix.EBUSY, fs.ErrNotExist).
//
// Example:
//
//	var h blockloop.Host
//	m, err := h.Mount("/srv/disk.img", blockloop.MountOptions{})
//	if err != nil { ... }
//	fmt.Println(m.Device, m.Mountpoint)
//	_, err = h.Unmount(m.Mountpoint, blockloop.UnmountOptions{})
package blockloop
