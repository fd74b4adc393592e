package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// ext4Image makes an ext4 image of size MiB at path.
func ext4Image(path string, mib int, label string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	f.Truncate(int64(mib) << 20)
	f.Close()
	return quiet("mkfs.ext4", "-q", "-F", "-L", label, path)
}

// mkdirs makes each directory (and its parents).
func mkdirs(dirs ...string) error {
	for _, d := range dirs {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return err
		}
	}
	return nil
}

func (h *harness) blockSuite() error {
	dir := filepath.Join(h.work, "block")
	img := filepath.Join(dir, "ext4.img")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	if err := ext4Image(img, 32, "bench"); err != nil {
		return err
	}

	h.rep.Printf("## Block: loops mount and umount vs mount -o loop and losetup\n\n")
	h.rep.Printf("A 32 MiB ext4 image in the work directory `$W` (page cache warm), an existing empty mount point. %d rounds.\n\n", h.runs)

	lmount := h.loopsCmd("mount", img, mnt)
	lumount := h.loopsCmd("umount", mnt)
	kmount := cmd("mount", "-o", "loop", img, mnt)
	kumount := cmd("umount", mnt)
	if err := h.table("block", "mount + umount (ext4)", "The losetup row attaches and detaches only, no filesystem is mounted: the part of the work that is the loop device (a reference; the like-for-like comparison with losetup is \"attach + detach\" below).",
		h.sd(true, lmount, lumount).Labelled("loops mount; loops umount"),
		h.sd(false, kmount, kumount).Labelled("mount -o loop; umount"),
		h.sd(false, cmd("losetup", "-f", "--show", img), cmd("losetup", "-d", "{out}")).Named("losetup -f --show $W/block/ext4.img; losetup -d /dev/loopN").Reference()); err != nil {
		return err
	}

	l := h.sd(true, lmount).Labelled("loops mount")
	l.Cleanup = []bench.Step{lumount}
	k := h.sd(false, kmount).Labelled("mount -o loop")
	k.Cleanup = []bench.Step{kumount}
	if err := h.table("block", "mount alone", "The unmount after each round is not timed.", l, k); err != nil {
		return err
	}

	l = h.sd(true, lumount).Labelled("loops umount")
	l.Setup = []bench.Step{lmount}
	k = h.sd(false, kumount).Labelled("umount")
	k.Setup = []bench.Step{kmount}
	if err := h.table("block", "umount alone (and detach)", "The mount before each round is not timed.", l, k); err != nil {
		return err
	}

	if err := h.table("block", "attach + detach a loop device", "",
		h.sd(true, h.loopsCmd("block", "attach", img), h.loopsCmd("block", "detach", "{out}")).Named("loops block attach $W/block/ext4.img; loops block detach /dev/loopN").Labelled("loops block attach; detach"),
		h.sd(false, cmd("losetup", "-f", "--show", img), cmd("losetup", "-d", "{out}")).Named("losetup -f --show $W/block/ext4.img; losetup -d /dev/loopN").Labelled("losetup -f --show; losetup -d")); err != nil {
		return err
	}
	return h.table("block", "probe an image", "",
		h.sd(true, h.loopsCmd("block", "probe", img)).Labelled("loops block probe IMG"), h.sd(false, cmd("blkid", "-p", img)).Labelled("blkid -p IMG"))
}

// scaleSuite: 64 images mounted at once, 256 addresses on lo, listeners
// with 10,000 established connections.
func (h *harness) scaleSuite() error {
	h.rep.Printf("## Scale\n\n")
	if err := h.scaleMounts(); err != nil {
		return err
	}
	if err := h.scaleAddrs(); err != nil {
		return err
	}
	return h.scaleConns()
}

func (h *harness) scaleMounts() error {
	const n = 64
	dir := filepath.Join(h.work, "scale")
	if err := mkdirs(dir); err != nil {
		return err
	}
	proto := filepath.Join(dir, "proto.img")
	if err := ext4Image(proto, 4, "scale"); err != nil {
		return err
	}
	data, err := os.ReadFile(proto)
	if err != nil {
		return err
	}
	imgs, mnts := make([]string, n), make([]string, n)
	defer func() {
		for _, im := range imgs {
			os.Remove(im)
		}
	}()
	for i := range n {
		imgs[i] = filepath.Join(dir, fmt.Sprintf("img%02d.img", i))
		mnts[i] = filepath.Join(dir, fmt.Sprintf("mnt%02d", i))
		if err := mkdirs(mnts[i]); err != nil {
			return err
		}
		if err := os.WriteFile(imgs[i], data, 0o644); err != nil {
			return err
		}
	}
	series := max(1, h.runs/8)
	// One side of a round is a whole series: mount 1..64, each timed, then
	// all unmounted (untimed). The two tools' series alternate.
	type tool struct {
		name  string
		loops bool
		mount func(i int) bench.Step
	}
	tools := []tool{
		{"loops mount IMG MNT", true, func(i int) bench.Step { return h.loopsCmd("mount", imgs[i], mnts[i]) }},
		{"mount -o loop IMG MNT", false, func(i int) bench.Step { return cmd("mount", "-o", "loop", imgs[i], mnts[i]) }},
	}
	times := make([][][]time.Duration, len(tools)) // tool, k, rounds
	for t := range tools {
		times[t] = make([][]time.Duration, n)
	}
	umountAll := func() error {
		for i := n - 1; i >= 0; i-- {
			if err := quiet("umount", mnts[i]); err != nil && isMounted(mnts[i]) {
				return err
			}
		}
		return nil
	}
	for range series {
		for t, tl := range tools {
			for i := range n {
				d, _, _, err := h.r.Steps(h.r.Base, []bench.Step{tl.mount(i)})
				if err != nil {
					umountAll()
					return fmt.Errorf("mount %d of %d: %w", i+1, n, err)
				}
				times[t][i] = append(times[t][i], d)
			}
			if err := umountAll(); err != nil {
				return err
			}
		}
	}
	h.rep.Printf("### %d images mounted at once\n\n", n)
	h.rep.Printf("64 ext4 images of 4 MiB, mounted one after the other at their own mount points while the earlier ones stay mounted; the time of the k-th mount (median over %d series; the series of the two tools alternate, and all are unmounted, untimed, after each).\n\n", series)
	h.rep.Printf("| k-th mount | `loops mount` ms | `mount -o loop` ms | loops ÷ mount |\n|---:|---:|---:|---:|\n")
	for _, k := range []int{1, 16, 32, 64} {
		l, m := bench.Quantile(times[0][k-1], 0.5), bench.Quantile(times[1][k-1], 0.5)
		h.rep.Printf("| %d | %s | %s | %.2f |\n", k, bench.MS(l), bench.MS(m), bench.Ratio(l, m))
	}
	var all [2][]time.Duration
	for t := range tools {
		for i := range n {
			all[t] = append(all[t], times[t][i]...)
		}
	}
	l, m := bench.Quantile(all[0], 0.5), bench.Quantile(all[1], 0.5)
	h.rep.Printf("| all 1–64 | %s | %s | %.2f |\n\n", bench.MS(l), bench.MS(m), bench.Ratio(l, m))
	h.rep.AddSummary(bench.SummaryRow{Area: "scale", What: "the 64th mount, 63 mounted", Loops: "loops mount", Other: "mount -o loop",
		L: bench.Quantile(times[0][n-1], 0.5), O: bench.Quantile(times[1][n-1], 0.5)})
	return nil
}

func isMounted(mp string) bool {
	for _, m := range mountsUnder(filepath.Dir(mp)) {
		if m == mp {
			return true
		}
	}
	return false
}
