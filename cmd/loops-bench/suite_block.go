package main

import (
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// ext4Image makes an ext4 image of size MiB at path.
func ext4Image(path string, mib int, label string) {
	f, err := os.Create(path)
	if err != nil {
		fail("%v", err)
	}
	f.Truncate(int64(mib) << 20)
	f.Close()
	if err := quiet("mkfs.ext4", "-q", "-F", "-L", label, path); err != nil {
		fail("%v", err)
	}
}

func mkdir(p string) string {
	if err := os.MkdirAll(p, 0o755); err != nil {
		fail("%v", err)
	}
	return p
}

func blockSuite(r *runner, rep *report) {
	dir := mkdir(filepath.Join(workDir, "block"))
	img := filepath.Join(dir, "ext4.img")
	ext4Image(img, 32, "bench")
	mnt := mkdir(filepath.Join(dir, "mnt"))

	rep.printf("## Block: loops mount and umount vs mount -o loop and losetup\n\n")
	rep.printf("A 32 MiB ext4 image in the work directory `$W` (page cache warm), an existing empty mount point. %d rounds.\n\n", runs)

	lmount := loopsCmd("mount", img, mnt)
	lumount := loopsCmd("umount", mnt)
	kmount := cmd("mount", "-o", "loop", img, mnt)
	kumount := cmd("umount", mnt)
	res := r.measure(runs, warmup,
		sd(true, lmount, lumount).labelled("loops mount; loops umount"),
		sd(false, kmount, kumount).labelled("mount -o loop; umount"),
		sd(false, cmd("losetup", "-f", "--show", img), cmd("losetup", "-d", "{out}")).named("losetup -f --show $W/block/ext4.img; losetup -d /dev/loopN").reference())
	rep.table("block", "mount + umount (ext4)", "The losetup row attaches and detaches only, no filesystem is mounted: the part of the work that is the loop device (a reference; the like-for-like comparison with losetup is \"attach + detach\" below).", res)

	l := sd(true, lmount).labelled("loops mount")
	l.cleanup = []step{lumount}
	k := sd(false, kmount).labelled("mount -o loop")
	k.cleanup = []step{kumount}
	res = r.measure(runs, warmup, l, k)
	rep.table("block", "mount alone", "The unmount after each round is not timed.", res)

	l = sd(true, lumount).labelled("loops umount")
	l.setup = []step{lmount}
	k = sd(false, kumount).labelled("umount")
	k.setup = []step{kmount}
	res = r.measure(runs, warmup, l, k)
	rep.table("block", "umount alone (and detach)", "The mount before each round is not timed.", res)

	res = r.measure(runs, warmup,
		sd(true, loopsCmd("block", "attach", img), loopsCmd("block", "detach", "{out}")).named("loops block attach $W/block/ext4.img; loops block detach /dev/loopN").labelled("loops block attach; detach"),
		sd(false, cmd("losetup", "-f", "--show", img), cmd("losetup", "-d", "{out}")).named("losetup -f --show $W/block/ext4.img; losetup -d /dev/loopN").labelled("losetup -f --show; losetup -d"))
	rep.table("block", "attach + detach a loop device", "", res)

	res = r.measure(runs, warmup, sd(true, loopsCmd("block", "probe", img)).labelled("loops block probe IMG"), sd(false, cmd("blkid", "-p", img)).labelled("blkid -p IMG"))
	rep.table("block", "probe an image", "", res)
}

// scaleSuite: 64 images mounted at once, 256 addresses on lo, listeners
// with 10,000 established connections.
func scaleSuite(r *runner, rep *report) {
	rep.printf("## Scale\n\n")
	scaleMounts(r, rep)
	scaleAddrs(r, rep)
	scaleConns(r, rep)
}

func scaleMounts(r *runner, rep *report) {
	const n = 64
	dir := mkdir(filepath.Join(workDir, "scale"))
	proto := filepath.Join(dir, "proto.img")
	ext4Image(proto, 4, "scale")
	data, err := os.ReadFile(proto)
	if err != nil {
		fail("%v", err)
	}
	imgs, mnts := make([]string, n), make([]string, n)
	for i := range n {
		imgs[i] = filepath.Join(dir, fmt.Sprintf("img%02d.img", i))
		mnts[i] = mkdir(filepath.Join(dir, fmt.Sprintf("mnt%02d", i)))
		if err := os.WriteFile(imgs[i], data, 0o644); err != nil {
			fail("%v", err)
		}
	}
	series := max(1, runs/8)
	// One side of a round is a whole series: mount 1..64, each timed, then
	// all unmounted (untimed). The two tools' series alternate.
	type tool struct {
		name  string
		loops bool
		mount func(i int) step
	}
	tools := []tool{
		{"loops mount IMG MNT", true, func(i int) step { return loopsCmd("mount", imgs[i], mnts[i]) }},
		{"mount -o loop IMG MNT", false, func(i int) step { return cmd("mount", "-o", "loop", imgs[i], mnts[i]) }},
	}
	times := make([][][]time.Duration, len(tools)) // tool, k, rounds
	for t := range tools {
		times[t] = make([][]time.Duration, n)
	}
	umountAll := func() {
		for i := n - 1; i >= 0; i-- {
			if err := quiet("umount", mnts[i]); err != nil && isMounted(mnts[i]) {
				fail("%v", err)
			}
		}
	}
	for round := range series {
		for t, tl := range tools {
			for i := range n {
				d, _, _, err := r.steps(r.base, []step{tl.mount(i)})
				if err != nil {
					umountAll()
					fail("mount %d of %d: %v", i+1, n, err)
				}
				times[t][i] = append(times[t][i], d)
			}
			umountAll()
		}
		_ = round
	}
	rep.printf("### %d images mounted at once\n\n", n)
	rep.printf("64 ext4 images of 4 MiB, mounted one after the other at their own mount points while the earlier ones stay mounted; the time of the k-th mount (median over %d series; the series of the two tools alternate, and all are unmounted, untimed, after each).\n\n", series)
	rep.printf("| k-th mount | `loops mount` ms | `mount -o loop` ms | loops ÷ mount |\n|---:|---:|---:|---:|\n")
	for _, k := range []int{1, 16, 32, 64} {
		l, m := quantile(times[0][k-1], 0.5), quantile(times[1][k-1], 0.5)
		rep.printf("| %d | %s | %s | %.2f |\n", k, ms(l), ms(m), ratio(l, m))
	}
	var all [2][]time.Duration
	for t := range tools {
		for i := range n {
			all[t] = append(all[t], times[t][i]...)
		}
	}
	l, m := quantile(all[0], 0.5), quantile(all[1], 0.5)
	rep.printf("| all 1–64 | %s | %s | %.2f |\n\n", ms(l), ms(m), ratio(l, m))
	rep.summary = append(rep.summary,
		sumRow{"scale", "the 64th mount, 63 mounted", "loops mount", "mount -o loop", quantile(times[0][n-1], 0.5), quantile(times[1][n-1], 0.5)})
	for _, im := range imgs {
		os.Remove(im)
	}
}

func isMounted(mp string) bool {
	for _, m := range mountsUnder(filepath.Dir(mp)) {
		if m == mp {
			return true
		}
	}
	return false
}
