package cli

import (
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/iso9660"
)

type mountOptions struct {
	IO         *IOStreams
	Host       func() *blockloop.Host
	Image      string
	Mountpoint string
	ReadOnly   bool
	ReadWrite  bool
	Partition  int
	Offset     int64
	SizeLimit  int64
	Type       string
	FUSE       bool
	Kernel     bool
	Options    string // -o uid=N,gid=N,umask=OOO,map=normal|off
	Owner      *blockloop.FSOwner
	KeyFile    string
	LV         string
	PVs        []string
	JSON       bool
}

func newMountCmd(f *Factory) *cobra.Command { return newMountCmdWith(f, nil) }

func newMountCmdWith(f *Factory, runF func(*mountOptions) error) *cobra.Command {
	opts := &mountOptions{IO: f.IO, Host: f.Block}
	cmd := &cobra.Command{
		Use:   "mount <image> [<mountpoint>]",
		Short: "Mount a disk image through a loop device",
		Long: `Mount a disk image through a loop device, like 'mount -o loop', and
print the mount point: a filesystem image (ext2/3/4, xfs, btrfs, squashfs,
erofs, ISO 9660, UDF, FAT, exFAT, NTFS), a partition of an MBR or GPT disk image
(--partition N), or a VM disk image (qcow2, vmdk, vhdx, vdi, vhd).

loops first reads the image to learn what it holds (as blkid does), then
takes the kernel path when the kernel has a driver for it. Where it has
none, ISO 9660, UDF, FAT, exFAT and NTFS are still mounted by the kernel when it
has erofs and loops runs as root: loops writes an EROFS index of the
image's tree (names, owners, modes, times, where each file's bytes are) and
the kernel's erofs mounts it over the unmodified image, read-only, with no
server and no loop device; the index goes with the mount. Otherwise (not
root, no erofs, or --fuse) they are served in userspace: a loops server
reads the image through FUSE, read-only, and exits when the image is
unmounted (--kernel forbids that path). A VM disk image
is read by loops too: its virtual disk is served through FUSE and the
kernel mounts the partition from a loop device on it, read-only.
A LUKS1 or LUKS2 encrypted image or partition is opened by loops too, in
userspace (no device-mapper): it asks for the passphrase on the terminal
without echo (three tries), or reads it from --key-file FILE (the whole
file, as cryptsetup's --key-file; - for stdin), decrypts the volume and
mounts the filesystem inside read-only, the plaintext reachable by root
only. So are LVM2 logical volumes (--lv VG/LV, or the only one holding a
filesystem; PVs on other disks with --pv FILE; the host's LVM never sees
them) and md RAID1 members, and stacks of them (LVM in LUKS, LUKS in LVM).
Other containers (BitLocker, ZFS, thin or raid LVs...) and types loops
cannot read fail with what to use instead, and nothing is attached.
'loops block probe IMAGE' shows the decision without mounting.

Without <mountpoint>, the image is mounted at /media/LABEL (under
/media/$SUDO_USER/ when run through sudo), LABEL being the volume label or
else the image's name; "/", "\" and control characters become "_", and a
taken name gets a number (LABEL1, LABEL2). loops creates that directory and
'loops umount' removes it. A given <mountpoint> must be an empty directory,
or not exist yet (then loops creates it, and removes it at umount).

Mounts are always nosuid,nodev. ISO 9660, UDF, squashfs, erofs, the
userspace mounts and VM disk images are read-only; others are read-write
unless --ro is given or the image file is not writable (then loops says
so). FAT is served read-write in userspace with --rw (where the kernel has
no vfat driver, or by a user who is not root): the image must be writable
by you, is locked against a second read-write mount, and is marked dirty
until 'loops umount' has written everything; exFAT stays read-only. Files of filesystems without owners (FAT, exFAT, plain ISO 9660, UDF
without owners) belong to the mounting user; -o uid=N,gid=N,umask=OOO
changes that, as mount -o does for vfat. A plain ISO 9660 tree (no Rock
Ridge, no Joliet) shows its names as the kernel does: lower case, without
";1" (-o map=off keeps them as stored).

LOOPS_MEDIA_DIR replaces /media as the base of automatic mount points.
Needs root; a userspace mount also works as a user where FUSE lets users
mount (/dev/fuse open to them, fusermount3 installed), on a directory of
theirs.`,
		Example: `  $ sudo loops mount disk.img
  /media/My Data
  $ sudo loops mount --ro rootfs.squashfs /mnt/root
  $ sudo loops mount --partition 2 sdcard.img
  $ sudo loops mount --partition 3 encrypted-laptop.img
  $ sudo loops mount --key-file - usbkey.img < passphrase.txt
  $ cd "$(sudo loops mount disk.img)"`,
		Annotations: map[string]string{privilegeAnnotation: blockPrivilege},
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) < 1 || len(args) > 2 {
				return flagErrorf("%s takes an image and an optional mount point (got %d argument(s))", cmd.CommandPath(), len(args))
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Image = args[0]
			if r, ok := mountTargetMisdirected(opts.Image); ok {
				return fmt.Errorf("%s.\nDid you mean: %s", r.why, r.meant)
			}
			if len(args) == 2 {
				opts.Mountpoint = args[1]
			}
			if opts.ReadOnly && opts.ReadWrite {
				return flagErrorf("--ro and --rw contradict each other")
			}
			if opts.FUSE && opts.Kernel {
				return flagErrorf("--fuse and --kernel contradict each other")
			}
			if opts.Partition < 0 || opts.Offset < 0 || opts.SizeLimit < 0 {
				return flagErrorf("--partition, --offset and --sizelimit cannot be negative")
			}
			if opts.Partition > 0 && (cmd.Flags().Changed("offset") || cmd.Flags().Changed("sizelimit")) {
				return flagErrorf("--partition picks the offset and size limit itself: give either --partition or --offset/--sizelimit")
			}
			owner, err := parseOwnerOptions(opts.Options)
			if err != nil {
				return err
			}
			opts.Owner = owner
			if runF != nil {
				return runF(opts)
			}
			return mountRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.BoolVar(&opts.ReadOnly, "ro", false, "mount read-only")
	fl.BoolVar(&opts.ReadWrite, "rw", false, "mount read-write, or fail (no read-only fallback)")
	fl.IntVar(&opts.Partition, "partition", 0, "mount partition `N` of a partitioned image")
	fl.Int64Var(&opts.Offset, "offset", 0, "mount what starts at this byte `offset`")
	fl.Int64Var(&opts.SizeLimit, "sizelimit", 0, "use at most this many `bytes` from the offset")
	fl.StringVar(&opts.Type, "type", "", "mount as filesystem `type` instead of the probed one")
	fl.BoolVar(&opts.FUSE, "fuse", false, "serve the image in userspace (ISO 9660, UDF, FAT, exFAT, NTFS) even where the kernel has a driver")
	fl.BoolVar(&opts.Kernel, "kernel", false, "use the kernel's driver only, never the userspace reader")
	fl.StringVarP(&opts.Options, "options", "o", "", "`options` as mount -o: uid=N,gid=N,umask=OOO for filesystems without owners (vfat, exfat, ntfs, udf, plain iso9660), map=normal|off for iso9660 names")
	fl.StringVar(&opts.KeyFile, "key-file", "", "read an encrypted volume's passphrase from `file` (the whole file; - for stdin) instead of asking")
	fl.StringVar(&opts.LV, "lv", "", "mount the LVM logical volume `VG/LV` (the only one holding a filesystem when not given)")
	fl.StringArrayVar(&opts.PVs, "pv", nil, "a `file` holding another LVM physical volume of the image's volume group (repeatable)")
	fl.BoolVar(&opts.JSON, "json", false, "print the mount as JSON")
	return cmd
}

// mountJSON is the --json document of `loops mount`.
type mountJSON struct {
	Schema     int    `json:"schema"`
	Image      string `json:"image"`
	Device     string `json:"device"`
	Mountpoint string `json:"mountpoint"`
	Backend    string `json:"backend"`
	FSType     string `json:"fstype"`
	Label      string `json:"label"`
	UUID       string `json:"uuid"`
	Partition  int    `json:"partition"`
	Offset     int64  `json:"offset"`
	SizeLimit  int64  `json:"sizelimit"`
	RO         bool   `json:"ro"`
	ROReason   string `json:"ro_reason,omitempty"`
	Options    string `json:"options"`
	CreatedDir bool   `json:"created_dir"`
	Reused     bool   `json:"reused_device"`
	Reason     string `json:"reason"`
	Dirty      bool   `json:"dirty,omitempty"`
	// Truncated: the image lacks part of the filesystem (mounted
	// read-only; reads past its end fail).
	Truncated *truncatedJSON `json:"truncated,omitempty"`
	// Layers is the stack loops opened between the image and the
	// filesystem (an encrypted volume), partition first.
	Layers []blockloop.Layer `json:"layers,omitempty"`
}

func mountRun(opts *mountOptions) error {
	user, uid, gid := invokingUser()
	pass := newPassphrase(opts.KeyFile, opts.IO.In, opts.Image)
	m, err := opts.Host().Mount(opts.Image, blockloop.MountOptions{
		Passphrase: pass.get, PassphraseTries: pass.tries(), LV: opts.LV, PVs: opts.PVs,
		Mountpoint: opts.Mountpoint, ReadOnly: opts.ReadOnly, ReadWrite: opts.ReadWrite,
		Partition: opts.Partition, Offset: opts.Offset, SizeLimit: opts.SizeLimit, Type: opts.Type,
		User: user, UID: uid, GID: gid, Owner: opts.Owner,
		Backend: mountBackend(opts.FUSE, opts.Kernel), Userspace: userspaceTypes, ServeUserspace: startUserspaceServer, WriteIndex: writeIndex,
	})
	if err != nil {
		return blockHint(err, opts.Image)
	}
	var trunc *truncatedJSON
	if t := m.Plan.Truncated; t != nil {
		trunc = &truncatedJSON{Size: t.Size, FSSize: t.FSSize, Missing: t.Missing()}
		if m.Plan.Route == blockloop.RouteUserspace {
			trunc.Log = serverLogPath(m.Mountpoint)
		}
	}
	if opts.JSON {
		if trunc != nil {
			warnTruncated(opts.IO.ErrOut, m.Plan.Truncated, trunc.Log)
		}
		return writeJSON(opts.IO.Out, mountJSON{
			Schema: schemaVersion, Image: m.Image, Device: m.Device, Mountpoint: m.Mountpoint,
			Backend: string(m.Plan.Route), FSType: m.Type, Label: m.Label, UUID: m.UUID,
			Partition: m.Partition, Offset: m.Offset, SizeLimit: m.SizeLimit,
			RO: m.ReadOnly, ROReason: m.ReadOnlyReason, Options: m.Options,
			CreatedDir: m.CreatedDir, Reused: m.Reused, Reason: m.Plan.Reason, Dirty: m.Dirty, Layers: m.Plan.Layers,
			Truncated: trunc,
		})
	}
	what := m.Type
	if m.Label != "" {
		what += fmt.Sprintf(" %q", m.Label)
	}
	if m.Partition > 0 {
		what = fmt.Sprintf("partition %d, %s", m.Partition, what)
	}
	mode := "read-write"
	if m.ReadOnly {
		mode = "read-only"
		if m.ReadOnlyReason != "" {
			mode += ": " + m.ReadOnlyReason
		}
	}
	reused := ""
	if m.Reused {
		reused = ", reused"
	}
	via := m.Device
	switch {
	case m.Plan.Route == blockloop.RouteUserspace && m.Plan.Disk != nil:
		via = fmt.Sprintf("loops' userspace %s reader in loops' %s reader (FUSE)", m.Type, m.Plan.Disk.Format)
	case m.Plan.Route == blockloop.RouteUserspace && !m.ReadOnly:
		via = "loops' userspace " + m.Type + " reader and writer (FUSE)"
	case m.Plan.Route == blockloop.RouteUserspace:
		via = "loops' userspace " + m.Type + " reader (FUSE)"
	case m.Plan.Route == blockloop.RouteIndex:
		via = indexRouteName
		if m.Device != "" {
			via += " (" + m.Device + ")"
		}
	case m.Plan.Disk != nil:
		via = fmt.Sprintf("%s on loops' %s reader (FUSE)", m.Device, m.Plan.Disk.Format)
	}
	if readers := layerReaders(m.Plan); m.Plan.InPlace {
		via = fmt.Sprintf("%s (%s read in place, at byte %d)", m.Device, readers, m.Offset)
	} else if readers != "" {
		if m.Plan.Disk != nil {
			readers = m.Plan.Disk.Format + " and " + readers
		}
		via = fmt.Sprintf("%s on loops' %s reader (FUSE)", m.Device, readers)
		if m.Plan.Route == blockloop.RouteUserspace {
			via = fmt.Sprintf("loops' userspace %s reader in loops' %s reader (FUSE)", m.Type, readers)
		}
	}
	fmt.Fprintf(opts.IO.ErrOut, "Mounted %s (%s) at %s via %s%s, %s.\n", m.Image, what, m.Mountpoint, via, reused, mode)
	if trunc != nil {
		warnTruncated(opts.IO.ErrOut, m.Plan.Truncated, trunc.Log)
	}
	if m.Dirty {
		fmt.Fprintf(opts.IO.ErrOut, "Warning: the volume was not cleanly unmounted (its dirty bit is set); some data may be damaged: unmount it and run fsck.fat.\n")
	}
	fmt.Fprintln(opts.IO.Out, m.Mountpoint)
	return nil
}

// layerReaders names the layers loops reads the filesystem through, bottom
// first: "LUKS2", "LUKS2 and LVM2 ubuntu-vg/ubuntu-lv"; "" for none.
func layerReaders(p blockloop.Plan) string {
	var names []string
	for _, l := range p.Layers {
		if l.Kind != blockloop.LayerPartition {
			names = append(names, l.Name)
		}
	}
	return strings.Join(names, " and ")
}

func mountBackend(fuse, kernel bool) blockloop.Backend {
	switch {
	case fuse:
		return blockloop.BackendFUSE
	case kernel:
		return blockloop.BackendKernel
	}
	return blockloop.BackendAuto
}

// parseOwnerOptions reads -o uid=N,gid=N,umask=OOO,map=normal|off; "" is
// nil (defaults).
func parseOwnerOptions(s string) (*blockloop.FSOwner, error) {
	if s == "" {
		return nil, nil
	}
	o := &blockloop.FSOwner{UID: -1, GID: -1, Umask: -1}
	for _, kv := range strings.Split(s, ",") {
		k, v, _ := strings.Cut(kv, "=")
		if k == "map" {
			m, err := iso9660.ParseNameMap(v)
			if err != nil {
				return nil, flagErrorf("-o %s: map= is normal (names as the kernel shows them: lower case, no ;1) or off (as stored), for iso9660", kv)
			}
			o.ISOMap = m.String()
			continue
		}
		var n int64
		var err error
		switch k {
		case "uid", "gid":
			n, err = strconv.ParseInt(v, 10, 32)
		case "umask":
			n, err = strconv.ParseInt(v, 8, 32)
			if err == nil && n > 0o777 {
				err = strconv.ErrRange
			}
		default:
			return nil, flagErrorf("-o %s: loops mount takes uid=N, gid=N, umask=OOO and map=normal|off only (the mount is always nosuid,nodev; --ro/--rw choose the mode)", kv)
		}
		if err != nil || n < 0 {
			return nil, flagErrorf("-o %s: %s needs a number (uid and gid decimal, umask octal)", kv, k)
		}
		switch k {
		case "uid":
			o.UID = int(n)
		case "gid":
			o.GID = int(n)
		case "umask":
			o.Umask = int(n)
		}
	}
	return o, nil
}

// truncatedJSON is mount --json's "truncated": bytes there are, bytes the
// filesystem claims, the difference, and the server's log.
type truncatedJSON struct {
	Size    int64  `json:"size"`
	FSSize  int64  `json:"fssize"`
	Missing int64  `json:"missing"`
	Log     string `json:"log,omitempty"`
}

// warnTruncated says on w that the image mounted lacks part of its
// filesystem, and where the files that fail are named (log, when served
// in userspace).
func warnTruncated(w io.Writer, t *blockloop.Truncation, log string) {
	fmt.Fprintf(w, "Warning: the image is truncated: the %s filesystem claims %d bytes, the image has %d (%s); mounted read-only, and files whose data lies past the end fail to read (input/output error)", t.Type, t.FSSize, t.Size, t)
	if log != "" {
		fmt.Fprintf(w, "; the server's log names them: %s", log)
	}
	fmt.Fprintln(w, ".")
}
