package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"

	"github.com/loops-cli/loops/blockloop/iso9660"
)

// isoImage builds (or, in a kept work directory, reuses) the image of
// docs/bench-iso.sh: a 64 MiB and a big random file (1 GiB; 256 MiB in
// quick mode) and a 10,000-file tree (100 dirs × 100 files), xorriso -R -J.
func isoImage(bigMiB int) (iso, tree string) {
	dir := mkdir(filepath.Join(workDir, "iso"))
	iso = filepath.Join(dir, fmt.Sprintf("bench-%d.iso", bigMiB))
	src := filepath.Join(dir, "src")
	tree = filepath.Join(src, "tree")
	if _, err := os.Stat(iso); err == nil {
		if _, err := os.Stat(filepath.Join(tree, "d99", "file-99.txt")); err == nil {
			return iso, tree
		}
	}
	logf("building the ISO image (%d MiB file, 10,000-file tree)", bigMiB)
	mkdir(tree)
	rng := rand.NewChaCha8([32]byte{'l', 'o', 'o', 'p', 's'})
	for name, mib := range map[string]int{"big64.bin": 64, "big.bin": bigMiB} {
		f, err := os.Create(filepath.Join(src, name))
		if err != nil {
			fail("%v", err)
		}
		w := bufio.NewWriterSize(f, 4<<20)
		if _, err := io.CopyN(w, rng, int64(mib)<<20); err != nil {
			fail("%v", err)
		}
		w.Flush()
		f.Close()
	}
	for i := range 100 {
		d := mkdir(filepath.Join(tree, fmt.Sprint("d", i)))
		for j := range 100 {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%d.txt", j)), fmt.Appendf(nil, "%d/%d\n", i, j), 0o644)
		}
	}
	if err := quiet("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", iso+".tmp", src); err != nil {
		fail("%v", err)
	}
	os.Rename(iso+".tmp", iso)
	os.Remove(filepath.Join(src, "big64.bin"))
	os.Remove(filepath.Join(src, "big.bin"))
	return iso, tree
}

func extentOffset(img *iso9660.Image, name string) int64 {
	e, err := img.Lookup(name)
	if err != nil || len(e.Extents) != 1 {
		fail("%s in the image: %v", name, err)
	}
	return e.Extents[0].Offset
}

// serverPID finds the FUSE server serving mnt: the process whose command
// line names the mount point and, for loops, __serve (loops-serve keeps
// that first argument).
func serverPID(mnt, must string) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		var pid int
		if _, err := fmt.Sscan(e.Name(), &pid); err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		args := strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")
		if len(args) < 2 || args[len(args)-1] != mnt {
			continue
		}
		for _, a := range args[:len(args)-1] {
			if a == must || filepath.Base(a) == must {
				return pid
			}
		}
	}
	return 0
}

func statusKB(pid int, field string) string {
	b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			return strings.TrimSpace(v)
		}
	}
	return "?"
}

