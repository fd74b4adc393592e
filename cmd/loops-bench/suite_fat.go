package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/loops-cli/loops/blockloop/udf"
	"golang.org/x/sys/unix"
)

// fatDirs are the /usr/share directories copied into the FAT image: about
// 200 MB of real files (mcopy follows file symlinks and skips directory
// ones).
var fatDirs = []string{"doc", "vim", "perl", "i18n"}

// fatImage makes a 256 MiB FAT32 image (2 KiB clusters: 4 KiB ones leave
// too few clusters for FAT32 at this size) holding fatDirs.
func fatImage(path string) {
	f, err := os.Create(path)
	if err != nil {
		fail("%v", err)
	}
	f.Truncate(256 << 20)
	f.Close()
	if err := quiet("mkfs.vfat", "-F", "32", "-s", "4", "-n", "BENCH", path); err != nil {
		fail("%v", err)
	}
	args := []string{"mcopy", "-s", "-i", path}
	for _, d := range fatDirs {
		if _, err := os.Stat(filepath.Join("/usr/share", d)); err == nil {
			args = append(args, filepath.Join("/usr/share", d))
		}
	}
	c := exec.Command(args[0], append(args[1:], "::/")...)
	c.Env = append(os.Environ(), "MTOOLS_SKIP_CHECK=1")
	out, err := c.CombinedOutput()
	if err != nil {
		// mcopy exits 1 when it skips a directory symlink; anything else fails.
		for _, l := range strings.Split(strings.TrimSpace(string(out)), "\n") {
			if l != "" && !strings.HasPrefix(l, "skipping directory symlink") {
				fail("mcopy: %v: %s", err, l)
			}
		}
	}
}

// tmpfsDir mounts a tmpfs at dir (the sweep at exit unmounts it).
func tmpfsDir(dir, size string) string {
	mkdir(dir)
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		fail("mount tmpfs at %s: %v", dir, err)
	}
	atCleanup(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return dir
}

func emptyDir(dir string) func(map[string]string) error {
	return func(map[string]string) error {
		ents, err := os.ReadDir(dir)
		if err != nil {
			return err
		}
		for _, e := range ents {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				return err
			}
		}
		return nil
	}
}

func fatSuite(r *runner, rep *report) {
	dir := mkdir(filepath.Join(workDir, "fat"))
	img := filepath.Join(dir, "sdcard.img")
	logf("building the FAT32 image (mcopy -s of /usr/share/{%s})", strings.Join(fatDirs, ","))
	fatImage(img)
	mnt := mkdir(filepath.Join(dir, "mnt"))
	out := tmpfsDir(filepath.Join(dir, "out"), "512m")
	n, warm := max(3, runs/4), 1
	if quick {
		n, warm = 1, 0
	}
	lmount, lumount := loopsCmd("mount", "--fuse", img, mnt), loopsCmd("umount", mnt)
	fmount, fumount := cmd("fusefat", "-o", "ro", img, mnt), cmd("fusermount", "-u", mnt)
	unmountAny := act{fn: func(map[string]string) error { cleanMnt(mnt); return nil }}
	rd := readAllCmd(mnt)
	warmImg := warmFile(img)

	rep.printf("## FAT: loops mount --fuse vs fusefat vs mcopy\n\n")
	rep.printf("This kernel has no vfat driver, so `loops mount` serves FAT in userspace (FUSE; `--fuse` forces it where the kernel has one). Image `$W/fat/sdcard.img`: 256 MiB FAT32 (`mkfs.vfat -F 32 -s 4`: 2 KiB clusters) holding `mcopy -s` of /usr/share/{%s} (`MTOOLS_SKIP_CHECK=1`; mcopy follows file symlinks and skips directory ones). Page cache warm: the image is read once before every side. The reader is `loops-bench __readall MNT` (a walk reading every regular file to its end, as in the VM disk rows). fusefat (%s) is `fusefat -o ro IMG MNT`, unmounted with `fusermount -u MNT`; mcopy extracts with `mcopy -s -n -i IMG ::/ OUT` into a tmpfs (emptied after each round, untimed).\n\n", strings.Join(fatDirs, ","), firstLine("dpkg-query", "-W", "-f", "fusefat ${Version}", "fusefat"))

	mc := dside{name: "mcopy -s -n -i IMG ::/ OUT (OUT on tmpfs)", label: "mcopy -s -n (extract to tmpfs)",
		env: []string{"MTOOLS_SKIP_CHECK=1"}, setup: []act{warmImg},
		timed: []act{ex(cmd("mcopy", "-s", "-n", "-i", img, "::/", out))}, cleanup: []act{{fn: emptyDir(out)}}}
	sides := []dside{
		{name: "loops mount --fuse IMG MNT; read all; loops umount MNT", label: "loops mount --fuse; read; umount", loops: true,
			setup: []act{warmImg}, timed: []act{ex(lmount), rd, ex(lumount)}, cleanup: []act{unmountAny}},
		{name: "fusefat -o ro IMG MNT; read all; fusermount -u MNT", label: "fusefat -o ro; read; fusermount -u",
			setup: []act{warmImg}, timed: []act{ex(fmount), rd, ex(fumount)}, cleanup: []act{unmountAny}},
		mc,
	}
	total, first, reads := r.measureActs(n, warm, sides)
	bytes, odd := readBytes(sides, reads)
	rep.table("fat", "FAT32: mount + read every file + umount", fmt.Sprintf("%d rounds after %d warm-up (`max(3, RUNS/4)`: fusefat takes tens of seconds a round). Read at the median: %s. mcopy writes the files into a tmpfs instead of reading them through a mount: the other way a user gets at them without vfat. fusefat shows the volume label as one more file, empty. %s", n, warm, readRates(total, bytes, "loops", "fusefat", "mcopy"), odd), total)
	rep.table("", "FAT32: time to first file", "Same rounds: the mount plus the reader's time to the end of the first file.", first[:2])
	if emptyDir(out)(nil) != nil {
		fail("cannot empty %s", out)
	}

	l := sd(true, lmount).labelled("loops mount --fuse")
	l.cleanup = []step{lumount}
	f := sd(false, fmount).labelled("fusefat -o ro")
	f.cleanup = []step{fumount}
	res := r.measure(runs, warmup, l, f)
	rep.table("fat", "FAT32: mount alone", fmt.Sprintf("Until the command returns with the mount live; the unmount after each round is not timed. %d rounds.", runs), res)
}

