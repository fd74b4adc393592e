package blockloop

import (
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/layer/luks/lukstest"
	"github.com/loops-cli/loops/blockloop/layer/lvm/lvmtest"
	"github.com/loops-cli/loops/internal/testkit"
)

// lvWant is what mounting one LV should give.
type lvWant struct {
	fs, label string
	inPlace   bool     // a loop device at the LV's offset, no server
	layers    []string // block list's layers when served
}

// mountLVAndCheck mounts img with opts (the passphrase luksPass when
// asked), checks the mount against want and every file of sums read
// through it, lists it, unmounts it and checks nothing is left.
func mountLVAndCheck(t *testing.T, h *Host, dir, img string, opts MountOptions, want lvWant, sums map[string]string) {
	t.Helper()
	mp := filepath.Join(dir, "mnt")
	opts.Mountpoint, opts.ServeUserspace = mp, serveDiskInProcess
	if opts.Passphrase == nil {
		opts.Passphrase = askWith(luksPass, new(int))
	}
	m, err := h.Mount(img, opts)
	if err != nil {
		t.Fatal(err)
	}
	if !m.ReadOnly || m.Type != want.fs || m.Label != want.label || m.Plan.InPlace != want.inPlace {
		t.Errorf("mounted %+v (in place %v), want %s %q in place %v", m, m.Plan.InPlace, want.fs, want.label, want.inPlace)
	}
	blocklooptest.CheckTree(t, mp, sums)
	if !want.inPlace {
		checkServedLoop(t, m.Device)
	}
	devs, _ := h.List()
	found := false
	for _, d := range devs {
		// Read in place, the device's backing file is the image itself.
		if d.Image == img || (want.inPlace && d.BackingFile == img) {
			found = true
			if !want.inPlace && !slices.Equal(d.Layers, want.layers) {
				t.Errorf("block list: %s has layers %q, want %q", d.Path, d.Layers, want.layers)
			}
		}
	}
	if !found {
		t.Errorf("block list does not show %s", img)
	}
	us, err := h.Unmount(mp, UnmountOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(us) != 1 || !us[0].Detached || us[0].DiskServer == want.inPlace || (!want.inPlace && !us[0].DiskServerStopped) {
		t.Errorf("unmounted %+v", us)
	}
	assertClean(t, img, dir, mp)
	if left, _ := os.ReadDir(filepath.Join(h.RunDir, "disks")); len(left) > 0 {
		t.Errorf("server directories left: %v", left)
	}
}

// placeSparse copies the file src into dst at byte off, skipping zero
// blocks (dst is sparse there).
func placeSparse(t *testing.T, src, dst string, off int64) {
	t.Helper()
	testkit.Run(t, "dd", "if="+src, "of="+dst, "bs=64K", "oflag=seek_bytes", "seek="+strconv.FormatInt(off, 10), "conv=sparse,notrunc", "status=none")
}

// xfsWith makes an xfs image holding src: mkfs.xfs, then the kernel's xfs
// through a loop mount of the test's own, cp -a, umount.
func xfsWith(t *testing.T, dir, name, label, src string) string {
	t.Helper()
	img := blocklooptest.XFS(t, filepath.Join(dir, name), label)
	mp := filepath.Join(dir, name+".fill")
	if err := os.Mkdir(mp, 0o755); err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, "mount", "-o", "loop", img, mp)
	defer os.Remove(mp)
	defer testkit.Run(t, "umount", mp)
	testkit.Run(t, "cp", "-a", src+"/.", mp)
	return img
}

