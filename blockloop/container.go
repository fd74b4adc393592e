package blockloop

import (
	"errors"
	"fmt"

	"github.com/loops-cli/loops/blockloop/probe"
)

// ErrContainer: the image (or partition) is a volume or container that
// holds filesystems, not a filesystem: an LVM physical volume, a RAID
// member, an encrypted volume, an APFS container, a ZFS pool member,
// bcache, VMFS, DRBD, VDO, UBI. loops does not open these; errors.As gives the
// *ContainerError that says which.
var ErrContainer = errors.New("a volume or container, not a filesystem")

// ContainerError says what container an image holds. Type is blkid's
// TYPE ("LVM2_member", "linux_raid_member", "crypto_LUKS", "BitLocker",
// "apfs", "zfs_member", "bcache", "VMFS", "isw_raid_member"...).
type ContainerError struct {
	Type      string
	Label     string // the array, pool or volume name, where there is one
	UUID      string
	Version   string
	Partition int // 0: the whole image
}

// containers describes each container type: what it is, and what has to
// happen before its contents can be mounted. No commands: the CLI adds
// those from Type.
var containers = map[string]struct {
	what, first string
	encrypted   bool
}{
	"LVM2_member":                   {"an LVM2 physical volume", "its volume group must be activated, then a logical volume mounted", false},
	"linux_raid_member":             {"a Linux software RAID (md) member", "the array must be assembled, then mounted", false},
	"crypto_LUKS":                   {"a LUKS encrypted volume", "unlock it first", true},
	"BitLocker":                     {"a BitLocker encrypted volume", "this program cannot unlock BitLocker yet: it must be unlocked first", true},
	"apfs":                          {"an APFS container", "Linux has no APFS driver: a userspace APFS reader can open it", false},
	"zfs_member":                    {"a ZFS pool member", "the pool must be imported", false},
	"bcache":                        {"a bcache backing or cache device", "it must be registered with bcache, then the bcache device mounted", false},
	"VMFS":                          {"a VMware VMFS datastore", "Linux has no VMFS driver: a userspace VMFS reader can open it", false},
	"VMFS_volume_member":            {"a VMware VMFS volume member", "Linux has no VMFS driver: a userspace VMFS reader can open it", false},
	"isw_raid_member":               {"an Intel Matrix (IMSM) firmware RAID member", "the array must be assembled, then mounted", false},
	"ddf_raid_member":               {"an SNIA DDF firmware RAID member", "the array must be assembled, then mounted", false},
	"lsi_mega_raid_member":          {"an LSI MegaRAID firmware RAID member", "the array must be assembled, then mounted", false},
	"via_raid_member":               {"a VIA firmware RAID member", "the array must be assembled, then mounted", false},
	"silicon_medley_raid_member":    {"a Silicon Image Medley firmware RAID member", "the array must be assembled, then mounted", false},
	"nvidia_raid_member":            {"an NVIDIA MediaShield firmware RAID member", "the array must be assembled, then mounted", false},
	"promise_fasttrack_raid_member": {"a Promise FastTrak firmware RAID member", "the array must be assembled, then mounted", false},
	"hpt45x_raid_member":            {"a HighPoint 45x firmware RAID member", "the array must be assembled, then mounted", false},
	"hpt37x_raid_member":            {"a HighPoint 37x firmware RAID member", "the array must be assembled, then mounted", false},
	"adaptec_raid_member":           {"an Adaptec HostRAID firmware RAID member", "the array must be assembled, then mounted", false},
	"jmicron_raid_member":           {"a JMicron firmware RAID member", "the array must be assembled, then mounted", false},
	"cs_fvault2":                    {"an Apple Core Storage volume encrypted with FileVault 2", "unlock it first", true},
	"ceph_bluestore":                {"a Ceph BlueStore OSD device", "its objects are read through Ceph, not mounted", false},
	"drbd":                          {"a DRBD replicated volume's backing device (metadata at its end)", "the DRBD resource must be brought up, then its device mounted", false},
	"drbdmanage_control_volume":     {"a drbdmanage control volume (a DRBD cluster's configuration)", "it holds no filesystem: drbdmanage reads it", false},
	"ubi":                           {"a UBI flash image (UBI volumes on raw NAND flash)", "it must be loaded onto a flash device (real or simulated) and attached with UBI, then its UBIFS volume mounted", false},
	"vdo":                           {"a VDO deduplicated volume's backing device", "the VDO volume must be started, then its device mounted", false},
	"mpool":                         {"an mpool media pool device (an object store)", "it holds no filesystem: it is activated with the mpool tools", false},
}

func (e *ContainerError) Error() string {
	c, ok := containers[e.Type]
	if !ok {
		c.what, c.first = e.Type, "it must be opened first"
	}
	where := "the image"
	if e.Partition > 0 {
		where = fmt.Sprintf("partition %d", e.Partition)
	}
	name := ""
	if e.Label != "" {
		name = fmt.Sprintf(" (%q)", e.Label)
	}
	return fmt.Sprintf("%s is %s%s, not a filesystem: %s", where, c.what, name, c.first)
}

// Unwrap gives ErrContainer, and ErrEncrypted for an encrypted volume.
func (e *ContainerError) Unwrap() []error {
	if containers[e.Type].encrypted {
		return []error{ErrContainer, ErrEncrypted}
	}
	return []error{ErrContainer}
}

// IsContainer tells whether a blkid type is a container loops does not
// mount.
func IsContainer(typ string) bool {
	_, ok := containers[typ]
	return ok
}

// containerPlan returns the *ContainerError for a probe result that is a
// container, or nil.
func containerPlan(p *probe.Result) error {
	if p == nil || !IsContainer(p.Type) {
		return nil
	}
	return &ContainerError{Type: p.Type, Label: p.Label, UUID: p.UUID, Version: p.Version}
}
