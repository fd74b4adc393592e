package blockloop

import (
	"errors"
	"os"
	"strings"
	"testing"
)

// TestDecide covers the mount decision as a pure function: kernel path,
// module path, userspace path, and each refusal, with the reason it gives.
func TestDecide(t *testing.T) {
	kernel := map[string]bool{"ext2": true, "ext3": true, "ext4": true, "xfs": true, "btrfs": true, "squashfs": true, "erofs": true}
	fs := func(typ, label string) *ProbeResult {
		return &ProbeResult{Kind: KindFilesystem, Type: typ, Label: label, Size: 1 << 20}
	}
	disk := func(parts ...Partition) *ProbeResult {
		return &ProbeResult{Kind: KindPartitionTable, PTType: "gpt", Size: 100 << 20, Partitions: parts}
	}
	part := func(n int, fs *ProbeResult) Partition {
		return Partition{Number: n, Start: int64(n) << 20, Size: 1 << 20, FS: fs}
	}
	empty := &ProbeResult{Kind: KindUnknown, Size: 1 << 20}
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
		{"kernel wins over userspace", PlanInput{Probe: fs("iso9660", "CD"), Kernel: map[string]bool{"iso9660": true}, Userspace: map[string]bool{"iso9660": true}}, RouteKernel, "iso9660", true, 0, nil, "driver"},
		{"vfat without driver", PlanInput{Probe: fs("vfat", "")}, RouteNone, "", false, 0, ErrNoDriver, "fusefat"},
		{"ntfs maps to ntfs3", PlanInput{Probe: fs("ntfs", ""), Kernel: map[string]bool{"ntfs3": true}}, RouteKernel, "ntfs3", false, 0, nil, "ntfs3"},
		{"not on the allow-list", PlanInput{Probe: fs("hpfs", ""), Kernel: map[string]bool{"hpfs": true}}, RouteNone, "", false, 0, ErrNoDriver, "hpfs"},
		{"qcow2", PlanInput{Probe: &ProbeResult{Kind: KindDiskImage, Type: "qcow2"}}, RouteNone, "", false, 0, ErrUnsupportedImage, "qcow2 disk image"},
		{"luks", PlanInput{Probe: &ProbeResult{Kind: KindCrypto, Type: "crypto_LUKS"}}, RouteNone, "", false, 0, ErrEncrypted, "LUKS encrypted volume"},
		{"unknown", PlanInput{Probe: empty}, RouteNone, "", false, 0, ErrUnknownFormat, "no filesystem recognized"},
		{"unknown with --type", PlanInput{Probe: empty, Type: "ext4"}, RouteKernel, "ext4", false, 0, nil, "is mounted as ext4 (type given)"},
		{"ambiguous", PlanInput{Probe: &ProbeResult{Kind: KindFilesystem, Type: "ext4", Ambiguous: []string{"xfs"}, Size: 1}}, RouteNone, "", false, 0, ErrAmbiguous, "carries both ext4 and xfs signatures"},
		{"truncated", PlanInput{Probe: &ProbeResult{Kind: KindFilesystem, Type: "ext4", Size: 10, FSSize: 20}}, RouteNone, "", false, 0, ErrTruncated, "truncated"},
		{"swap", PlanInput{Probe: &ProbeResult{Kind: KindSwap, Type: "swap", Size: 1}}, RouteNone, "", false, 0, ErrNoMountable, "swap"},
		{"the only filesystem partition", PlanInput{Probe: disk(part(1, empty), part(2, fs("ext4", "root")))}, RouteKernel, "ext4", false, 2, nil, "partition 2 holds ext4"},
		{"two filesystems: choose", PlanInput{Probe: disk(part(1, fs("vfat", "EFI")), part(2, fs("ext4", "root")))}, RouteNone, "", false, 0, ErrChoosePartition, `1 (vfat "EFI", 1 MiB), 2 (ext4 "root", 1 MiB); choose one`},
		{"--partition 2", PlanInput{Probe: disk(part(1, fs("vfat", "EFI")), part(2, fs("ext4", "root"))), Partition: 2}, RouteKernel, "ext4", false, 2, nil, "partition 2"},
		{"--partition 3 missing", PlanInput{Probe: disk(part(1, empty)), Partition: 3}, RouteNone, "", false, 0, ErrNoPartition, "no partition 3; the GPT table has 1 (no filesystem, 1 MiB)"},
		{"no filesystem in any partition", PlanInput{Probe: disk(part(1, empty))}, RouteNone, "", false, 0, ErrNoMountable, "no partition holds a filesystem"},
		{"partition past the end", PlanInput{Probe: &ProbeResult{Kind: KindPartitionTable, PTType: "dos", Size: 1 << 20,
			Partitions: []Partition{{Number: 1, Start: 512, Size: 4 << 20, FS: fs("ext4", "")}}}}, RouteNone, "", false, 0, ErrTruncated, "past the end"},
		{"--partition without a table", PlanInput{Probe: fs("ext4", ""), Partition: 1}, RouteNone, "", false, 0, ErrNoPartition, "no partition table"},
		{"hybrid: the whole-image filesystem wins", PlanInput{Probe: &ProbeResult{Kind: KindFilesystem, Type: "ext4", PTType: "dos", Size: 1 << 20,
			Partitions: []Partition{part(1, fs("vfat", ""))}}}, RouteKernel, "ext4", false, 0, nil, "the image holds ext4"},
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
		})
	}
}