func isoSuite(r *runner, rep *report) {
	bigMiB := 1024
	if quick {
		bigMiB = 256
	}
	iso, tree := isoImage(bigMiB)
	f, err := os.Open(iso)
	if err != nil {
		fail("%v", err)
	}
	st, _ := f.Stat()
	img, err := iso9660.Open(f, st.Size())
	if err != nil {
		fail("%v", err)
	}
	off64, offBig := extentOffset(img, "big64.bin"), extentOffset(img, "big.bin")
	io.Copy(io.Discard, f) // the image in the page cache: every side reads it warm
	f.Close()

	mnt := mkdir(filepath.Join(workDir, "isomnt"))
	lmount, lumount := loopsCmd("mount", iso, mnt), loopsCmd("umount", mnt)
	fmount, fumount := cmd("fuseiso", iso, mnt), cmd("fusermount", "-u", mnt)
	n := max(3, runs/4)
	bigName := fmt.Sprintf("%d MiB", bigMiB)
	if bigMiB == 1024 {
		bigName = "1 GiB"
	}

	rep.printf("## ISO 9660: loops (FUSE, `loops-serve`) vs fuseiso vs the image itself\n\n")
	rep.printf("This kernel has no iso9660 driver, so `loops mount` serves the image in userspace (FUSE) and `mount -o loop` cannot mount it at all. Image (`$W/iso/bench-%d.iso`, %.0f MiB): xorriso `-R -J`, with a 64 MiB and a %s random file and a 10,000-file tree (100 dirs × 100 files), read once first so that it is in the page cache. The mount point is the same for both servers. \"fresh mount\": each round mounts (untimed), reads, unmounts (untimed), so the kernel has none of the FUSE file's pages and every byte goes through the server. \"image\" reads the same byte range straight from the image file: the limit. Reads are `dd bs=1M`; the walk is `find -printf '%%s%%m%%U'` (a stat of every entry).\n\n", bigMiB, float64(st.Size())/(1<<20), bigName)

	res := r.measure(runs, warmup,
		side{name: "loops mount " + shortPath(iso) + " " + shortPath(mnt), label: "loops mount ISO MNT", loops: true, timed: []step{lmount}, cleanup: []step{lumount}},
		side{name: "fuseiso " + shortPath(iso) + " " + shortPath(mnt), label: "fuseiso ISO MNT", timed: []step{fmount}, cleanup: []step{fumount}})
	rep.table("iso", "mount an ISO image", fmt.Sprintf("Until the command returns with the mount live (fuseiso forks its server into the background once mounted, as loops does). The unmount is not timed. %d rounds.", runs), res)

	dd := func(args ...string) step {
		return cmd(append([]string{"dd", "of=/dev/null", "bs=1M", "status=none"}, args...)...)
	}
	through := func(timed step) []side {
		return []side{
			{name: "loops", loops: true, setup: []step{lmount}, timed: []step{timed}, cleanup: []step{lumount}},
			{name: "fuseiso", setup: []step{fmount}, timed: []step{timed}, cleanup: []step{fumount}},
		}
	}
	for _, c := range []struct {
		file string
		off  int64
		mib  int
		what string
	}{{"big64.bin", off64, 64, "64 MiB"}, {"big.bin", offBig, bigMiB, bigName}} {
		sides := append(through(dd("if="+filepath.Join(mnt, c.file))),
			sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", c.off), fmt.Sprintf("count=%d", c.mib<<20))).named("image (dd of the same bytes)").reference())
		res := r.measure(n, 1, sides...)
		rep.table("iso", "sequential read, "+c.what+", fresh mount", fmt.Sprintf("%d rounds. Throughput at the median: %s.", n, throughputs(res, c.mib)), res)
	}
	walk := func(dir string) step { return cmd("find", dir, "-printf", `%s%m%U\n`) }
	res = r.measure(n, 1, append(through(walk(filepath.Join(mnt, "tree"))), sd(false, walk(tree)).named("the source tree on the host filesystem").reference())...)
	rep.table("iso", "walk of the 10,000-file tree (stat of every entry), fresh mount", fmt.Sprintf("%d rounds.", n), res)

	// Same mount kept: what re-reading a file costs (loops keeps the pages).
	mntL, mntF := mkdir(filepath.Join(workDir, "isomnt-l")), mkdir(filepath.Join(workDir, "isomnt-f"))
	r.once(nil, loopsCmd("mount", iso, mntL))
	r.once(nil, cmd("fuseiso", iso, mntF))
	res = r.measure(n, 1,
		sd(true, dd("if="+filepath.Join(mntL, "big64.bin"))).named("loops"),
		sd(false, dd("if="+filepath.Join(mntF, "big64.bin"))).named("fuseiso"),
		sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off64), "count=64M")).named("image (dd of the same bytes)").reference())
	rep.table("iso", "re-read of 64 MiB, same mount", fmt.Sprintf("Both servers mounted once, at their own mount points; the first of the %d+1 rounds (a warm-up) reads through the server, the later ones may be served from the kernel's cache of the FUSE file if the server allows it.", n), res)
	r.once(nil, loopsCmd("umount", mntL))
	r.once(nil, cmd("fusermount", "-u", mntF))

	// Peak RSS while reading everything once.
	rep.printf("### Memory of the FUSE server while reading\n\n")
	rep.printf("VmHWM (peak RSS) and VmRSS of the server process from `/proc/PID/status`: right after the mount, and after reading the 64 MiB file, the %s file and walking the tree once on that fresh mount.\n\n", bigName)
	rep.printf("| server | peak RSS after mount | peak RSS after reading | RSS after reading |\n|:---|---:|---:|---:|\n")
	for _, s := range []struct {
		name, find string
		mount      step
		umount     step
	}{{"loops (`loops-serve`)", "__serve", lmount, lumount}, {"fuseiso", "fuseiso", fmount, fumount}} {
		r.once(nil, s.mount)
		pid := serverPID(mnt, s.find)
		if pid == 0 {
			r.once(nil, s.umount)
			fail("no %s process for %s", s.find, mnt)
		}
		before := statusKB(pid, "VmHWM")
		r.once(nil, dd("if="+filepath.Join(mnt, "big64.bin")), dd("if="+filepath.Join(mnt, "big.bin")), walk(filepath.Join(mnt, "tree")))
		after, rss := statusKB(pid, "VmHWM"), statusKB(pid, "VmRSS")
		r.once(nil, s.umount)
		rep.printf("| %s | %s | %s | %s |\n", s.name, before, after, rss)
	}
	rep.printf("\n")
}

func throughputs(res []*series, mib int) string {
	var p []string
	for _, s := range res {
		name, _, _ := strings.Cut(s.name, " (")
		if m := s.median(); m > 0 {
			p = append(p, fmt.Sprintf("%s %.0f MiB/s", name, float64(mib)/m.Seconds()))
		}
	}
	return strings.Join(p, ", ")
}
