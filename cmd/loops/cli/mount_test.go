package cli

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop"
)

// TestNewMountCmd: argv to options, or the usage error, through runF.
func TestNewMountCmd(t *testing.T) {
	tests := []struct {
		args    string
		want    mountOptions
		wantErr string
	}{
		{args: "disk.img", want: mountOptions{Image: "disk.img"}},
		{args: "disk.img /mnt/x --ro", want: mountOptions{Image: "disk.img", Mountpoint: "/mnt/x", ReadOnly: true}},
		{args: "--partition 2 --type ext4 --json sd.img", want: mountOptions{Image: "sd.img", Partition: 2, Type: "ext4", JSON: true}},
		{args: "--offset 1048576 --sizelimit 4096 d.img", want: mountOptions{Image: "d.img", Offset: 1 << 20, SizeLimit: 4096}},
		{args: "", wantErr: "takes an image and an optional mount point"},
		{args: "a b c", wantErr: "takes an image and an optional mount point"},
		{args: "--ro --rw d.img", wantErr: "contradict"},
		{args: "--partition 2 --offset 512 d.img", wantErr: "either --partition or --offset"},
		{args: "--partition -1 d.img", wantErr: "cannot be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.args, func(t *testing.T) {
			ios, _, _ := Test(false)
			var got *mountOptions
			cmd := newMountCmdWith(NewFactory(ios, nil), func(o *mountOptions) error { got = o; return nil })
			cmd.SetArgs(strings.Fields(tt.args))
			cmd.SetOut(ios.ErrOut)
			cmd.SetErr(ios.ErrOut)
			err := cmd.Execute()
			if tt.wantErr != "" {
				var fe *FlagError
				if err == nil || !errors.As(err, &fe) || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("error %v, want a FlagError with %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			got.IO, got.Host = nil, nil
			if fmt.Sprintf("%+v", *got) != fmt.Sprintf("%+v", tt.want) {
				t.Errorf("options %+v, want %+v", *got, tt.want)
			}
		})
	}
}

func TestNewUmountCmd(t *testing.T) {
	ios, _, _ := Test(false)
	var got *umountOptions
	cmd := newUmountCmdWith(NewFactory(ios, nil), func(o *umountOptions) error { got = o; return nil })
	cmd.SetArgs([]string{"-l", "/media/x"})
	if err := cmd.Execute(); err != nil {
		t.Fatal(err)
	}
	if got.Target != "/media/x" || !got.Lazy {
		t.Errorf("options %+v", got)
	}
	if cmd.Aliases[0] != "unmount" {
		t.Errorf("aliases %v", cmd.Aliases)
	}
}

func TestDescribeUnmount(t *testing.T) {
	tests := []struct {
		u    blockloop.UnmountResult
		want string
	}{
		{blockloop.UnmountResult{Mountpoint: "/m", Device: "/dev/loop1", Detached: true, RemovedDir: true},
			"Unmounted /m; /dev/loop1 detached; directory removed."},
		{blockloop.UnmountResult{Mountpoint: "/m", Device: "/dev/loop1", Deferred: true},
			"Unmounted /m; /dev/loop1 is still busy (a lazy unmount, or a process holds it open): the kernel detaches it when it is free."},
		{blockloop.UnmountResult{Mountpoint: "/m", Device: "/dev/loop1", Deferred: true, OtherUsers: []string{"/n"}, DirKept: "not empty"},
			"Unmounted /m; /dev/loop1 is still mounted at /n, so it stays attached until that is unmounted; directory kept (not empty)."},
		{blockloop.UnmountResult{Mountpoint: "/m", Device: "/dev/loop1", Persistent: true},
			"Unmounted /m; /dev/loop1 stays attached (it was attached to stay: sudo loops block detach /dev/loop1)."},
	}
	for _, tt := range tests {
		if got := describeUnmount(tt.u); got != tt.want {
			t.Errorf("describeUnmount(%+v) =\n%s\nwant\n%s", tt.u, got, tt.want)
		}
	}
}

// TestBlockHints: the errors a person can act on get a hint.
func TestBlockHints(t *testing.T) {
	for _, tt := range []struct {
		err  error
		hint string
	}{
		{blockloop.ErrBusy, "loops umount --lazy /m"},
		{blockloop.ErrNoLoopControl, "modprobe loop"},
		{blockloop.ErrChoosePartition, "loops block probe /m"},
		{blockloop.ErrAlreadyMounted, "sudo loops umount /m"},
	} {
		var he *hintError
		if err := blockHint(&blockloop.Error{Op: "x", Err: tt.err}, "/m"); !errors.As(err, &he) || !strings.Contains(he.hint, tt.hint) {
			t.Errorf("blockHint(%v) = %v, want a hint with %q", tt.err, err, tt.hint)
		}
	}
}

// TestContainerHints: the containers loops does not open itself get the
// command that does, never the generic "loops does not open" line.
func TestContainerHints(t *testing.T) {
	for typ, want := range map[string]string{
		"cs_fvault2":                "cryptsetup open --type fvault2",
		"drbd":                      "drbdadm up",
		"ubi":                       "ubiattach",
		"vdo":                       "vdo import",
		"ceph_bluestore":            "ceph-objectstore-tool",
		"mpool":                     "mpool activate",
		"drbdmanage_control_volume": "drbdmanage",
		"zfs_member":                "zpool import",
	} {
		got := containerHint(&blockloop.ContainerError{Type: typ, Label: "vol"}, "/img")
		if !strings.Contains(got, want) || strings.Contains(got, "loops does not open") {
			t.Errorf("%s: hint %q, want one with %q", typ, got, want)
		}
	}
}

// TestLayerHintsFollowTheKernel: advice that needs device-mapper or md
// (vgchange -ay, mdadm --assemble) is given only where the kernel has it.
func TestLayerHintsFollowTheKernel(t *testing.T) {
	defer func(k func() blockloop.KernelLayers) { kernelLayers = k }(kernelLayers)
	for _, has := range []bool{false, true} {
		kernelLayers = func() blockloop.KernelLayers { return blockloop.KernelLayers{DeviceMapper: has, MD: has} }
		lvmHint := containerHint(&blockloop.ContainerError{Type: "LVM2_member"}, "/img")
		mdHint := containerHint(&blockloop.ContainerError{Type: "linux_raid_member", Label: "r"}, "/img")
		var he *hintError
		errors.As(blockHint(&blockloop.Error{Op: "x", Err: blockloop.ErrUnsupportedLV}, "/img"), &he)
		if strings.Contains(lvmHint, "vgchange") != has || strings.Contains(mdHint, "mdadm --assemble") != has ||
			he == nil || strings.Contains(he.hint, "vgchange") != has || !strings.Contains(lvmHint, "loops mount --lv") {
			t.Errorf("device-mapper and md %v: LVM hint %q, md hint %q, unsupported LV hint %+v", has, lvmHint, mdHint, he)
		}
		// LUKS: loops opens it; cryptsetup open (device-mapper) is named
		// only for what loops refuses, and only where it can run.
		if h := containerHint(&blockloop.ContainerError{Type: "crypto_LUKS"}, "/img"); strings.Contains(h, "cryptsetup") || strings.Contains(h, "mapper") {
			t.Errorf("device-mapper %v: LUKS container hint %q names a device-mapper recipe", has, h)
		}
		var locked, refused *hintError
		errors.As(blockHint(&blockloop.Error{Op: "x", Err: blockloop.ErrLocked}, "/img"), &locked)
		errors.As(blockHint(&blockloop.Error{Op: "x", Err: blockloop.ErrEncrypted}, "/img"), &refused)
		if locked == nil || strings.Contains(locked.hint, "cryptsetup") || !strings.Contains(locked.hint, "loops mount") ||
			refused == nil || strings.Contains(refused.hint, "cryptsetup open --readonly") != has || strings.Contains(refused.hint, "/dev/mapper") != has {
			hint := func(h *hintError) string {
				if h == nil {
					return "none"
				}
				return h.hint
			}
			t.Errorf("device-mapper %v: locked LUKS hint %q, refused LUKS hint %q", has, hint(locked), hint(refused))
		}
		// BitLocker, FileVault 2, VDO: /dev/mapper only where it exists;
		// BitLocker's dislocker (FUSE) works everywhere.
		for _, typ := range []string{"BitLocker", "cs_fvault2", "vdo"} {
			h := containerHint(&blockloop.ContainerError{Type: typ}, "/img")
			if strings.Contains(h, "mount /dev/mapper") != has {
				t.Errorf("device-mapper %v: %s hint %q", has, typ, h)
			}
		}
		if h := containerHint(&blockloop.ContainerError{Type: "BitLocker"}, "/img"); !strings.Contains(h, "dislocker") {
			t.Errorf("device-mapper %v: BitLocker hint %q does not name dislocker", has, h)
		}
	}
}
