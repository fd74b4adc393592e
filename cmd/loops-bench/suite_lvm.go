package main

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/loops-cli/loops/blockloop/layer/lvm/lvmtest"
	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// lvmFileMiB is the size of the file read through LVM.
const lvmFileMiB = 1024

// lvmTool runs the real lvm2 on one loop device alone, with a private
// LVM_SYSTEM_DIR: its lvm.conf accepts that device only, keeps no backup,
// archive or hints and activates nothing (no device-mapper). The host's
// LVM never sees the VG: the device is detached when the image is made.
type lvmTool struct{ sys string }

func newLVMTool(dir, dev string) (lvmTool, error) {
	sys := filepath.Join(dir, ".lvm")
	if err := mkdirs(filepath.Join(sys, "lock")); err != nil {
		return lvmTool{}, err
	}
	conf := lvmtest.Config([]string{dev}, filepath.Join(sys, "lock"))
	return lvmTool{sys}, os.WriteFile(filepath.Join(sys, "lvm.conf"), []byte(conf), 0o600)
}

func (l lvmTool) run(args ...string) (string, error) {
	c := exec.Command("lvm", args...)
	c.Env = append(os.Environ(), "LVM_SYSTEM_DIR="+l.sys, "LVM_SUPPRESS_FD_WARNINGS=1")
	out, err := c.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = strings.TrimSpace(string(ee.Stderr))
		}
		return "", fmt.Errorf("lvm %s: %v: %s", strings.Join(args, " "), err, msg)
	}
	return string(out), nil
}

// bytesOf runs an lvm report of one numeric field, in bytes.
func (l lvmTool) bytesOf(args ...string) (int64, error) {
	out, err := l.run(append(args[:1:1], append([]string{"--noheadings", "--units", "b", "--nosuffix"}, args[1:]...)...)...)
	if err != nil {
		return 0, err
	}
	return strconv.ParseInt(strings.TrimSpace(out), 10, 64)
}

// writeLV copies the file fs into the extents of vg/lv on dev (whose image
// file is pv), segment by segment, where lvm2 reports them; it returns the
// number of segments.
func (l lvmTool) writeLV(vg, lv, dev, pv, fs string) (int, error) {
	ext, err := l.bytesOf("vgs", "-o", "vg_extent_size", vg)
	if err != nil {
		return 0, err
	}
	pe, err := l.bytesOf("pvs", "-o", "pe_start", dev)
	if err != nil {
		return 0, err
	}
	out, err := l.run("lvs", "--noheadings", "--units", "b", "--nosuffix", "-o", "seg_start,seg_size,seg_pe_ranges", vg+"/"+lv)
	if err != nil {
		return 0, err
	}
	src, err := os.Open(fs)
	if err != nil {
		return 0, err
	}
	defer src.Close()
	dst, err := os.OpenFile(pv, os.O_WRONLY, 0)
	if err != nil {
		return 0, err
	}
	defer dst.Close()
	segs := 0
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(line)
		if len(f) != 3 {
			return 0, fmt.Errorf("lvs: unexpected line %q", line)
		}
		start, err1 := strconv.ParseInt(f[0], 10, 64)
		size, err2 := strconv.ParseInt(f[1], 10, 64)
		_, rng, _ := strings.Cut(f[2], ":")
		a, _, _ := strings.Cut(rng, "-")
		first, err3 := strconv.ParseInt(a, 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return 0, fmt.Errorf("lvs: unexpected line %q", line)
		}
		w := io.NewOffsetWriter(dst, pe+first*ext)
		if _, err := io.Copy(w, io.NewSectionReader(src, start, size)); err != nil {
			return 0, err
		}
		segs++
	}
	return segs, dst.Close()
}

// lvmImages builds, once per run, an ext4 image holding one file of
// lvmFileMiB random bytes (plain.img) and an LVM PV image (pv.img) whose
// VG holds the same filesystem twice: in LV `inplace`, linear in one run
// (loops reads it in place: a loop device at its offset), and in LV
// `split`, linear in two segments with another LV between them (loops
// serves it through loops-serve).
func lvmImages(dir string) (plain, pv string, err error) {
	src := filepath.Join(dir, "src")
	if err := mkdirs(src); err != nil {
		return "", "", err
	}
	logf("building the LVM images: a %d MiB random file in ext4, written into two LVs made by lvm2", lvmFileMiB)
	if err := quietLong(5*time.Minute, "dd", "if=/dev/urandom", "of="+filepath.Join(src, "big.bin"), "bs=1M", fmt.Sprintf("count=%d", lvmFileMiB), "status=none"); err != nil {
		return "", "", err
	}
	fsMiB := lvmFileMiB + 64
	plain, pv = filepath.Join(dir, "plain.img"), filepath.Join(dir, "pv.img")
	if err := quietLong(5*time.Minute, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "lvmbench", "-d", src, plain, fmt.Sprintf("%dM", fsMiB)); err != nil {
		return "", "", err
	}
	os.RemoveAll(src)
	f, err := os.Create(pv)
	if err != nil {
		return "", "", err
	}
	f.Truncate(int64(2*fsMiB+64) << 20)
	f.Close()
	out, err := exec.Command("losetup", "-f", "--show", pv).Output()
	if err != nil {
		return "", "", fmt.Errorf("losetup -f --show %s: %v", pv, err)
	}
	dev := strings.TrimSpace(string(out))
	defer exec.Command("losetup", "-d", dev).Run()
	l, err := newLVMTool(dir, dev)
	if err != nil {
		return "", "", err
	}
	defer os.RemoveAll(l.sys)
	half := fmt.Sprintf("%dM", fsMiB/2)
	for _, args := range [][]string{
		{"pvcreate", "-q", "-y", dev},
		{"vgcreate", "-q", "benchvg", dev},
		{"lvcreate", "-q", "-an", "-Zn", "-y", "-L", fmt.Sprintf("%dM", fsMiB), "-n", "inplace", "benchvg"},
		{"lvcreate", "-q", "-an", "-Zn", "-y", "-L", half, "-n", "split", "benchvg"},
		{"lvcreate", "-q", "-an", "-Zn", "-y", "-L", "8M", "-n", "between", "benchvg"},
		{"lvextend", "-q", "-L", fmt.Sprintf("%dM", fsMiB), "benchvg/split"},
	} {
		if _, err := l.run(args...); err != nil {
			return "", "", err
		}
	}
	for lv, want := range map[string]int{"inplace": 1, "split": 2} {
		n, err := l.writeLV("benchvg", lv, dev, pv, plain)
		if err != nil {
			return "", "", err
		}
		if n != want {
			return "", "", fmt.Errorf("lvm2 made benchvg/%s of %d segments, want %d", lv, n, want)
		}
	}
	return plain, pv, nil
}