func TestMountpointName(t *testing.T) {
	tests := []struct{ label, image, want string }{
		{"My Data", "/x/disk.img", "My Data"},
		{"My Label/../x", "/x/a.iso", "My Label_.._x"},
		{"..", "/x/backup.img", "backup"},
		{".", "/x/backup.img", "backup"},
		{"", "/x/debian-12.iso", "debian-12"},
		{"", "/x/.hidden", ".hidden"},
		{"", "/x/..img", "disk"},
		{"a\\b", "/x/y", "a_b"},
		{"tab\there\nnl\x7f", "/x/y", "tab_here_nl_"},
		{"  spaced  ", "/x/y", "spaced"},
		{"ünïcödé 日本", "/x/y", "ünïcödé 日本"},
		{"bad\xffutf8", "/x/y", "bad_utf8"},
		{"\u200bzero", "/x/y", "_zero"},
		{strings.Repeat("é", 200), "/x/y", strings.Repeat("é", 120)},
	}
	for _, tt := range tests {
		if got := MountpointName(tt.label, tt.image); got != tt.want {
			t.Errorf("MountpointName(%q, %q) = %q, want %q", tt.label, tt.image, got, tt.want)
		}
	}
}

func TestParseMountinfo(t *testing.T) {
	in := "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"40 36 7:3 / /media/My\\040Data\\011tab\\134back rw,nosuid,nodev shared:5 - ext4 /dev/loop3 rw\n" +
		"41 36 0:55 / /media/butter ro,nosuid,nodev - btrfs /dev/loop12 ro,space_cache=v2\n"
	ms, err := ParseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d entries", len(ms))
	}
	if ms[0].Mountpoint != "/mnt/parent dir" || ms[0].FSType != "ext3" || ms[0].Major != 98 {
		t.Errorf("entry 0: %+v", ms[0])
	}
	if ms[1].Mountpoint != "/media/My Data\ttab\\back" || ms[1].Source != "/dev/loop3" || ms[1].ReadOnly() {
		t.Errorf("entry 1: %+v", ms[1])
	}
	if n, ok := loopOf(ms[2]); !ok || n != 12 || !ms[2].ReadOnly() {
		t.Errorf("btrfs on loop12: loopOf = %d %v", n, ok)
	}
	if _, err := ParseMountinfo([]byte("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
}

func TestParseFilesystems(t *testing.T) {
	got := ParseFilesystems([]byte("nodev\tsysfs\n\text4\n\tsquashfs\nnodev\tfuse\n\tfuseblk\n"))
	if !got["ext4"] || !got["squashfs"] || got["sysfs"] || got["fuse"] || !got["fuseblk"] {
		t.Errorf("ParseFilesystems = %v", got)
	}
}

// TestHostPaths: the kernel paths are fields; a Host pointed at fakes
// reads them, and a missing loop-control is named.
func TestHostPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := dir + "/" + name
		if err := writeFile(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h := &Host{
		Filesystems: write("filesystems", "\text4\n\tiso9660\n"),
		Mountinfo:   write("mountinfo", "40 36 7:3 / /media/x rw - ext4 /dev/loop3 rw\n"),
		SysBlock:    dir,
		LoopControl: dir + "/no-loop-control",
	}
	k, err := h.KernelFilesystems()
	if err != nil || !k["iso9660"] {
		t.Errorf("KernelFilesystems = %v, %v", k, err)
	}
	ms, err := h.mounts()
	if err != nil || len(ms) != 1 || ms[0].Mountpoint != "/media/x" {
		t.Errorf("mounts = %v, %v", ms, err)
	}
	devs, err := h.List()
	if err != nil || len(devs) != 0 {
		t.Errorf("List on an empty sysfs = %v, %v", devs, err)
	}
	if _, _, err := h.attachFd(nil, "x", AttachOptions{}, true); !errors.Is(err, ErrNoLoopControl) {
		t.Errorf("attach without loop-control: %v", err)
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
