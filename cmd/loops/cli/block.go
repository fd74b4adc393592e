package cli

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
)

// blockPrivilege is what attaching, detaching and mounting need.
const blockPrivilege = "root (CAP_SYS_ADMIN: loop devices and mount(2))"

func newBlockCmd(f *Factory) *cobra.Command {
	cmd := groupCmd("block <command>", "Attach, detach, list and probe loop devices",
		`Loop devices show a file (a disk image, an .iso) as a block device
(/dev/loopN), the way 'losetup' does. 'loops mount' uses them for you;
these commands are the parts, for when you want a device without a mount.

Listing and probing need no privilege; attaching and detaching need root.`)
	cmd.Example = `  $ loops block list
  $ loops block probe disk.img
  $ sudo loops block attach --ro disk.img
  $ sudo loops block detach /dev/loop3`
	cmd.AddCommand(
		newBlockListCmd(f, nil),
		newBlockAttachCmd(f, nil),
		newBlockDetachCmd(f, nil),
		newBlockProbeCmd(f, nil),
	)
	return cmd
}

// containerHint is how to open what a container image holds, by blkid's
// type: the tools that assemble, unlock or import it.
func containerHint(ce *blockloop.ContainerError, image string) string {
	loop := fmt.Sprintf("sudo losetup -f --show %s", image)
	if ce.Partition > 0 {
		loop = fmt.Sprintf("sudo loops block attach --offset START --sizelimit SIZE %s, with partition %d's START and SIZE from loops block probe", image, ce.Partition)
	}
	name := ce.Label
	if name == "" {
		name = "NAME"
	}
	switch ce.Type {
	case "LVM2_member":
		hint := fmt.Sprintf("loops mount opens linear and striped LVs itself: sudo loops mount --lv VG/LV %s (loops block probe %s lists them).", image, image)
		if kernelLayers().DeviceMapper {
			hint += fmt.Sprintf("\nOthers (thin, raid, cache...): attach it (%s), then: sudo vgchange -ay --readonly VG; mount /dev/VG/LV.", loop)
		}
		return hint
	case "linux_raid_member":
		hint := fmt.Sprintf("loops mount opens a RAID1 member itself: sudo loops mount %s.", image)
		if kernelLayers().MD {
			hint += fmt.Sprintf("\nOther levels: attach every member (%s), then: sudo mdadm --assemble --readonly /dev/md/%s /dev/loopN...; mount /dev/md/%s.", loop, name, name)
		}
		return hint
	case "crypto_LUKS":
		return fmt.Sprintf("loops mount opens it and asks for the passphrase: sudo loops mount %s", image)
	case "BitLocker":
		if !kernelLayers().DeviceMapper {
			return fmt.Sprintf("Unlock it in userspace with dislocker (this kernel has no device-mapper for cryptsetup): sudo dislocker -V %s -u -- DIR; then sudo mount -o loop,ro DIR/dislocker-file MNT.", image)
		}
		return fmt.Sprintf("Unlock it: sudo cryptsetup open --type bitlk %s %s (or dislocker -V %s -u -- DIR); then mount /dev/mapper/%s.", image, name, image, name)
	case "apfs":
		return fmt.Sprintf("Open it with apfs-fuse: apfs-fuse %s DIR", image)
	case "zfs_member":
		return fmt.Sprintf("Import the pool read-only: sudo zpool import -d %s -o readonly=on %s", image, name)
	case "bcache":
		return fmt.Sprintf("Attach it (%s), then register it: echo /dev/loopN | sudo tee /sys/fs/bcache/register; mount /dev/bcacheN.", loop)
	case "VMFS", "VMFS_volume_member":
		return fmt.Sprintf("Open it with vmfs6-fuse (vmfs-fuse for VMFS 5): vmfs6-fuse %s DIR", image)
	case "cs_fvault2":
		if !kernelLayers().DeviceMapper {
			return "Unlocking FileVault 2 needs cryptsetup and device-mapper, which this kernel lacks: open it on a machine whose kernel has device-mapper (cryptsetup open --type fvault2)."
		}
		return fmt.Sprintf("Unlock it: sudo cryptsetup open --type fvault2 %s %s; then mount /dev/mapper/%s.", image, name, name)
	case "ceph_bluestore":
		return fmt.Sprintf("Read its objects with ceph-objectstore-tool --data-path DIR, or export it: ceph-bluestore-tool show-label --dev %s.", image)
	case "drbd":
		return fmt.Sprintf("Attach it (%s), then bring the resource up on it: sudo drbdadm up RESOURCE (its disk set to /dev/loopN); mount /dev/drbdN.", loop)
	case "drbdmanage_control_volume":
		return "drbdmanage keeps its cluster configuration there; there is nothing to mount."
	case "ubi":
		return fmt.Sprintf("Load it onto simulated flash and attach it: sudo modprobe nandsim; sudo ubiformat /dev/mtd0 -f %s; sudo ubiattach -m 0; then mount -t ubifs /dev/ubi0_0 DIR.", image)
	case "vdo":
		if !kernelLayers().DeviceMapper {
			return "VDO volumes are read through device-mapper's dm-vdo, which this kernel lacks: open it on a machine whose kernel has it (vdo import, then mount its mapper device)."
		}
		return fmt.Sprintf("Attach it (%s), then start it: sudo vdo import --name %s --device /dev/loopN (or lvm_import_vdo); mount /dev/mapper/%s.", loop, name, name)
	case "mpool":
		return fmt.Sprintf("Activate it with the mpool tools (mpool activate %s); it holds an object store, not files.", name)
	}
	if strings.HasSuffix(ce.Type, "_raid_member") {
		return fmt.Sprintf("A firmware RAID member: attach it (%s), then sudo mdadm --assemble --scan, or sudo dmraid -ay.", loop)
	}
	return "loops does not open " + ce.Type + " volumes."
}

