package blockloop

import (
	"errors"
	"fmt"
	"github.com/loops-cli/loops/blockloop/layer"
	"io/fs"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/loops-cli/loops/blockloop/probe"
)

// Route is the way an image gets mounted.
type Route string

const (
	// RouteKernel: a loop device and the kernel's own filesystem driver.
	RouteKernel Route = "kernel"
	// RouteUserspace: a loops FUSE server reads the image (UserspaceTypes).
	RouteUserspace Route = "userspace"
	// RouteIndex: loops writes an EROFS index of the image's tree and the
	// kernel's erofs mounts it over the unmodified image (no server).
	RouteIndex Route = "erofs-index"
	// RouteNone: the image cannot be mounted; Plan.Err says why.
	RouteNone Route = "none"
)

// Plan is the mount decision for one image: how, what type, which bytes.
type Plan struct {
	Route     Route
	Type      string // the filesystem type to mount
	Label     string
	UUID      string
	Partition int   // 0: the whole image
	Offset    int64 // bytes: the loop device's offset
	SizeLimit int64 // bytes: the loop device's size limit, 0 for to the end
	// ReadOnly is true when the type is read-only (iso9660, udf, squashfs,
	// erofs): the loop device and the mount are read-only whatever is asked.
	ReadOnly bool
	// ReadOnlyWhy says why when it is not the type: an NTFS volume
	// Windows did not shut down fully.
	ReadOnlyWhy string
	Reason      string // why this route, in one sentence
	Err         error  // for RouteNone: what stops it, wrapping a sentinel
	// Disk is the VM disk image the filesystem is in (qcow2, ...), nil
	// for a plain image; Partition, Offset and SizeLimit are then in its
	// virtual disk.
	Disk *DiskImage
	// Layers is the stack between the image (or virtual disk) and the
	// filesystem when it has layers loops opens (an encrypted volume),
	// partition first; Offset and SizeLimit are then in the top layer.
	Layers []Layer
	// LVs are the LVM logical volumes found on the way, each with what it
	// holds (for probe output and the choice of --lv).
	LVs []LogicalVolume
	// InPlace: the top layer is one run of the image's bytes (a linear
	// LV), which the loop device reads in place at Offset: no server.
	InPlace bool
	// Truncated: the filesystem claims more bytes than the image (or its
	// partition) has: a download cut short, a partition image shorter
	// than its filesystem. It is mounted read-only; reads of what lies
	// past the end fail with EIO. Nil when whole.
	Truncated *Truncation

	stack []layer.Spec // the layers to open, for the server
	keys  [][]byte     // their keys (zeroed once served)
	// pvFiles are the PV files (MountOptions.PVs, absolute) an LVM layer
	// of stack names.
	pvFiles []string
}

// Truncation is how much of a filesystem an image lacks.
type Truncation struct {
	Type   string // the filesystem type whose superblock (or partition entry) says so
	Size   int64  // bytes there are, from the filesystem's start
	FSSize int64  // bytes the filesystem (or its partition) claims
}

// Missing is the number of bytes the image lacks.
func (t *Truncation) Missing() int64 { return t.FSSize - t.Size }

// String says it in one phrase: "12 MiB of 64 MiB missing".
func (t *Truncation) String() string {
	return fmt.Sprintf("%s of %s missing", HumanSize(t.Missing()), HumanSize(t.FSSize))
}

// PlanInput is everything Decide looks at.
type PlanInput struct {
	Probe     *probe.Result
	Kernel    map[string]bool // types in /proc/filesystems
	Loadable  map[string]bool // types whose driver module mount(2) would load
	Userspace map[string]bool // types loops can serve in userspace (e.g. "iso9660")
	Partition int             // partition N; 0 to choose
	Type      string          // the type to mount as; "" to use the probed type
	Backend   Backend         // kernel or userspace required; "" to choose
	// Index: an EROFS index over the image can be mounted (root, erofs in
	// the kernel, a writer at hand) for the types Userspace lists.
	// IndexAsRoot: it could be, as root (for the reason given to others).
	Index, IndexAsRoot bool
	// Disk is what loops read of a VM disk image (Probe.Kind is
	// probe.KindDiskImage); nil: such an image is refused.
	Disk *DiskImage
}

// Backend is the user's choice of path, when they make one.
type Backend string