// udfSuite: a UDF image read through loops, where loops serves UDF, against
// 7-Zip extracting it; skipped, saying why, where loops does not.
func udfSuite(r *runner, rep *report) {
	rep.printf("## UDF: loops mount --fuse vs 7-Zip\n\n")
	if _, err := os.Stat(filepath.Join(repoDir, "blockloop", "udf")); err != nil {
		rep.printf("Skipped: this tree has no UDF reader (blockloop/udf).\n\n")
		return
	}
	dir := mkdir(filepath.Join(workDir, "udf"))
	iso := filepath.Join(dir, "udf.iso")
	args := []string{"genisoimage", "-quiet", "-udf", "-R", "-J", "-input-charset", "utf-8", "-o", iso, "-graft-points"}
	for _, d := range fatDirs {
		args = append(args, d+"/=/usr/share/"+d)
	}
	logf("building the UDF image (genisoimage -udf of /usr/share/{%s})", strings.Join(fatDirs, ","))
	if err := quietLong(5*time.Minute, args...); err != nil {
		fail("%v", err)
	}
	probe := r.once(nil, loopsCmd("block", "probe", iso))
	route := ""
	for _, l := range strings.Split(probe, "\n") {
		if strings.HasPrefix(l, "mount") {
			route = strings.TrimSpace(strings.TrimPrefix(l, "mount"))
		}
	}
	if !strings.Contains(route, "udf") {
		rep.printf("Skipped: `loops block probe` of a `genisoimage -udf -R -J` image says it mounts it as `%s`, not UDF: this loops does not serve UDF yet, and a row would time its ISO 9660 tree.\n\n", route)
		return
	}
	mnt := mkdir(filepath.Join(dir, "mnt"))
	out := tmpfsDir(filepath.Join(dir, "out"), "512m")
	n, warm := max(3, runs/4), 1
	if quick {
		n, warm = 1, 0
	}
	warmImg := warmFile(iso)
	st, _ := os.Stat(iso)
	rep.printf("Image `$W/udf/udf.iso` (%.0f MiB): `genisoimage -udf -R -J` of /usr/share/{%s}; `loops block probe` route: %s. Page cache warm (the image is read once before every side). loops reads every file through `loops mount --fuse` (`loops-bench __readall`); 7-Zip (%s) extracts it with `7zz x -tudf -y -oOUT` into a tmpfs (emptied after each round, untimed).\n\n",
		float64(st.Size())/(1<<20), strings.Join(fatDirs, ","), route, firstLine("7zz", "i"))
	sides := []dside{
		{name: "loops mount --fuse ISO MNT; read all; loops umount MNT", label: "loops mount --fuse; read; umount", loops: true,
			setup: []act{warmImg}, timed: []act{ex(loopsCmd("mount", "--fuse", iso, mnt)), readAllCmd(mnt), ex(loopsCmd("umount", mnt))},
			cleanup: []act{{fn: func(map[string]string) error { cleanMnt(mnt); return nil }}}},
		{name: "7zz x -tudf -y -oOUT ISO (OUT on tmpfs)", label: "7zz x -tudf (extract to tmpfs)", setup: []act{warmImg},
			timed: []act{ex(cmd("7zz", "x", "-tudf", "-y", "-bd", "-o"+out, iso))}, cleanup: []act{{fn: emptyDir(out)}}},
	}
	total, _, reads := r.measureActs(n, warm, sides)
	bytes, _ := readBytes(sides, reads)
	rep.table("udf", "UDF: read every file", fmt.Sprintf("%d rounds after %d warm-up. Read at the median: %s.", n, warm, readRates(total, bytes, "loops", "7-Zip")), total)
	udfFileRows(r, rep, out)
}