// invokingUser is the user root acts for under sudo: automatic mount points
// go under /media/$SUDO_USER, as udisks does.
func invokingUser() (name string, uid, gid int) {
	uid, gid = -1, -1
	if os.Geteuid() != 0 {
		return "", uid, gid
	}
	name = os.Getenv("SUDO_USER")
	if name == "" || name == "root" {
		return "", uid, gid
	}
	if v, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil {
		uid = v
	}
	if v, err := strconv.Atoi(os.Getenv("SUDO_GID")); err == nil {
		gid = v
	}
	return name, uid, gid
}

// kernelLayers is what the running kernel has of device-mapper (which
// `cryptsetup open` and `vgchange -ay` need) and md (`mdadm --assemble`):
// advice that needs one is given only where it can work. A variable for
// tests.
var kernelLayers = func() blockloop.KernelLayers { return (&blockloop.Host{}).KernelLayers() }

func hasDeviceMapper() bool { return kernelLayers().DeviceMapper }

// blockHint adds the advice a person can act on to a blockloop error.
func blockHint(err error, target string) error {
	var ce *blockloop.ContainerError
	switch {
	case err == nil:
		return nil
	case errors.Is(err, blockloop.ErrNoKey):
		return withHint(err, "Check the passphrase; a --key-file is read whole, a final newline included, as cryptsetup reads it.")
	case errors.Is(err, blockloop.ErrLocked):
		return withHint(err, "loops mount asks for the passphrase: sudo loops mount %s (or give it with --key-file FILE)", target)
	case errors.As(err, &ce):
		return withHint(err, "%s", containerHint(ce, target))
	case errors.Is(err, blockloop.ErrChoosePartition) && errors.Is(err, blockloop.ErrChooseLV):
		return withHint(err, "Choose one: sudo loops mount --partition N %s, or an LV: sudo loops mount --lv VG/LV %s\nSee them: loops block probe %s", target, target, target)
	case errors.Is(err, blockloop.ErrChooseLV):
		return withHint(err, "Choose one: sudo loops mount --lv VG/LV %s\nSee them: loops block probe %s", target, target)
	case errors.Is(err, blockloop.ErrNoLV):
		return withHint(err, "See the volume groups and their LVs: loops block probe %s", target)
	case errors.Is(err, blockloop.ErrMissingPV):
		return withHint(err, "Give the files that hold the other PVs (the VG's other disks): sudo loops mount --pv FILE [--pv FILE...] %s", target)
	case errors.Is(err, blockloop.ErrUnsupportedLV) && hasDeviceMapper():
		return withHint(err, "loops reads linear and striped LVs only; lvm2 opens the others: attach the image read-only (sudo losetup -r -f --show %s), then sudo vgchange -ay --readonly VG and mount /dev/VG/LV.", target)
	case errors.Is(err, blockloop.ErrUnsupportedLV):
		return withHint(err, "loops reads linear and striped LVs only, and lvm2 needs device-mapper for the others, which this kernel lacks: open it on a machine that has it.")
	case errors.Is(err, blockloop.ErrUnsupportedMD) && kernelLayers().MD:
		return withHint(err, "loops reads RAID1 members only; the md driver assembles the others: attach every member read-only and run sudo mdadm --assemble --readonly /dev/md/NAME /dev/loopN...")
	case errors.Is(err, blockloop.ErrUnsupportedMD):
		return withHint(err, "loops reads RAID1 members only, and mdadm needs the md driver for the others, which this kernel lacks: open it on a machine that has it.")
	case errors.Is(err, blockloop.ErrNoLoopControl):
		return withHint(err, "Load the loop driver: sudo modprobe loop (in a container, the host must pass /dev/loop-control through).")
	case errors.Is(err, blockloop.ErrBusy):
		return withHint(err, "See what uses it: fuser -vm %s\nOr detach the mount now and let the kernel finish when it is free: sudo loops umount --lazy %s", target, target)
	case errors.Is(err, blockloop.ErrAlreadyMounted):
		return withHint(err, "Unmount it first (sudo loops umount %s), or use the existing mount.", target)
	case errors.Is(err, blockloop.ErrChoosePartition):
		return withHint(err, "Choose one: sudo loops mount --partition N %s\nSee the partitions: loops block probe %s", target, target)
	case errors.Is(err, blockloop.ErrNoPartition):
		return withHint(err, "See the partitions: loops block probe %s", target)
	case errors.Is(err, blockloop.ErrAmbiguous):
		return withHint(err, "Give --type to choose: sudo loops mount --type TYPE %s\nSee the signatures: loops block probe %s", target, target)
	case errors.Is(err, blockloop.ErrUnknownFormat):
		return withHint(err, "If you know the type: sudo loops mount --type TYPE %s", target)
	case errors.Is(err, blockloop.ErrTruncated) && errors.Is(err, blockloop.ErrReadOnlyType):
		return withHint(err, "What there is mounts read-only: drop --rw. To write, get the whole image again (was a download cut short?).")
	case errors.Is(err, blockloop.ErrTruncated):
		return withHint(err, "Get the whole image again (was a download cut short?); loops block probe %s says how much is missing.", target)
	case errors.Is(err, blockloop.ErrReadOnlyType):
		return withHint(err, "It mounts read-only: drop --rw.")
	case errors.Is(err, blockloop.ErrImageReadOnly):
		return withHint(err, "Make the image writable, or drop --rw to mount it read-only.")
	case errors.Is(err, blockloop.ErrReadOnlyDevice):
		return withHint(err, "Mount read-only (--ro), or detach that device first: sudo loops block detach DEVICE")
	case errors.Is(err, blockloop.ErrKernelOnly):
		return withHint(err, "Drop --kernel to let loops serve it in userspace.")
	case errors.Is(err, blockloop.ErrNoUserspaceReader):
		return withHint(err, "--fuse serves %s only; drop --fuse to use the kernel's driver.", strings.Join(userspaceTypeList(), ", "))
	case errors.Is(err, blockloop.ErrEncrypted) && hasDeviceMapper():
		return withHint(err, "Unlock it with cryptsetup open --readonly %s NAME, then mount /dev/mapper/NAME.", target)
	case errors.Is(err, blockloop.ErrEncrypted):
		return withHint(err, "loops cannot open it, and this kernel has no device-mapper, which cryptsetup open needs: copy the image to a machine that has it.")
	case errors.Is(err, blockloop.ErrDiskImage):
		return withHint(err, "See what qemu makes of it: qemu-img info --backing-chain %s; qemu-img check %s", target, target)
	case errors.Is(err, blockloop.ErrDiskReadOnly):
		return withHint(err, "Mount it read-only (drop --rw), or convert it to a raw image to write: qemu-img convert -O raw %s disk.img", target)
	case errors.Is(err, blockloop.ErrUnsupportedImage):
		return withHint(err, "Connect it with qemu-nbd --connect=/dev/nbd0 %s and mount a /dev/nbd0pN, or convert it: qemu-img convert -O raw %s disk.img", target, target)
	case errors.Is(err, blockloop.ErrNoFreeDevice):
		return withHint(err, "Free some: loops block list shows them; sudo loops block detach DEVICE")
	case errors.Is(err, blockloop.ErrCorrupt):
		return withHint(err, "Check the filesystem (for ext4: e2fsck -n IMAGE), and see the kernel's reason: sudo dmesg | tail")
	}
	return err
}