const (
	BackendAuto   Backend = ""       // the kernel where it has a driver, else userspace
	BackendKernel Backend = "kernel" // never userspace
	BackendFUSE   Backend = "fuse"   // userspace even where the kernel has a driver
)

// kernelAllowed are the types loops hands to the kernel. Never "auto": an
// untrusted image does not get to pick among every driver the kernel has.
var kernelAllowed = map[string]bool{
	"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true,
	"squashfs": true, "erofs": true, "iso9660": true, "udf": true,
	"vfat": true, "exfat": true, "ntfs3": true,
	// Filesystems Linux mounts that blkid names: the kernel route where
	// /proc/filesystems (or a module) has the driver.
	"f2fs": true, "jfs": true, "reiserfs": true, "nilfs2": true, "hfs": true, "hfsplus": true,
	"minix": true, "cramfs": true, "romfs": true, "ufs": true, "gfs2": true, "ocfs2": true,
}

// readOnlyTypes cannot be written.
var readOnlyTypes = map[string]bool{"iso9660": true, "udf": true, "squashfs": true, "erofs": true, "cramfs": true, "romfs": true}

// kernelName maps a blkid type to the kernel's name for its driver.
func kernelName(t string) string {
	if t == "ntfs" {
		return "ntfs3"
	}
	return t
}

// userspaceName maps a kernel driver's name to loops' reader of the type
// (UserspaceTypes): NTFS is "ntfs3" to the kernel, "ntfs" to loops.
func userspaceName(t string) string {
	if t == "ntfs3" {
		return "ntfs"
	}
	return t
}

// Decide chooses how to mount what Probe found: the kernel path when the
// kernel has (or can load) a driver for the type, else the userspace path
// when loops has one, else RouteNone with an error naming what is missing.
// It is a pure function of its input.
func Decide(in PlanInput) Plan {
	p := in.Probe
	if p == nil {
		return nonePlan(ErrUnknownFormat)
	}
	switch p.Kind {
	case probe.KindDiskImage:
		return decideDisk(in)
	case probe.KindCrypto, probe.KindVolume:
		if err := containerPlan(p); err != nil {
			return nonePlan(err)
		}
		return nonePlan(reasonf(ErrContainer, "the image is a %s volume, not a filesystem", p.Type))
	}
	plan, target, err := pickTarget(in)
	if err != nil {
		return nonePlan(err)
	}
	where := "the image"
	if plan.Partition > 0 {
		where = fmt.Sprintf("partition %d", plan.Partition)
	}
	typ, err := checkTarget(in, target, where)
	if err != nil {
		return nonePlan(err)
	}
	plan.Type = kernelName(typ)
	what := where + " holds " + plan.Type
	switch {
	case in.Type != "":
		what = where + " is mounted as " + plan.Type + " (type given)"
	case plan.Type == "udf" && slices.Contains(target.Also, "iso9660"):
		what = where + " is a UDF bridge disc (UDF and ISO 9660 trees)"
		if !in.routable("udf") && in.routable("iso9660") {
			plan.Type = "iso9660"
			what += "; no UDF reader here, so its ISO 9660 tree is mounted"
		}
	}
	plan.ReadOnly = readOnlyTypes[plan.Type]
	if target.Truncated() {
		// Mounted read-only, as the kernel mounts it: what is there reads,
		// reads past the end fail (EIO). The CLI says how much is missing.
		plan.Truncated = &Truncation{Type: typ, Size: target.Size, FSSize: target.FSSize}
		plan.ReadOnly = true
		plan.ReadOnlyWhy = fmt.Sprintf("the image is truncated (%s)", plan.Truncated)
		what += fmt.Sprintf(", truncated (%s)", plan.Truncated)
	}
	if err := chooseRoute(in, &plan, what, where); err != nil {
		return nonePlan(err)
	}
	return plan
}