// udfFileRows times, on a UDF image of a 64 MiB random file and a
// 10,000-file tree, a sequential read of the file and a walk of the tree
// through a fresh `loops mount --fuse` against 7-Zip (what a user runs on a
// kernel without udf) and the image itself (the limit).
func udfFileRows(r *runner, rep *report, out string) {
	dir := mkdir(filepath.Join(workDir, "udf", "files"))
	src := mkdir(filepath.Join(dir, "src"))
	tree := mkdir(filepath.Join(src, "tree"))
	iso := filepath.Join(dir, "files.iso")
	rng := rand.NewChaCha8([32]byte{'u', 'd', 'f'})
	big := make([]byte, 64<<20)
	rng.Read(big)
	if err := os.WriteFile(filepath.Join(src, "big64.bin"), big, 0o644); err != nil {
		fail("%v", err)
	}
	for i := range 100 {
		d := mkdir(filepath.Join(tree, fmt.Sprint("d", i)))
		for j := range 100 {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%d.txt", j)), fmt.Appendf(nil, "%d/%d\n", i, j), 0o644)
		}
	}
	if err := quietLong(5*time.Minute, "genisoimage", "-quiet", "-udf", "-input-charset", "utf-8", "-o", iso, src); err != nil {
		fail("%v", err)
	}
	f, err := os.Open(iso)
	if err != nil {
		fail("%v", err)
	}
	st, _ := f.Stat()
	fs, err := udf.Open(f, st.Size())
	if err != nil {
		fail("%v", err)
	}
	e, err := fs.Lookup("big64.bin")
	if err != nil || len(e.Extents) != 1 {
		fail("big64.bin in the UDF image: %v (%d extents)", err, len(e.Extents))
	}
	off := e.Extents[0].Offset
	f.Close()
	mnt := mkdir(filepath.Join(dir, "mnt"))
	mount, umount := loopsCmd("mount", "--fuse", iso, mnt), loopsCmd("umount", mnt)
	n := max(3, runs/4)
	if quick {
		n = 1
	}
	rep.printf("Image `$W/udf/files/files.iso` (%.0f MiB): `genisoimage -udf` of a 64 MiB random file and a 10,000-file tree (100 dirs × 100 files). \"fresh mount\": each loops round mounts (untimed), reads, unmounts (untimed). 7-Zip extracts the same file, or lists the tree, into a tmpfs; \"image\" reads the file's bytes straight from the image (the limit).\n\n", float64(st.Size())/(1<<20))
	dd := func(args ...string) step {
		return cmd(append([]string{"dd", "of=/dev/null", "bs=1M", "status=none"}, args...)...)
	}
	res := r.measure(n, 1,
		side{name: "loops", loops: true, setup: []step{mount}, timed: []step{dd("if=" + filepath.Join(mnt, "big64.bin"))}, cleanup: []step{umount}},
		sd(false, cmd("7zz", "e", "-tudf", "-y", "-bd", "-o"+out, iso, "big64.bin")).named("7zz e -tudf ISO big64.bin (to tmpfs)"),
		sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off), "count=64M")).named("image (dd of the same bytes)").reference())
	rep.table("udf", "UDF: sequential read, 64 MiB, fresh mount", fmt.Sprintf("%d rounds. Throughput at the median: %s.", n, throughputs(res, 64)), res)
	walk := cmd("find", filepath.Join(mnt, "tree"), "-printf", `%s%m%U\n`)
	res = r.measure(n, 1,
		side{name: "loops", loops: true, setup: []step{mount}, timed: []step{walk}, cleanup: []step{umount}},
		sd(false, cmd("7zz", "l", "-tudf", iso)).named("7zz l -tudf ISO (list)"),
		sd(false, cmd("find", tree, "-printf", `%s%m%U\n`)).named("the source tree on the host filesystem").reference())
	rep.table("udf", "UDF: walk of the 10,000-file tree (stat of every entry), fresh mount", fmt.Sprintf("%d rounds.", n), res)
	os.RemoveAll(out)
	os.MkdirAll(out, 0o755)
}
