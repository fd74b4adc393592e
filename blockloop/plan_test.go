package blockloop

import (
	"errors"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/probe"
)

// TestDecide covers the mount decision as a pure function: kernel path,
// module path, userspace path, and each refusal, with the reason it gives.
func TestDecide(t *testing.T) {
	kernel := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "squashfs": true, "erofs": true}
	fs := func(typ, label string) *probe.Result {
		return &probe.Result{Kind: probe.KindFilesystem, Type: typ, Label: label, Size: 1 << 20}
	}
	disk := func(parts ...probe.Partition) *probe.Result {
		return &probe.Result{Kind: probe.KindPartitionTable, PTType: "gpt", Size: 100 << 20, Partitions: parts}
	}
	part := func(n int, fs *probe.Result) probe.Partition {
		return probe.Partition{Number: n, Start: int64(n) << 20, Size: 1 << 20, FS: fs}
	}
	empty := &probe.Result{Kind: probe.KindUnknown, Size: 1 << 20}
	tests := []struct {
		name   string
		in     PlanInput
		route  Route
		typ    string
		ro     bool
		part   int
		err    error
		reason string
	}{
		{"ext4", PlanInput{Probe: fs("ext4", "x")}, RouteKernel, "ext4", false, 0, nil, "the image holds ext4, and the kernel has a driver for it"},
		{"squashfs is read-only", PlanInput{Probe: fs("squashfs", "")}, RouteKernel, "squashfs", true, 0, nil, "squashfs"},
		{"iso9660 without driver", PlanInput{Probe: fs("iso9660", "CD")}, RouteNone, "", false, 0, ErrNoDriver, "this kernel has no iso9660 driver (not in /proc/filesystems, no module to load); loops' userspace ISO reader can serve it"},
		{"iso9660 as a module", PlanInput{Probe: fs("iso9660", "CD"), Loadable: map[string]bool{"iso9660": true}}, RouteKernel, "iso9660", true, 0, nil, "can load its iso9660 module"},
		{"iso9660 in userspace", PlanInput{Probe: fs("iso9660", "CD"), Userspace: map[string]bool{"iso9660": true}}, RouteUserspace, "iso9660", true, 0, nil, "loops reads it in userspace"},
		{"--fuse over the kernel", PlanInput{Probe: fs("iso9660", "CD"), Kernel: map[string]bool{"iso9660": true}, Userspace: map[string]bool{"iso9660": true}, Backend: BackendFUSE}, RouteUserspace, "iso9660", true, 0, nil, "served in userspace by loops as asked"},
		{"--fuse without a reader", PlanInput{Probe: fs("ext4", ""), Kernel: map[string]bool{"ext4": true}, Userspace: map[string]bool{"iso9660": true}, Backend: BackendFUSE}, RouteNone, "", false, 0, ErrNoUserspaceReader, "no userspace reader for ext4"},
		{"--kernel forbids userspace", PlanInput{Probe: fs("iso9660", "CD"), Userspace: map[string]bool{"iso9660": true}, Backend: BackendKernel}, RouteNone, "", false, 0, ErrKernelOnly, "userspace reader can serve it, but the kernel was required"},
		{"--kernel with a driver", PlanInput{Probe: fs("iso9660", "CD"), Kernel: map[string]bool{"iso9660": true}, Userspace: map[string]bool{"iso9660": true}, Backend: BackendKernel}, RouteKernel, "iso9660", true, 0, nil, "driver"},
		{"iso9660 through an erofs index", PlanInput{Probe: fs("iso9660", "CD"), Userspace: map[string]bool{"iso9660": true}, Index: true}, RouteIndex, "iso9660", true, 0, nil, "loops writes an EROFS index of its tree and the kernel's erofs mounts it over the image"},
		{"the index is a kernel route", PlanInput{Probe: fs("vfat", ""), Userspace: map[string]bool{"vfat": true}, Index: true, Backend: BackendKernel}, RouteIndex, "vfat", true, 0, nil, "EROFS index"},
		{"--fuse over the index", PlanInput{Probe: fs("udf", ""), Userspace: map[string]bool{"udf": true}, Index: true, Backend: BackendFUSE}, RouteUserspace, "udf", true, 0, nil, "served in userspace by loops as asked"},
		{"the kernel's driver over the index", PlanInput{Probe: fs("iso9660", "CD"), Kernel: map[string]bool{"iso9660": true}, Userspace: map[string]bool{"iso9660": true}, Index: true}, RouteKernel, "iso9660", true, 0, nil, "driver"},
		{"no reader, no index", PlanInput{Probe: fs("hfsplus", ""), Userspace: map[string]bool{"iso9660": true}, Index: true}, RouteNone, "", false, 0, ErrNoDriver, "hfsplus"},
		{"ntfs: the kernel's ntfs3 first", PlanInput{Probe: fs("ntfs", "C"), Kernel: map[string]bool{"ntfs3": true}, Userspace: map[string]bool{"ntfs": true}}, RouteKernel, "ntfs3", false, 0, nil, "the image holds ntfs3, and the kernel has a driver for it"},
		{"ntfs without ntfs3", PlanInput{Probe: fs("ntfs", "C"), Userspace: map[string]bool{"ntfs": true}}, RouteUserspace, "ntfs", true, 0, nil, "the kernel has no ntfs3 driver, so loops reads it in userspace"},
		{"ntfs --fuse over ntfs3", PlanInput{Probe: fs("ntfs", "C"), Kernel: map[string]bool{"ntfs3": true}, Userspace: map[string]bool{"ntfs": true}, Backend: BackendFUSE}, RouteUserspace, "ntfs", true, 0, nil, "served in userspace by loops as asked"},
		{"the index as root", PlanInput{Probe: fs("exfat", ""), Userspace: map[string]bool{"exfat": true}, IndexAsRoot: true}, RouteUserspace, "exfat", true, 0, nil, "as root, loops mounts it through a kernel EROFS index instead"},
		{"a partition through the index", PlanInput{Probe: disk(part(1, empty), part(2, fs("vfat", "SD"))), Userspace: map[string]bool{"vfat": true}, Index: true}, RouteIndex, "vfat", true, 2, nil, "partition 2 holds vfat"},
		{"a VM disk stays off the index", PlanInput{Probe: &probe.Result{Kind: probe.KindDiskImage, Type: "qcow2"}, Disk: &DiskImage{Format: "qcow2", Inner: fs("iso9660", "CD")},
			Userspace: map[string]bool{"iso9660": true}, Index: true}, RouteUserspace, "iso9660", true, 0, nil, "loops reads it in userspace"},
		{"kernel wins over userspace", PlanInput{Probe: fs("iso9660", "CD"), Kernel: map[string]bool{"iso9660": true}, Userspace: map[string]bool{"iso9660": true}}, RouteKernel, "iso9660", true, 0, nil, "driver"},
		{"vfat without driver", PlanInput{Probe: fs("vfat", "")}, RouteNone, "", false, 0, ErrNoDriver, "fusefat"},
		{"ntfs maps to ntfs3", PlanInput{Probe: fs("ntfs", ""), Kernel: map[string]bool{"ntfs3": true}}, RouteKernel, "ntfs3", false, 0, nil, "ntfs3"},
		{"not on the allow-list", PlanInput{Probe: fs("hpfs", ""), Kernel: map[string]bool{"hpfs": true}}, RouteNone, "", false, 0, ErrNoDriver, "hpfs"},
		{"qcow2", PlanInput{Probe: &probe.Result{Kind: probe.KindDiskImage, Type: "qcow2"}}, RouteNone, "", false, 0, ErrUnsupportedImage, "qcow2 disk image"},
		{"luks", PlanInput{Probe: &probe.Result{Kind: probe.KindCrypto, Type: "crypto_LUKS"}}, RouteNone, "", false, 0, ErrEncrypted, "LUKS encrypted volume"},
		{"unknown", PlanInput{Probe: empty}, RouteNone, "", false, 0, ErrUnknownFormat, "no filesystem recognized"},
		{"unknown with --type", PlanInput{Probe: empty, Type: "ext4"}, RouteKernel, "ext4", false, 0, nil, "is mounted as ext4 (type given)"},
		{"ambiguous", PlanInput{Probe: &probe.Result{Kind: probe.KindFilesystem, Type: "ext4", Ambiguous: []string{"xfs"}, Size: 1}}, RouteNone, "", false, 0, ErrAmbiguous, "carries both ext4 and xfs signatures"},
		{"truncated: read-only", PlanInput{Probe: &probe.Result{Kind: probe.KindFilesystem, Type: "ext4", Size: 10 << 20, FSSize: 20 << 20}}, RouteKernel, "ext4", true, 0, nil, "the image holds ext4, truncated (10 MiB of 20 MiB missing), and the kernel has a driver"},
		{"truncated: served, not indexed", PlanInput{Probe: &probe.Result{Kind: probe.KindFilesystem, Type: "vfat", Size: 10, FSSize: 20}, Userspace: map[string]bool{"vfat": true}, Index: true}, RouteUserspace, "vfat", true, 0, nil, "loops reads a truncated image in userspace (FUSE), where reads past the end fail and the server's log names the files"},
		{"truncated: --fuse", PlanInput{Probe: &probe.Result{Kind: probe.KindFilesystem, Type: "iso9660", Size: 10, FSSize: 20}, Userspace: map[string]bool{"iso9660": true}, Backend: BackendFUSE}, RouteUserspace, "iso9660", true, 0, nil, "truncated (10 B of 20 B missing), served in userspace"},
		{"swap over exfat", PlanInput{Probe: &probe.Result{Kind: probe.KindSwap, Type: "swap", Ambiguous: []string{"exfat"}, Size: 1}, Kernel: map[string]bool{"exfat": true}}, RouteNone, "", false, 0, ErrAmbiguous, "carries both swap and exfat signatures"},
		{"swap", PlanInput{Probe: &probe.Result{Kind: probe.KindSwap, Type: "swap", Size: 1}}, RouteNone, "", false, 0, ErrNoMountable, "swap"},
		{"the only filesystem partition", PlanInput{Probe: disk(part(1, empty), part(2, fs("ext4", "root")))}, RouteKernel, "ext4", false, 2, nil, "partition 2 holds ext4"},
		{"two filesystems: choose", PlanInput{Probe: disk(part(1, fs("vfat", "EFI")), part(2, fs("ext4", "root")))}, RouteNone, "", false, 0, ErrChoosePartition, `1 (vfat "EFI", 1 MiB), 2 (ext4 "root", 1 MiB); choose one`},
		{"--partition 2", PlanInput{Probe: disk(part(1, fs("vfat", "EFI")), part(2, fs("ext4", "root"))), Partition: 2}, RouteKernel, "ext4", false, 2, nil, "partition 2"},
		{"--partition 3 missing", PlanInput{Probe: disk(part(1, empty)), Partition: 3}, RouteNone, "", false, 0, ErrNoPartition, "no partition 3; the GPT table has 1 (no filesystem, 1 MiB)"},
		{"no filesystem in any partition", PlanInput{Probe: disk(part(1, empty))}, RouteNone, "", false, 0, ErrNoMountable, "no partition holds a filesystem"},
		{"partition past the end", PlanInput{Probe: &probe.Result{Kind: probe.KindPartitionTable, PTType: "dos", Size: 1 << 20,
			Partitions: []probe.Partition{{Number: 1, Start: 1 << 19, Size: 4 << 20, FS: &probe.Result{Kind: probe.KindFilesystem, Type: "ext4", Size: 1 << 19, FSSize: 4 << 20}}}}},
			RouteKernel, "ext4", true, 1, nil, "partition 1 holds ext4, truncated (3.5 MiB of 4 MiB missing)"},
		{"partition starting past the end", PlanInput{Probe: &probe.Result{Kind: probe.KindPartitionTable, PTType: "dos", Size: 1 << 20,
			Partitions: []probe.Partition{{Number: 1, Start: 2 << 20, Size: 4 << 20}}}, Partition: 1}, RouteNone, "", false, 0, ErrTruncated, "partition 1 starts at byte 2097152, past the end of the image (1048576 bytes)"},
		{"--partition without a table", PlanInput{Probe: fs("ext4", ""), Partition: 1}, RouteNone, "", false, 0, ErrNoPartition, "no partition table"},
		{"hybrid: the whole-image filesystem wins", PlanInput{Probe: &probe.Result{Kind: probe.KindFilesystem, Type: "ext4", PTType: "dos", Size: 1 << 20,
			Partitions: []probe.Partition{part(1, fs("vfat", ""))}}}, RouteKernel, "ext4", false, 0, nil, "the image holds ext4"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.in.Kernel == nil {
				tt.in.Kernel = kernel
			}
			p := Decide(tt.in)
			if p.Route != tt.route || p.Type != tt.typ || p.ReadOnly != tt.ro || p.Partition != tt.part {
				t.Errorf("Decide = %s %q ro=%v part=%d, want %s %q ro=%v part=%d (reason %q)",
					p.Route, p.Type, p.ReadOnly, p.Partition, tt.route, tt.typ, tt.ro, tt.part, p.Reason)
			}
			if tt.err != nil && !errors.Is(p.Err, tt.err) {
				t.Errorf("Decide.Err = %v, want %v", p.Err, tt.err)
			}
			if tt.err == nil && p.Err != nil {
				t.Errorf("Decide.Err = %v, want nil", p.Err)
			}
			if !strings.Contains(p.Reason, tt.reason) {
				t.Errorf("Decide.Reason = %q, want it to contain %q", p.Reason, tt.reason)
			}
			if trunc := strings.HasPrefix(tt.name, "truncated") || tt.name == "partition past the end"; trunc != (p.Truncated != nil) {
				t.Errorf("Decide.Truncated = %+v", p.Truncated)
			}
			if tt.name == "partition past the end" && (p.Offset != 1<<19 || p.SizeLimit != 1<<19 || p.Truncated.Missing() != 7<<19) {
				t.Errorf("the loop device reads %d bytes at %d; missing %d", p.SizeLimit, p.Offset, p.Truncated.Missing())
			}
		})
	}
}

// TestKernelRoutesForNewTypes: the filesystems Linux mounts take the
// kernel route where it has the driver, and otherwise fail naming it.
func TestKernelRoutesForNewTypes(t *testing.T) {
	for _, typ := range []string{"f2fs", "jfs", "reiserfs", "nilfs2", "hfs", "hfsplus", "minix", "cramfs", "romfs", "ufs", "gfs2", "ocfs2"} {
		pr := &probe.Result{Kind: probe.KindFilesystem, Type: typ, Size: 1 << 20}
		plan := Decide(PlanInput{Probe: pr, Kernel: map[string]bool{typ: true}})
		if plan.Route != RouteKernel || plan.Type != typ || plan.ReadOnly != (typ == "cramfs" || typ == "romfs") {
			t.Errorf("%s with a driver: %+v", typ, plan)
		}
		plan = Decide(PlanInput{Probe: pr, Kernel: map[string]bool{"ext4": true}})
		if plan.Route != RouteNone || !errors.Is(plan.Err, ErrNoDriver) || !strings.Contains(plan.Err.Error(), "no "+typ+" driver") {
			t.Errorf("%s without a driver: %+v", typ, plan)
		}
	}
}