// pickTarget chooses what to mount: the whole image, or a partition (the
// one asked for, or the only one holding a filesystem).
func pickTarget(in PlanInput) (Plan, *probe.Result, error) {
	p := in.Probe
	if in.Partition > 0 && len(p.Partitions) == 0 {
		if p.PTError != nil {
			return Plan{}, nil, reasonf(ErrNoPartition, "cannot read the partition table: %v", p.PTError)
		}
		return Plan{}, nil, reasonf(ErrNoPartition, "there is no partition table, so no partition %d", in.Partition)
	}
	if p.Kind == probe.KindPartitionTable && len(p.Partitions) == 0 {
		return Plan{}, nil, reasonf(ErrNoMountable, "the %s partition table has no partitions", ptName(p.PTType))
	}
	plan := Plan{Label: p.Label, UUID: p.UUID}
	if len(p.Partitions) == 0 || (p.Kind != probe.KindPartitionTable && in.Partition == 0) {
		return plan, p, nil
	}
	part, err := choosePartition(p, in.Partition)
	if err != nil {
		return Plan{}, nil, err
	}
	if part.FS == nil {
		return Plan{}, nil, reasonf(ErrTruncated, "partition %d starts at byte %d, past the end of the image (%d bytes): the image is truncated",
			part.Number, part.Start, p.Size)
	}
	plan.Label, plan.UUID = part.FS.Label, part.FS.UUID
	plan.Partition, plan.Offset, plan.SizeLimit = part.Number, part.Start, part.Size
	if part.Start+part.Size > p.Size {
		// What there is of it (the probe marked it truncated): the loop
		// device reads up to the image's end.
		plan.SizeLimit = p.Size - part.Start
	}
	return plan, part.FS, nil
}

// checkTarget returns the type to mount target as (the given one, else
// the probed one), or why it cannot be mounted at all.
func checkTarget(in PlanInput, target *probe.Result, where string) (string, error) {
	typ := target.Type
	forced := in.Type != ""
	if forced {
		typ = in.Type
	}
	switch {
	case typ == "":
		if in.Probe.PTError != nil {
			return "", reasonf(ErrCorrupt, "no filesystem recognized, and the partition table is damaged: %v", in.Probe.PTError)
		}
		return "", reasonf(ErrUnknownFormat, "no filesystem recognized in %s", where)
	case !forced && len(target.Ambiguous) > 0:
		return "", reasonf(ErrAmbiguous, "%s carries both %s and %s signatures", where, typ, strings.Join(target.Ambiguous, ", "))
	case !forced && target.Kind == probe.KindSwap:
		return "", reasonf(ErrNoMountable, "%s is swap space, not a filesystem", where)
	}
	return typ, nil
}

// chooseRoute sets plan's route and reason: the kernel where it has the
// driver, else loops' userspace reader, as the backend choice allows.
func chooseRoute(in PlanInput, plan *Plan, what, where string) error {
	t, ut := plan.Type, userspaceName(plan.Type)
	defer func() {
		if plan.Route == RouteUserspace || plan.Route == RouteIndex {
			plan.Type = ut
		}
	}()
	switch {
	case in.Backend == BackendFUSE && in.Userspace[ut]:
		plan.Route, plan.ReadOnly = RouteUserspace, true
		plan.Reason = fmt.Sprintf("%s, served in userspace by loops as asked", what)
	case in.Backend == BackendFUSE:
		return &multiError{msg: fmt.Sprintf("%s, and loops has no userspace reader for %s", what, t), errs: []error{ErrNoUserspaceReader, ErrNoDriver}}
	case kernelAllowed[t] && in.Kernel[t]:
		plan.Route = RouteKernel
		plan.Reason = fmt.Sprintf("%s, and the kernel has a driver for it (%s is in /proc/filesystems)", what, t)
	case kernelAllowed[t] && in.Loadable[t]:
		plan.Route = RouteKernel
		plan.Reason = fmt.Sprintf("%s, and the kernel can load its %s module", what, t)
	case in.Userspace[ut] && in.Index && plan.Truncated != nil:
		// The index would refuse the files past the end; the server
		// serves them, failing their reads past the end with EIO and
		// naming them in its log.
		plan.Route, plan.ReadOnly = RouteUserspace, true
		plan.Reason = fmt.Sprintf("%s; the kernel has no %s driver, and loops reads a truncated image in userspace (FUSE), where reads past the end fail and the server's log names the files", what, t)
	case in.Userspace[ut] && in.Index:
		plan.Route, plan.ReadOnly = RouteIndex, true
		plan.Reason = fmt.Sprintf("%s; the kernel has no %s driver, so loops writes an EROFS index of its tree and the kernel's erofs mounts it over the image", what, t)
	case in.Userspace[ut] && in.Backend != BackendKernel:
		plan.Route, plan.ReadOnly = RouteUserspace, true
		plan.Reason = fmt.Sprintf("%s; the kernel has no %s driver, so loops reads it in userspace (FUSE)", what, t)
		if in.IndexAsRoot {
			plan.Reason += "; as root, loops mounts it through a kernel EROFS index instead"
		}
	case in.Userspace[ut]:
		return &multiError{msg: fmt.Sprintf("%s, and this kernel has no %s driver (not in /proc/filesystems, no module to load); "+
			"loops' userspace reader can serve it, but the kernel was required", what, t), errs: []error{ErrKernelOnly, ErrNoDriver}}
	default:
		return noDriver(t, where, plan.Partition)
	}
	return nil
}

