package blockloop

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/layer/md/mdtest"
)

// mdMember writes a RAID1 member (superblock version "1.2" or "0.90",
// laid out as mdadm does) holding the image fs, and returns its path.
func mdMember(t *testing.T, dir, name, version, fs string, level int32) string {
	t.Helper()
	data, err := os.ReadFile(fs)
	if err != nil {
		t.Fatal(err)
	}
	size := int64(len(data)) + 2<<20
	m := make([]byte, size)
	off := int64(0)
	if version == "0.90" {
		mdtest.Super0(m, level, 2, uint32(len(data)/1024), false)
	} else {
		off = 1 << 20
		mdtest.Super1(m, mdtest.Spec{Level: level, Disks: 2, Name: "box:data", SuperAt: 4096, DataOff: off, Used: int64(len(data)), DataSize: size - off})
	}
	copy(m[off:], data)
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, m, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// TestMountMD: a RAID1 member (superblock 1.2; 0.90; 1.2 in partition 2
// of a GPT disk) holding ext4 mounts in one call: every file reads back,
// block list shows the md layer, umount takes it down. A RAID5 member is
// refused naming the level.
func TestMountMD(t *testing.T) {
	h, dir := testHost(t)
	h.RunDir = filepath.Join(dir, "run")
	src, sums := manyFiles(t, dir, 200)
	fs := blocklooptest.Ext4(t, filepath.Join(dir, "fs.img"), "MIRROR", src, 16<<20)

	mountAndCheck := func(t *testing.T, img string, part int, layers int) {
		t.Helper()
		mp := filepath.Join(dir, "mnt")
		m, err := h.Mount(img, MountOptions{Mountpoint: mp, Partition: part, ServeUserspace: serveDiskInProcess})
		if err != nil {
			t.Fatal(err)
		}
		n := len(m.Plan.Layers)
		if !m.ReadOnly || m.Type != "ext4" || m.Label != "MIRROR" || n != layers || m.Plan.Layers[n-1].Kind != LayerMD {
			t.Errorf("mounted %+v", m)
		}
		blocklooptest.CheckTree(t, mp, sums)
		devs, _ := h.List()
		found := false
		for _, d := range devs {
			if d.Image == img {
				found = slices.Equal(d.Layers, []string{"md"})
			}
		}
		if !found {
			t.Errorf("block list does not show %s with its md layer: %+v", img, devs)
		}
		if _, err := h.Unmount(mp, UnmountOptions{}); err != nil {
			t.Fatal(err)
		}
		assertClean(t, img, dir, mp)
	}
	t.Run("1.2", func(t *testing.T) { mountAndCheck(t, mdMember(t, dir, "m12.img", "1.2", fs, 1), 0, 1) })
	t.Run("0.90", func(t *testing.T) { mountAndCheck(t, mdMember(t, dir, "m090.img", "0.90", fs, 1), 0, 1) })
	t.Run("gpt", func(t *testing.T) {
		boot := blocklooptest.Ext4(t, filepath.Join(dir, "boot.img"), "BOOT", "", 4<<20)
		member := mdMember(t, dir, "p2.img", "1.2", fs, 1)
		disk := blocklooptest.Disk(t, filepath.Join(dir, "gpt.img"), "gpt", []int{4, 20}, []string{boot, member})
		mountAndCheck(t, disk, 2, 2)
	})
	t.Run("raid5", func(t *testing.T) {
		img := mdMember(t, dir, "r5.img", "1.2", fs, 5)
		_, plan, err := h.PlanMount(img, MountOptions{})
		if err != nil || plan.Route != RouteNone || !errors.Is(plan.Err, ErrUnsupportedMD) || !errors.Is(plan.Err, errors.ErrUnsupported) {
			t.Errorf("PlanMount of a RAID5 member = %+v, %v", plan, err)
		}
	})
}