// lvmSuite: a file on ext4 inside a linear LV read through loops mount
// (read in place, and served in two segments) against the same ext4
// image through mount -o loop, cold.
func (h *harness) lvmSuite() error {
	dir := filepath.Join(h.work, "lvm")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	plain, pv, err := lvmImages(dir)
	if err != nil {
		return err
	}
	n, warm := h.slowRounds()
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	cold := bench.Act{Fn: dropCaches}
	cleanMnt := []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}
	lumnt := bench.Exec(h.loopsCmd("umount", mnt))
	sides := []bench.ActSide{
		{
			Name:    "loops mount --lv benchvg/inplace $W/lvm/pv.img MNT; read all; loops umount MNT",
			Label:   "loops mount --lv (linear, one run: read in place); read; umount",
			Loops:   true,
			Setup:   []bench.Act{cold},
			Timed:   []bench.Act{bench.Exec(h.loopsCmd("mount", "--lv", "benchvg/inplace", pv, mnt)), rd, lumnt},
			Cleanup: cleanMnt,
		},
		{
			Name:    "loops mount --lv benchvg/split $W/lvm/pv.img MNT; read all; loops umount MNT",
			Label:   "loops mount --lv (linear, two segments: served); read; umount",
			Loops:   true,
			Setup:   []bench.Act{cold},
			Timed:   []bench.Act{bench.Exec(h.loopsCmd("mount", "--lv", "benchvg/split", pv, mnt)), rd, lumnt},
			Cleanup: cleanMnt,
		},
		{
			Name:    "mount -o loop,ro $W/lvm/plain.img MNT; read all; umount",
			Label:   "the plain ext4 image: mount -o loop,ro; read; umount",
			Ref:     true,
			Setup:   []bench.Act{cold},
			Timed:   []bench.Act{bench.Exec(cmd("mount", "-o", "loop,ro", plain, mnt)), rd, bench.Exec(cmd("umount", mnt))},
			Cleanup: cleanMnt,
		},
	}
	h.rep.Printf("## LVM: a file inside a linear LV through loops mount vs the plain ext4 image\n\n")
	h.rep.Printf("One ext4 image (4 KiB blocks) holding one file of %d MiB of random bytes, made once per run (`mkfs.ext4 -d`), and an LVM PV image (`$W/lvm/pv.img`, %s; lvm2 with a private LVM_SYSTEM_DIR, nothing activated) whose VG holds the same filesystem twice: LV `inplace`, linear in one run of the image, which loops reads in place (a read-only loop device at the LV's offset, as `losetup --offset` would: no server), and LV `split`, linear in two segments with another LV between them, which loops serves through `loops-serve` (FUSE; the LV's ranges spliced from the image file, not copied) with a loop device on it. Every side: mount, read the file (`loops-bench __readall MNT`, 1 MiB reads), unmount. **Cold cache**: before every side of every round, untimed, `sync` and `echo 3 > /proc/sys/vm/drop_caches`. The sides alternate in each round.",
		lvmFileMiB, firstLine("dpkg-query", "-W", "-f", "lvm2 ${Version}", "lvm2"))
	if deviceMapper() {
		h.rep.Printf(" `vgchange -ay` + `mount /dev/mapper/...` is not compared: it would activate the VG in the host's LVM.\n\n")
	} else {
		h.rep.Printf(" `vgchange -ay` + `mount /dev/mapper/...` could not be run: this kernel has no device-mapper.\n\n")
	}
	logf("LVM: %d+%d rounds of %d sides", warm, n, len(sides))
	total, _, reads, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	rbytes, odd := bench.ReadBytes(sides, reads)
	if odd != "" {
		h.rep.Printf("%s\n\n", odd)
	}
	ref := total[2].Median()
	rates := bench.ReadRates(total, rbytes, "in place", "served", "plain ext4")
	for i, what := range []string{"read in place (linear, one run)", "served (linear, two segments)"} {
		r := bench.Ratio(total[i].Median(), ref)
		h.rep.Table("lvm", fmt.Sprintf("LVM2, a %d MiB file, %s: mount + read + umount, cold", lvmFileMiB, what),
			fmt.Sprintf("%d rounds after %d warm-up. Read at the median: %s. Goal: within 1.05× of the plain image: %s (%.2f). %s", n, warm, rates, yesNo(r <= 1.05), r, fastRatio(total[i], total[2])),
			[]*bench.Series{total[i], total[2]})
	}
	return nil
}
