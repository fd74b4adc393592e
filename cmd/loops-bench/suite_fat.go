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
	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
	"golang.org/x/sys/unix"
)

// fatDirs are the /usr/share directories copied into the FAT image: about
// 200 MB of real files (mcopy follows file symlinks and skips directory
// ones).
var fatDirs = []string{"doc", "vim", "perl", "i18n"}

// fatImage makes a 256 MiB FAT32 image (2 KiB clusters: 4 KiB ones leave
// too few clusters for FAT32 at this size) holding fatDirs.
func fatImage(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	f.Truncate(256 << 20)
	f.Close()
	if err := quiet("mkfs.vfat", "-F", "32", "-s", "4", "-n", "BENCH", path); err != nil {
		return err
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
				return fmt.Errorf("mcopy: %v: %s", err, l)
			}
		}
	}
	return nil
}

// tmpfsDir mounts a tmpfs at dir (the sweep at exit unmounts it).
func (h *harness) tmpfsDir(dir, size string) error {
	if err := mkdirs(dir); err != nil {
		return err
	}
	if err := unix.Mount("tmpfs", dir, "tmpfs", 0, "size="+size); err != nil {
		return fmt.Errorf("mount tmpfs at %s: %w", dir, err)
	}
	h.undo.add(func() { unix.Unmount(dir, unix.MNT_DETACH) })
	return nil
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

func (h *harness) fatSuite() error {
	dir := filepath.Join(h.work, "fat")
	img := filepath.Join(dir, "sdcard.img")
	mnt := filepath.Join(dir, "mnt")
	out := filepath.Join(dir, "out")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	logf("building the FAT32 image (mcopy -s of /usr/share/{%s})", strings.Join(fatDirs, ","))
	if err := fatImage(img); err != nil {
		return err
	}
	if err := h.tmpfsDir(out, "512m"); err != nil {
		return err
	}
	index, why := h.indexRoute(img, mnt, "vfat")
	n, warm := h.slowRounds()
	imount, lmount, lumount := h.loopsCmd("mount", img, mnt), h.loopsCmd("mount", "--fuse", img, mnt), h.loopsCmd("umount", mnt)
	fmount, fumount := cmd("fusefat", "-o", "ro", img, mnt), cmd("fusermount", "-u", mnt)
	unmountAny := bench.Act{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	warmImg := warmFile(img)

	h.rep.Printf("## FAT: loops mount (erofs index) and loops mount --fuse vs fusefat vs mcopy\n\n")
	h.rep.Printf("This kernel has no vfat driver, so `loops mount` reads FAT itself. As root, on a kernel with erofs, plain `loops mount IMG MNT` writes an EROFS index of the volume's tree (`loops-serve __write-index`) and the kernel's erofs mounts it over the unmodified image, with no server: the route a root user gets by default. `loops mount --fuse` serves it through loops' FUSE server (`loops-serve`): the route of a user without root (`--fuse` forces it where the kernel has vfat). %s Image `$W/fat/sdcard.img`: 256 MiB FAT32 (`mkfs.vfat -F 32 -s 4`: 2 KiB clusters) holding `mcopy -s` of /usr/share/{%s} (`MTOOLS_SKIP_CHECK=1`; mcopy follows file symlinks and skips directory ones). Page cache warm: the image is read once before every side. The reader is `loops-bench __readall MNT` (a walk reading every regular file to its end, as in the VM disk rows). fusefat (%s) is `fusefat -o ro IMG MNT`, unmounted with `fusermount -u MNT`; mcopy extracts with `mcopy -s -n -i IMG ::/ OUT` into a tmpfs (emptied after each round, untimed). The sides alternate in each round.\n\n", why, strings.Join(fatDirs, ","), firstLine("dpkg-query", "-W", "-f", "fusefat ${Version}", "fusefat"))

	mc := bench.ActSide{Name: "mcopy -s -n -i IMG ::/ OUT (OUT on tmpfs)", Label: "mcopy -s -n (extract to tmpfs)",
		Env: []string{"MTOOLS_SKIP_CHECK=1"}, Setup: []bench.Act{warmImg},
		Timed: []bench.Act{bench.Exec(cmd("mcopy", "-s", "-n", "-i", img, "::/", out))}, Cleanup: []bench.Act{{Fn: emptyDir(out)}}}
	sides := routes(index,
		bench.ActSide{Name: "loops mount IMG MNT (kernel erofs index); read all; loops umount MNT", Label: "loops mount (erofs index); read; umount", Loops: true,
			Setup: []bench.Act{warmImg}, Timed: []bench.Act{bench.Exec(imount), rd, bench.Exec(lumount)}, Cleanup: []bench.Act{unmountAny}},
		bench.ActSide{Name: "loops mount --fuse IMG MNT; read all; loops umount MNT", Label: "loops mount --fuse; read; umount", Loops: true,
			Setup: []bench.Act{warmImg}, Timed: []bench.Act{bench.Exec(lmount), rd, bench.Exec(lumount)}, Cleanup: []bench.Act{unmountAny}},
		bench.ActSide{Name: "fusefat -o ro IMG MNT; read all; fusermount -u MNT", Label: "fusefat -o ro; read; fusermount -u",
			Setup: []bench.Act{warmImg}, Timed: []bench.Act{bench.Exec(fmount), rd, bench.Exec(fumount)}, Cleanup: []bench.Act{unmountAny}},
		mc)
	total, first, reads, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	bytes, odd := bench.ReadBytes(sides, reads)
	h.rep.TableEach("fat", "FAT32: mount + read every file + umount", fmt.Sprintf("%d rounds after %d warm-up (`max(3, RUNS/4)`: fusefat takes tens of seconds a round). Read at the median: %s. mcopy writes the files into a tmpfs instead of reading them through a mount: the other way a user gets at them without vfat. fusefat shows the volume label as one more file, empty. The ratio column is the first loops row's; the summary has both loops routes. %s", n, warm, bench.ReadRates(total, bytes, routes(index, "loops erofs index", "loops --fuse", "fusefat", "mcopy")...), odd), total)
	h.rep.Table("", "FAT32: time to first file", "Same rounds: the mount plus the reader's time to the end of the first file.", first[:len(first)-1])
	if err := emptyDir(out)(nil); err != nil {
		return fmt.Errorf("cannot empty %s: %w", out, err)
	}

	mountAlone := func(loops bool, mount, umount bench.Step, label string) bench.Side {
		s := h.sd(loops, mount).Labelled(label)
		s.Cleanup = []bench.Step{umount}
		return s
	}
	res, err := h.measure(routes(index,
		mountAlone(true, imount, lumount, "loops mount (erofs index)"),
		mountAlone(true, lmount, lumount, "loops mount --fuse"),
		mountAlone(false, fmount, fumount, "fusefat -o ro"))...)
	if err != nil {
		return err
	}
	h.rep.TableEach("fat", "FAT32: mount alone", fmt.Sprintf("Until the command returns with the mount live (the erofs index written and mounted; the FUSE server started and ready); the unmount after each round is not timed. %d rounds. The ratio column is the first loops row's; the summary has both loops routes.", h.runs), res)
	return nil
}

// slowRounds are the recorded and warm-up rounds of a comparison whose
// rounds take seconds: max(3, RUNS/4) after 1; 1 after none in quick mode.
func (h *harness) slowRounds() (n, warm int) {
	if h.quick {
		return 1, 0
	}
	return max(3, h.runs/4), 1
}

// udfSuite: a UDF image read through loops, where loops serves UDF, by
// both routes where the kernel allows (root's plain `loops mount`, the
// kernel erofs index, and `loops mount --fuse`), against 7-Zip extracting
// it; skipped, saying why, where loops does not serve UDF.
func (h *harness) udfSuite() error {
	h.rep.Printf("## UDF: loops mount (erofs index) and loops mount --fuse vs 7-Zip\n\n")
	if _, err := os.Stat(filepath.Join(h.repo, "blockloop", "udf")); err != nil {
		h.rep.Printf("Skipped: this tree has no UDF reader (blockloop/udf).\n\n")
		return nil
	}
	dir := filepath.Join(h.work, "udf")
	if err := mkdirs(dir); err != nil {
		return err
	}
	iso := filepath.Join(dir, "udf.iso")
	args := []string{"genisoimage", "-quiet", "-udf", "-R", "-J", "-input-charset", "utf-8", "-o", iso, "-graft-points"}
	for _, d := range fatDirs {
		args = append(args, d+"/=/usr/share/"+d)
	}
	logf("building the UDF image (genisoimage -udf of /usr/share/{%s})", strings.Join(fatDirs, ","))
	if err := quietLong(5*time.Minute, args...); err != nil {
		return err
	}
	probe, err := h.r.Once(nil, h.loopsCmd("block", "probe", iso))
	if err != nil {
		return err
	}
	route := ""
	for _, l := range strings.Split(probe, "\n") {
		if strings.HasPrefix(l, "mount") {
			route = strings.TrimSpace(strings.TrimPrefix(l, "mount"))
		}
	}
	if !strings.Contains(route, "udf") {
		h.rep.Printf("Skipped: `loops block probe` of a `genisoimage -udf -R -J` image says it mounts it as `%s`, not UDF: this loops does not serve UDF yet, and a row would time its ISO 9660 tree.\n\n", route)
		return nil
	}
	mnt, out := filepath.Join(dir, "mnt"), filepath.Join(dir, "out")
	if err := mkdirs(mnt); err != nil {
		return err
	}
	if err := h.tmpfsDir(out, "512m"); err != nil {
		return err
	}
	index, why := h.indexRoute(iso, mnt, "udf")
	n, warm := h.slowRounds()
	warmImg := warmFile(iso)
	st, err := os.Stat(iso)
	if err != nil {
		return err
	}
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	h.rep.Printf("Image `$W/udf/udf.iso` (%.0f MiB): `genisoimage -udf -R -J` of /usr/share/{%s}; `loops block probe` route: %s. Page cache warm (the image is read once before every side). loops reads every file (`loops-bench __readall`) through root's plain `loops mount`, where the kernel has erofs and no udf: an EROFS index of the image's tree written by `loops-serve __write-index`, mounted by the kernel's erofs over the unmodified image, with no server; and through `loops mount --fuse` (loops' FUSE server, the route of a user without root). %s 7-Zip (%s) extracts it with `7zz x -tudf -y -oOUT` into a tmpfs (emptied after each round, untimed). The sides alternate in each round.\n\n",
		float64(st.Size())/(1<<20), strings.Join(fatDirs, ","), route, why, firstLine("7zz", "i"))
	umount := h.loopsCmd("umount", mnt)
	clean := []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}
	sides := routes(index,
		bench.ActSide{Name: "loops mount ISO MNT (kernel erofs index); read all; loops umount MNT", Label: "loops mount (erofs index); read; umount", Loops: true,
			Setup: []bench.Act{warmImg}, Timed: []bench.Act{bench.Exec(h.loopsCmd("mount", iso, mnt)), rd, bench.Exec(umount)}, Cleanup: clean},
		bench.ActSide{Name: "loops mount --fuse ISO MNT; read all; loops umount MNT", Label: "loops mount --fuse; read; umount", Loops: true,
			Setup: []bench.Act{warmImg}, Timed: []bench.Act{bench.Exec(h.loopsCmd("mount", "--fuse", iso, mnt)), rd, bench.Exec(umount)}, Cleanup: clean},
		bench.ActSide{Name: "7zz x -tudf -y -oOUT ISO (OUT on tmpfs)", Label: "7zz x -tudf (extract to tmpfs)", Setup: []bench.Act{warmImg},
			Timed: []bench.Act{bench.Exec(cmd("7zz", "x", "-tudf", "-y", "-bd", "-o"+out, iso))}, Cleanup: []bench.Act{{Fn: emptyDir(out)}}})
	total, _, reads, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	bytes, odd := bench.ReadBytes(sides, reads)
	h.rep.TableEach("udf", "UDF: read every file", fmt.Sprintf("%d rounds after %d warm-up. Read at the median: %s. The ratio column is the first loops row's; the summary has both loops routes. %s", n, warm, bench.ReadRates(total, bytes, routes(index, "loops erofs index", "loops --fuse", "7-Zip")...), odd), total)
	return h.udfFileRows(out)
}

// udfFileRows times, on a UDF image of a 64 MiB random file and a
// 10,000-file tree, a sequential read of the file and a walk of the tree
// through a fresh `loops mount` by both routes (indexRoute) against 7-Zip
// (what a user runs on a kernel without udf) and the image itself (the
// limit).
func (h *harness) udfFileRows(out string) error {
	dir := filepath.Join(h.work, "udf", "files")
	src := filepath.Join(dir, "src")
	tree := filepath.Join(src, "tree")
	iso := filepath.Join(dir, "files.iso")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(tree, mnt); err != nil {
		return err
	}
	rng := rand.NewChaCha8([32]byte{'u', 'd', 'f'})
	big := make([]byte, 64<<20)
	rng.Read(big)
	if err := os.WriteFile(filepath.Join(src, "big64.bin"), big, 0o644); err != nil {
		return err
	}
	if err := fileTree(tree); err != nil {
		return err
	}
	if err := quietLong(5*time.Minute, "genisoimage", "-quiet", "-udf", "-input-charset", "utf-8", "-o", iso, src); err != nil {
		return err
	}
	off, size, err := udfExtent(iso, "big64.bin")
	if err != nil {
		return err
	}
	index, why := h.indexRoute(iso, mnt, "udf")
	imount, lmount, umount := h.loopsCmd("mount", iso, mnt), h.loopsCmd("mount", "--fuse", iso, mnt), h.loopsCmd("umount", mnt)
	n, _ := h.slowRounds()
	h.rep.Printf("Image `$W/udf/files/files.iso` (%.0f MiB): `genisoimage -udf` of a 64 MiB random file and a 10,000-file tree (100 dirs × 100 files). \"fresh mount\": each loops round mounts (untimed), reads, unmounts (untimed); \"loops erofs index\" is root's plain `loops mount`, \"loops --fuse\" is `loops mount --fuse`. %s 7-Zip extracts the same file, or lists the tree, into a tmpfs; \"image\" reads the file's bytes straight from the image (the limit).\n\n", float64(size)/(1<<20), why)
	fresh := func(name string, mount, timed bench.Step) bench.Side {
		return bench.Side{Name: name, Loops: true, Setup: []bench.Step{mount}, Timed: []bench.Step{timed}, Cleanup: []bench.Step{umount}}
	}
	read := dd("if=" + filepath.Join(mnt, "big64.bin"))
	res, err := h.r.Measure(n, 1, routes(index,
		fresh("loops erofs index", imount, read), fresh("loops --fuse", lmount, read),
		h.sd(false, cmd("7zz", "e", "-tudf", "-y", "-bd", "-o"+out, iso, "big64.bin")).Named("7zz e -tudf ISO big64.bin (to tmpfs)"),
		h.sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off), "count=64M")).Named("image (dd of the same bytes)").Reference())...)
	if err != nil {
		return err
	}
	h.rep.TableEach("udf", "UDF: sequential read, 64 MiB, fresh mount", fmt.Sprintf("%d rounds. Throughput at the median: %s. The ratio column is the first loops row's; the summary has both loops routes.", n, bench.Throughputs(res, 64)), res)
	tw := walk(filepath.Join(mnt, "tree"))
	res, err = h.r.Measure(n, 1, routes(index,
		fresh("loops erofs index", imount, tw), fresh("loops --fuse", lmount, tw),
		h.sd(false, cmd("7zz", "l", "-tudf", iso)).Named("7zz l -tudf ISO (list)"),
		h.sd(false, walk(tree)).Named("the source tree on the host filesystem").Reference())...)
	if err != nil {
		return err
	}
	h.rep.TableEach("udf", "UDF: walk of the 10,000-file tree (stat of every entry), fresh mount", fmt.Sprintf("%d rounds. The ratio column is the first loops row's; the summary has both loops routes.", n), res)
	os.RemoveAll(out)
	return os.MkdirAll(out, 0o755)
}

// udfExtent is where a file's one extent starts in a UDF image, and the
// image's size.
func udfExtent(iso, name string) (off, size int64, err error) {
	f, err := os.Open(iso)
	if err != nil {
		return 0, 0, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return 0, 0, err
	}
	fs, err := udf.Open(f, st.Size())
	if err != nil {
		return 0, 0, err
	}
	e, err := fs.Lookup(name)
	if err != nil {
		return 0, 0, fmt.Errorf("%s in the UDF image: %w", name, err)
	}
	if len(e.Extents) != 1 {
		return 0, 0, fmt.Errorf("%s in the UDF image: %d extents, want 1", name, len(e.Extents))
	}
	return e.Extents[0].Offset, st.Size(), nil
}
