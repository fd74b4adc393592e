package blockloop

import (
	"github.com/loops-cli/loops/blockloop/layer"
	"strconv"
	"strings"
)

// FSOwner are the owner options of filesystems without owners of their
// own, as mount(8)'s uid=, gid= and umask=; -1 leaves one unset. ISOMap is
// iso9660's map= ("normal", "off"; "" the default, normal): how names of
// an ISO 9660 tree without Rock Ridge or Joliet are shown.
type FSOwner struct {
	UID, GID int
	Umask    int
	ISOMap   string
}

// ownerTypes take uid=, gid= and umask= in the kernel too.
var ownerTypes = map[string]bool{"vfat": true, "exfat": true, "udf": true, "iso9660": true}

// data is o as mount(2) data for a kernel filesystem of type typ.
func (o *FSOwner) data(typ string) []string {
	if o == nil || !ownerTypes[typ] {
		return nil
	}
	var out []string
	if o.UID >= 0 {
		out = append(out, "uid="+strconv.Itoa(o.UID))
	}
	if o.GID >= 0 {
		out = append(out, "gid="+strconv.Itoa(o.GID))
	}
	if o.Umask >= 0 && typ != "iso9660" && typ != "udf" {
		out = append(out, "umask="+strconv.FormatInt(int64(o.Umask), 8))
	}
	if o.ISOMap != "" && typ == "iso9660" {
		out = append(out, "map="+o.ISOMap)
	}
	return out
}

// ServeRequest is what a userspace server is asked to serve.
type ServeRequest struct {
	Image      string // absolute path
	Type       string // "iso9660", "udf", "vfat", "exfat"
	Offset     int64
	SizeLimit  int64
	Mountpoint string
	Label      string
	Owner      FSOwner // -1 fields: the defaults
	// Disk: Image is a VM disk image and the filesystem is in its virtual
	// disk (Offset and SizeLimit there).
	Disk bool
	// RawDisk: serve the virtual disk of the VM disk image as one file,
	// Mountpoint/DiskFile, for a loop device (see DiskFile).
	RawDisk bool
	// ReadWrite: serve a FAT filesystem read-write (--rw).
	ReadWrite bool
	// CompactMtime (an index): the kernel reads compact EROFS inodes' own
	// mtimes (Linux 6.15 and later).
	CompactMtime bool
	// Layers are the layers to open between the image (or virtual disk)
	// and what is served (an encrypted volume); Offset and SizeLimit are
	// then in the top one. Keys are their keys, in order: the server gets
	// them through an inherited pipe, never its command line.
	Layers []layer.Spec
	Keys   [][]byte
	// PVs are the files holding LVM physical volumes the layers name as
	// "fN" (MountOptions.PVs), absolute.
	PVs []string
}

// DiskFile is the file a RawDisk server serves in its mount point.
const DiskFile = "disk.raw"

// DiskFSType is how /proc/self/mountinfo shows a RawDisk server's mount;
// its source is the VM disk image.
const DiskFSType = "fuse.loops-disk"

// UserspaceTypes are the filesystem types loops' userspace readers serve;
// their mounts show in /proc/self/mountinfo as "fuse.TYPE" with the image
// as source.
var UserspaceTypes = []string{"iso9660", "udf", "vfat", "exfat", "ntfs"}

// isUserspace reports whether m is served by loops' userspace reader.
func isUserspace(m MountEntry) bool {
	for _, t := range UserspaceTypes {
		// "fuse.vfat", or "fuse.vfat+luks" read through layers.
		if (m.FSType == "fuse."+t || strings.HasPrefix(m.FSType, "fuse."+t+"+")) && strings.HasPrefix(m.Source, "/") {
			return true
		}
	}
	return false
}

// mountUserspace mounts image through loops' userspace reader: no loop
// device, a FUSE mount served by opts.ServeUserspace. Like Mount, it leaves
// nothing behind on failure. Needs /dev/fuse and, without root, fusermount.
func (h *Host) mountUserspace(abs string, plan Plan, opts MountOptions) (*MountResult, error) {
	if opts.ServeUserspace == nil {
		return nil, opErr("mount", abs, "", "", reasonf(ErrNoDriver, "the userspace path for %s is not available here", plan.Type))
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	for _, m := range mounts {
		if isUserspace(m) && m.Source == abs {
			return nil, opErr("mount", abs, "", "", reasonf(ErrAlreadyMounted, "already mounted at %s (userspace)", m.Mountpoint))
		}
	}
	var dirty bool
	if opts.ReadWrite {
		if dirty, err = h.checkUserspaceRW(abs, plan); err != nil {
			return nil, opErr("mount", abs, "", "", err)
		}
	} else if plan.Type == "vfat" && plan.Disk == nil {
		dirty = imageFATDirty(abs, plan.Offset)
	}
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	m := readOnlyMount(abs, dir, plan, plan.Type+" is a read-only filesystem")
	m.Options = "ro,nosuid,nodev"
	m.Dirty = dirty
	if opts.ReadWrite {
		m.ReadOnly, m.ReadOnlyReason, m.Options = false, "", "rw,nosuid,nodev"
	}
	um := ServeRequest{
		Image: abs, Type: plan.Type, Offset: plan.Offset, SizeLimit: plan.SizeLimit, Mountpoint: dir.path, Label: plan.Label,
		Owner: FSOwner{UID: -1, GID: -1, Umask: -1}, Disk: plan.Disk != nil, ReadWrite: opts.ReadWrite, Layers: plan.stack, Keys: plan.keys, PVs: plan.pvFiles,
	}
	if opts.Owner != nil {
		um.Owner = *opts.Owner
	}
	err = opts.ServeUserspace(um)
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	dir.close()
	return m, nil
}

// readOnlyMount is the MountResult of a read-only mount of plan at dir.
func readOnlyMount(abs string, dir *mountDir, plan Plan, why string) *MountResult {
	if plan.ReadOnlyWhy != "" {
		why = plan.ReadOnlyWhy
	}
	return &MountResult{
		Image: abs, Mountpoint: dir.path, CreatedDir: dir.created, Type: plan.Type, Label: plan.Label, UUID: plan.UUID,
		Partition: plan.Partition, Offset: plan.Offset, SizeLimit: plan.SizeLimit, Plan: plan,
		ReadOnly: true, ReadOnlyReason: why,
	}
}

// UserspaceMounts lists the mounts served by loops' userspace reader, like
// the FUSE lines of `findmnt -t fuse.iso9660`. Needs no privilege.
func (h *Host) UserspaceMounts() ([]MountEntry, error) {
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("list", "", "", h.mountinfo(), err)
	}
	var out []MountEntry
	for _, m := range mounts {
		if isUserspace(m) {
			out = append(out, m)
		}
	}
	return out, nil
}