// decideDisk decides for a VM disk image: as for a raw disk image, on its
// virtual disk, always read-only.
func decideDisk(in PlanInput) Plan {
	d := in.Disk
	switch {
	case d == nil:
		return nonePlan(reasonf(ErrUnsupportedImage, "this is a %s disk image, which a loop device cannot read", in.Probe.Type))
	case d.Err != nil:
		p := nonePlan(d.Err)
		p.Disk = d
		return p
	}
	inner := in
	inner.Probe, inner.Disk = d.Inner, nil
	inner.Index, inner.IndexAsRoot = false, false // the data is not in the image file
	plan := Decide(inner)
	plan.Disk = d
	what := fmt.Sprintf("a %s disk image (a %s virtual disk)", d.Format, HumanSize(d.VirtualSize))
	if plan.Route != RouteNone {
		plan.ReadOnly = true
		what += ", read-only"
	}
	plan.Reason = what + ": " + plan.Reason
	return plan
}

func nonePlan(err error) Plan { return Plan{Route: RouteNone, Reason: err.Error(), Err: err} }

// routable tells whether a type has a route under in's backend choice.
func (in PlanInput) routable(t string) bool {
	ut := userspaceName(t)
	kernel := kernelAllowed[t] && (in.Kernel[t] || in.Loadable[t]) || in.Index && in.Userspace[ut]
	switch in.Backend {
	case BackendFUSE:
		return in.Userspace[ut]
	case BackendKernel:
		return kernel
	}
	return kernel || in.Userspace[ut]
}

func ptName(t string) string {
	if t == "dos" {
		return "MBR"
	}
	return strings.ToUpper(t)
}