// TestMountLVM: disks laid out by the real lvm2 (no device-mapper: nothing
// activated; the filesystems written into the extents lvm2 reports) mount
// in one call; every file reads back as written.
//   - RHEL-like: GPT, /boot, a PV holding VG rl with an xfs root, swap and
//     an ext4 home in two non-contiguous segments. root is one run of the
//     image: a loop device reads it in place; home is served.
//   - A striped LV over two PVs, the second given as a file (--pv).
//   - Ubuntu-encrypted-like: GPT with an ESP, /boot and LUKS2 -> LVM
//     (ubuntu-vg: ubuntu-lv ext4 and swap_1), as raw and as qcow2.
func TestMountLVM(t *testing.T) {
	h, dir := testHost(t)
	h.RunDir = filepath.Join(dir, "run")
	e := lvmtest.New(t)

	t.Run("rhel", func(t *testing.T) {
		rootSrc, rootSums := manyFiles(t, filepath.Join(dir, "rootsrc"), 200)
		homeSrc, homeSums := manyFiles(t, filepath.Join(dir, "homesrc"), 300)
		root := xfsWith(t, dir, "root.xfs", "root", rootSrc)
		home := blocklooptest.Ext4(t, filepath.Join(dir, "home.ext4"), "home", homeSrc, 24<<20)
		swap := filepath.Join(dir, "swap.img")
		if err := os.WriteFile(swap, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		os.Truncate(swap, 8<<20)
		testkit.Run(t, testkit.Tool(t, "mkswap"), "-q", swap)

		pv, dev := e.Image("rl-pv.img", 344)
		e.Run("pvcreate", "-y", dev)
		e.Run("vgcreate", "rl", dev)
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "300M", "-n", "root", "rl")
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", "swap", "rl")
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "12M", "-n", "home", "rl")
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "4M", "-n", "tmp", "rl")
		e.Run("lvextend", "-L", "24M", "rl/home")
		if segs := e.Segments("rl", "home"); len(segs) != 2 || segs[0].Ranges[0].First+segs[0].Ranges[0].N == segs[1].Ranges[0].First {
			t.Fatalf("lvm2 made rl/home of segments %+v, the test wants two apart", segs)
		}
		e.WriteLVFile("rl", "root", root)
		e.WriteLVFile("rl", "swap", swap)
		e.WriteLVFile("rl", "home", home)
		e.Detach()

		boot := blocklooptest.Ext4(t, filepath.Join(dir, "boot.ext4"), "boot", "", 8<<20)
		disk := blocklooptest.Disk(t, filepath.Join(dir, "rhel.img"), "gpt", []int{8, 344}, []string{boot, ""})
		placeSparse(t, pv, disk, 9<<20)

		// Two partitions hold something and the PV two filesystems:
		// the plan names the LVs.
		_, plan, _ := h.PlanMount(disk, MountOptions{Partition: 2})
		if !errors.Is(plan.Err, ErrChooseLV) || len(plan.LVs) != 4 {
			t.Errorf("plan of partition 2 without --lv: %v, LVs %+v; want ErrChooseLV naming 4 LVs", plan.Err, plan.LVs)
		}
		for _, lv := range plan.LVs {
			want := map[string]string{"root": "xfs", "home": "ext4", "swap": "swap", "tmp": ""}[lv.Name]
			if lv.VG != "rl" || lv.FS != want || lv.Why != "" {
				t.Errorf("LV %+v, want rl/%s holding %q", lv, lv.Name, want)
			}
		}
		mountLVAndCheck(t, h, dir, disk, MountOptions{LV: "rl/root"}, lvWant{fs: "xfs", label: "root", inPlace: true}, rootSums)
		mountLVAndCheck(t, h, dir, disk, MountOptions{LV: "rl/home"}, lvWant{fs: "ext4", label: "home", layers: []string{"lvm"}}, homeSums)
	})

	t.Run("striped", func(t *testing.T) {
		src, sums := manyFiles(t, filepath.Join(dir, "stsrc"), 300)
		fs := blocklooptest.Ext4(t, filepath.Join(dir, "st.ext4"), "striped", src, 24<<20)
		a, devA := e.Image("st-a.img", 24)
		b, devB := e.Image("st-b.img", 24)
		e.Run("pvcreate", "-y", devA, devB)
		e.Run("vgcreate", "data", devA, devB)
		e.Run("lvcreate", "-an", "-Zn", "-y", "-i", "2", "-I", "64k", "-L", "24M", "-n", "st", "data")
		if segs := e.Segments("data", "st"); len(segs) != 1 || len(segs[0].Ranges) != 2 {
			t.Fatalf("lvm2 made data/st of %+v, want one segment on two stripes", segs)
		}
		e.WriteLVFile("data", "st", fs)
		e.Detach()
		if _, plan, _ := h.PlanMount(a, MountOptions{}); !errors.Is(plan.Err, ErrMissingPV) {
			t.Errorf("plan of one PV alone: %v, want ErrMissingPV", plan.Err)
		}
		mountLVAndCheck(t, h, dir, a, MountOptions{PVs: []string{b}}, lvWant{fs: "ext4", label: "striped", layers: []string{"lvm"}}, sums)
	})

	t.Run("ubuntu-encrypted", func(t *testing.T) {
		src, sums := manyFiles(t, filepath.Join(dir, "ubsrc"), 300)
		root := blocklooptest.Ext4(t, filepath.Join(dir, "ub-root.ext4"), "ubuntu-root", src, 24<<20)
		swap := filepath.Join(dir, "ub-swap.img")
		os.WriteFile(swap, nil, 0o644)
		os.Truncate(swap, 8<<20)
		testkit.Run(t, testkit.Tool(t, "mkswap"), "-q", swap)
		// The PV fills the image; the LVs leave its last 8 MiB free, which
		// cryptsetup takes for the header when it encrypts in place.
		pv, dev := e.Image("ub-pv.img", 48)
		e.Run("pvcreate", "-y", dev)
		e.Run("vgcreate", "ubuntu-vg", dev)
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "24M", "-n", "ubuntu-lv", "ubuntu-vg")
		e.Run("lvcreate", "-an", "-Zn", "-y", "-L", "8M", "-n", "swap_1", "ubuntu-vg")
		e.WriteLVFile("ubuntu-vg", "ubuntu-lv", root)
		e.WriteLVFile("ubuntu-vg", "swap_1", swap)
		e.Detach()
		lukstest.Encrypt(t, pv, luksPass, "8M")

		esp := filepath.Join(dir, "esp.img")
		testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-n", "ESP", "-C", esp, "8192")
		boot := blocklooptest.Ext4(t, filepath.Join(dir, "ub-boot.ext4"), "boot", "", 8<<20)
		raw := blocklooptest.Disk(t, filepath.Join(dir, "ubuntu.img"), "gpt", []int{8, 8, 48}, []string{esp, boot, ""})
		placeSparse(t, pv, raw, 17<<20)
		want := lvWant{fs: "ext4", label: "ubuntu-root", layers: []string{"luks", "lvm"}}
		// Partition 3: LUKS2, then the VG inside, then its one LV holding
		// a filesystem (swap is not one).
		mountLVAndCheck(t, h, dir, raw, MountOptions{Partition: 3}, want, sums)
		qcow := filepath.Join(dir, "ubuntu.qcow2")
		testkit.Run(t, testkit.Tool(t, "qemu-img"), "convert", "-f", "raw", "-O", "qcow2", raw, qcow)
		// --lv alone: the VG is inside the only partition loops opens.
		mountLVAndCheck(t, h, dir, qcow, MountOptions{LV: "ubuntu-vg/ubuntu-lv"}, want, sums)
	})
}