// noDriver says why where (partition part, or the whole image when 0)
// cannot be mounted as typ.
func noDriver(typ, where string, part int) error {
	if IsContainer(typ) {
		return &ContainerError{Type: typ, Partition: part}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%s holds %s, and this kernel has no %s driver (not in /proc/filesystems, no module to load)", where, typ, typ)
	switch typ {
	case "iso9660":
		b.WriteString("; loops' userspace ISO reader can serve it (FUSE)")
	case "udf":
		b.WriteString("; a kernel with CONFIG_UDF_FS can mount it")
	case "vfat":
		b.WriteString("; a kernel with CONFIG_VFAT_FS can mount it, or use fusefat")
	case "exfat":
		b.WriteString("; a kernel with CONFIG_EXFAT_FS can mount it, or use exfat-fuse")
	case "ntfs3":
		b.WriteString("; a kernel with CONFIG_NTFS3_FS can mount it, or use ntfs-3g")
	case "squashfs3":
		b.WriteString("; squashfs before version 4 is not supported by Linux: unpack it with unsquashfs")
	case "jbd":
		b.WriteString("; it is an external ext3/4 journal, not a filesystem")
	case "xfs_external_log":
		b.WriteString("; it is an external XFS log, not a filesystem: the XFS filesystem that uses it takes it as its log device")
	case "f2fs", "jfs", "reiserfs", "nilfs2", "hfs", "hfsplus", "minix", "cramfs", "romfs", "ufs", "gfs2", "ocfs2":
		fmt.Fprintf(&b, "; a kernel with the %s module (CONFIG_%s_FS) can mount it", typ, kconfigName(typ))
	case "bcachefs":
		b.WriteString("; a kernel with bcachefs (6.7 to 6.17) or the bcachefs DKMS module can mount it")
	case "swsuspend":
		b.WriteString("; it is a hibernation image in swap space, not a filesystem")
	case "hpfs", "befs", "bfs", "vxfs":
		fmt.Fprintf(&b, "; a kernel with the %s module (CONFIG_%s_FS) can mount it (loops does not hand it to the kernel)", typ, kconfigName(typ))
	case "ubifs":
		b.WriteString("; UBIFS lives on a UBI volume on flash, not on a block device: ubiattach the flash image, then mount -t ubifs")
	case "zonefs":
		b.WriteString("; zonefs mounts only a zoned block device (a host-managed SMR or ZNS disk), which a loop device is not")
	case "scoutfs_meta", "scoutfs_data":
		b.WriteString("; scoutfs needs its metadata and data devices together and the scoutfs module")
	case "nss":
		b.WriteString("; Novell Storage Services pools have no Linux driver outside OES")
	}
	return reasonf(ErrNoDriver, "%s", b.String())
}

// kconfigName is the kernel config name of a filesystem driver.
func kconfigName(t string) string {
	switch t {
	case "hfsplus":
		return "HFSPLUS"
	case "reiserfs":
		return "REISERFS"
	}
	return strings.ToUpper(t)
}

// choosePartition picks partition n, or the only one that holds a
// filesystem.
func choosePartition(p *probe.Result, n int) (*probe.Partition, error) {
	if n > 0 {
		for i := range p.Partitions {
			if p.Partitions[i].Number == n {
				part := &p.Partitions[i]
				if part.Container {
					return nil, reasonf(ErrNoPartition, "partition %d is an extended partition that holds other partitions: choose one of those", n)
				}
				return part, nil
			}
		}
		return nil, reasonf(ErrNoPartition, "there is no partition %d; the %s table has %s", n, ptName(p.PTType), describePartitions(p.Partitions))
	}
	var mountable []*probe.Partition
	for i := range p.Partitions {
		part := &p.Partitions[i]
		// A container loops opens (an encrypted volume) counts: it holds one.
		if part.FS != nil && (part.FS.Kind == probe.KindFilesystem || opensLayer(part.FS.Type)) {
			mountable = append(mountable, part)
		}
	}
	switch len(mountable) {
	case 1:
		return mountable[0], nil
	case 0:
		return nil, reasonf(ErrNoMountable, "no partition holds a filesystem loops recognizes; the %s table has %s",
			ptName(p.PTType), describePartitions(p.Partitions))
	}
	return nil, reasonf(ErrChoosePartition, "%d partitions hold a filesystem: %s; choose one",
		len(mountable), describePartitions(p.Partitions))
}

// describePartitions lists partitions in one line: "1 (ext4 \"boot\", 32 MiB), 2 (…)".
func describePartitions(ps []probe.Partition) string {
	if len(ps) == 0 {
		return "no partitions"
	}
	sorted := append([]probe.Partition(nil), ps...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Number < sorted[j].Number })
	var parts []string
	for _, p := range sorted {
		what := "no filesystem"
		switch {
		case p.Container:
			what = "extended"
		case p.FS == nil:
			what = "past the end of the image"
		case p.FS.Type != "":
			what = p.FS.Type
			if p.FS.Label != "" {
				what += fmt.Sprintf(" %q", p.FS.Label)
			}
		}
		parts = append(parts, fmt.Sprintf("%d (%s, %s)", p.Number, what, HumanSize(p.Size)))
	}
	return strings.Join(parts, ", ")
}

// HumanSize formats a byte count in binary units: "32 MiB", "1.5 GiB".
func HumanSize(n int64) string {
	const unit = 1024
	if n < unit {
		return fmt.Sprintf("%d B", n)
	}
	div, exp := int64(unit), 0
	for m := n / unit; m >= unit; m /= unit {
		div *= unit
		exp++
	}
	v := float64(n) / float64(div)
	s := fmt.Sprintf("%.1f", v)
	s = strings.TrimSuffix(s, ".0")
	return s + " " + string("KMGTPE"[exp]) + "iB"
}

// unwrapPath drops the *fs.PathError layer (our Error names the path).
func unwrapPath(err error) error {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

func notRegular(m fs.FileMode) error {
	switch {
	case m.IsDir():
		return reasonf(ErrNotRegular, "is a directory, not an image file")
	case m&os.ModeDevice != 0:
		return reasonf(ErrNotRegular, "is a device, not an image file: mount it directly with mount(8)")
	}
	return reasonf(ErrNotRegular, "is not a regular file (%s)", m.Type())
}
