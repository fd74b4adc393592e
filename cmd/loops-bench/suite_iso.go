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
	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
	"github.com/loops-cli/loops/internal/serveproto"
)

// isoImage builds (or, in a kept work directory, reuses) the image of
// docs/bench-iso.sh: a 64 MiB and a big random file (1 GiB; 256 MiB in
// quick mode) and a 10,000-file tree (100 dirs × 100 files), xorriso -R -J.
func (h *harness) isoImage(bigMiB int) (iso, tree string, err error) {
	dir := filepath.Join(h.work, "iso")
	iso = filepath.Join(dir, fmt.Sprintf("bench-%d.iso", bigMiB))
	src := filepath.Join(dir, "src")
	tree = filepath.Join(src, "tree")
	if _, err := os.Stat(iso); err == nil {
		if _, err := os.Stat(filepath.Join(tree, "d99", "file-99.txt")); err == nil {
			return iso, tree, nil
		}
	}
	logf("building the ISO image (%d MiB file, 10,000-file tree)", bigMiB)
	if err := mkdirs(tree); err != nil {
		return "", "", err
	}
	rng := rand.NewChaCha8([32]byte{'l', 'o', 'o', 'p', 's'})
	for name, mib := range map[string]int{"big64.bin": 64, "big.bin": bigMiB} {
		f, err := os.Create(filepath.Join(src, name))
		if err != nil {
			return "", "", err
		}
		w := bufio.NewWriterSize(f, 4<<20)
		_, err = io.CopyN(w, rng, int64(mib)<<20)
		if err == nil {
			err = w.Flush()
		}
		f.Close()
		if err != nil {
			return "", "", err
		}
	}
	if err := fileTree(tree); err != nil {
		return "", "", err
	}
	if err := quiet("xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", iso+".tmp", src); err != nil {
		return "", "", err
	}
	os.Rename(iso+".tmp", iso)
	os.Remove(filepath.Join(src, "big64.bin"))
	os.Remove(filepath.Join(src, "big.bin"))
	return iso, tree, nil
}

// fileTree writes the 10,000-file tree (100 dirs × 100 small files) into
// dir.
func fileTree(dir string) error {
	for i := range 100 {
		d := filepath.Join(dir, fmt.Sprint("d", i))
		if err := mkdirs(d); err != nil {
			return err
		}
		for j := range 100 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%d.txt", j)), fmt.Appendf(nil, "%d/%d\n", i, j), 0o644); err != nil {
				return err
			}
		}
	}
	return nil
}

func extentOffset(img *iso9660.Image, name string) (int64, error) {
	e, err := img.Lookup(name)
	if err != nil {
		return 0, fmt.Errorf("%s in the image: %w", name, err)
	}
	if len(e.Extents) != 1 {
		return 0, fmt.Errorf("%s in the image: %d extents, want 1", name, len(e.Extents))
	}
	return e.Extents[0].Offset, nil
}

// serverPID finds the FUSE server serving mnt: the process whose command
// line names the mount point last and, for loops, __serve (the command of
// loops-serve).
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

func (h *harness) isoSuite() error {
	bigMiB := 1024
	if h.quick {
		bigMiB = 256
	}
	iso, tree, err := h.isoImage(bigMiB)
	if err != nil {
		return err
	}
	f, err := os.Open(iso)
	if err != nil {
		return err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return err
	}
	img, err := iso9660.Open(f, st.Size())
	if err != nil {
		return err
	}
	off64, err := extentOffset(img, "big64.bin")
	if err != nil {
		return err
	}
	offBig, err := extentOffset(img, "big.bin")
	if err != nil {
		return err
	}
	io.Copy(io.Discard, f) // the image in the page cache: every side reads it warm

	mnt := filepath.Join(h.work, "isomnt")
	if err := mkdirs(mnt); err != nil {
		return err
	}
	lmount, lumount := h.loopsCmd("mount", "--fuse", iso, mnt), h.loopsCmd("umount", mnt)
	fmount, fumount := cmd("fuseiso", iso, mnt), cmd("fusermount", "-u", mnt)
	n := max(3, h.runs/4)
	bigName := fmt.Sprintf("%d MiB", bigMiB)
	if bigMiB == 1024 {
		bigName = "1 GiB"
	}

	h.rep.Printf("## ISO 9660: loops (FUSE, `loops-serve`) vs fuseiso vs the image itself\n\n")
	h.rep.Printf("This kernel has no iso9660 driver, so `loops mount` serves the image in userspace (FUSE) and `mount -o loop` cannot mount it at all. Image (`$W/iso/bench-%d.iso`, %.0f MiB): xorriso `-R -J`, with a 64 MiB and a %s random file and a 10,000-file tree (100 dirs × 100 files), read once first so that it is in the page cache. The mount point is the same for both servers. \"fresh mount\": each round mounts (untimed), reads, unmounts (untimed), so the kernel has none of the FUSE file's pages and every byte goes through the server. \"image\" reads the same byte range straight from the image file: the limit. Reads are `dd bs=1M`; the walk is `find -printf '%%s%%m%%U'` (a stat of every entry).\n\n", bigMiB, float64(st.Size())/(1<<20), bigName)

	short := h.rep.Paths.Short
	if err := h.table("iso", "mount an ISO image", fmt.Sprintf("Until the command returns with the mount live (fuseiso forks its server into the background once mounted, as loops does). The unmount is not timed. %d rounds.", h.runs),
		bench.Side{Name: "loops mount " + short(iso) + " " + short(mnt), Label: "loops mount ISO MNT", Loops: true, Timed: []bench.Step{lmount}, Cleanup: []bench.Step{lumount}},
		bench.Side{Name: "fuseiso " + short(iso) + " " + short(mnt), Label: "fuseiso ISO MNT", Timed: []bench.Step{fmount}, Cleanup: []bench.Step{fumount}}); err != nil {
		return err
	}

	through := func(timed bench.Step) []bench.Side {
		return []bench.Side{
			{Name: "loops", Loops: true, Setup: []bench.Step{lmount}, Timed: []bench.Step{timed}, Cleanup: []bench.Step{lumount}},
			{Name: "fuseiso", Setup: []bench.Step{fmount}, Timed: []bench.Step{timed}, Cleanup: []bench.Step{fumount}},
		}
	}
	for _, c := range []struct {
		file string
		off  int64
		mib  int
		what string
	}{{"big64.bin", off64, 64, "64 MiB"}, {"big.bin", offBig, bigMiB, bigName}} {
		sides := append(through(dd("if="+filepath.Join(mnt, c.file))),
			h.sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", c.off), fmt.Sprintf("count=%d", c.mib<<20))).Named("image (dd of the same bytes)").Reference())
		res, err := h.r.Measure(n, 1, sides...)
		if err != nil {
			return err
		}
		h.rep.Table("iso", "sequential read, "+c.what+", fresh mount", fmt.Sprintf("%d rounds. Throughput at the median: %s.", n, bench.Throughputs(res, c.mib)), res)
	}
	res, err := h.r.Measure(n, 1, append(through(walk(filepath.Join(mnt, "tree"))), h.sd(false, walk(tree)).Named("the source tree on the host filesystem").Reference())...)
	if err != nil {
		return err
	}
	h.rep.Table("iso", "walk of the 10,000-file tree (stat of every entry), fresh mount", fmt.Sprintf("%d rounds.", n), res)

	// Same mount kept: what re-reading a file costs (loops keeps the pages).
	mntL, mntF := filepath.Join(h.work, "isomnt-l"), filepath.Join(h.work, "isomnt-f")
	if err := mkdirs(mntL, mntF); err != nil {
		return err
	}
	if _, err := h.r.Once(nil, h.loopsCmd("mount", "--fuse", iso, mntL), cmd("fuseiso", iso, mntF)); err != nil {
		return err
	}
	res, err = h.r.Measure(n, 1,
		h.sd(true, dd("if="+filepath.Join(mntL, "big64.bin"))).Named("loops"),
		h.sd(false, dd("if="+filepath.Join(mntF, "big64.bin"))).Named("fuseiso"),
		h.sd(false, dd("if="+iso, "iflag=skip_bytes,count_bytes", fmt.Sprintf("skip=%d", off64), "count=64M")).Named("image (dd of the same bytes)").Reference())
	if _, uerr := h.r.Once(nil, h.loopsCmd("umount", mntL), cmd("fusermount", "-u", mntF)); err == nil {
		err = uerr
	}
	if err != nil {
		return err
	}
	h.rep.Table("iso", "re-read of 64 MiB, same mount", fmt.Sprintf("Both servers mounted once, at their own mount points; the first of the %d+1 rounds (a warm-up) reads through the server, the later ones may be served from the kernel's cache of the FUSE file if the server allows it.", n), res)

	// Peak RSS while reading everything once.
	h.rep.Printf("### Memory of the FUSE server while reading\n\n")
	h.rep.Printf("VmHWM (peak RSS) and VmRSS of the server process from `/proc/PID/status`: right after the mount, and after reading the 64 MiB file, the %s file and walking the tree once on that fresh mount.\n\n", bigName)
	h.rep.Printf("| server | peak RSS after mount | peak RSS after reading | RSS after reading |\n|:---|---:|---:|---:|\n")
	for _, s := range []struct {
		name, find string
		mount      bench.Step
		umount     bench.Step
	}{{"loops (`loops-serve`)", serveproto.ServeCommand, lmount, lumount}, {"fuseiso", "fuseiso", fmount, fumount}} {
		if _, err := h.r.Once(nil, s.mount); err != nil {
			return err
		}
		pid := serverPID(mnt, s.find)
		if pid == 0 {
			h.r.Once(nil, s.umount)
			return fmt.Errorf("no %s process for %s", s.find, mnt)
		}
		before := statusKB(pid, "VmHWM")
		_, err := h.r.Once(nil, dd("if="+filepath.Join(mnt, "big64.bin")), dd("if="+filepath.Join(mnt, "big.bin")), walk(filepath.Join(mnt, "tree")))
		after, rss := statusKB(pid, "VmHWM"), statusKB(pid, "VmRSS")
		if _, uerr := h.r.Once(nil, s.umount); err == nil {
			err = uerr
		}
		if err != nil {
			return err
		}
		h.rep.Printf("| %s | %s | %s | %s |\n", s.name, before, after, rss)
	}
	h.rep.Printf("\n")
	return nil
}

// dd reads with dd, 1 MiB at a time, into /dev/null.
func dd(args ...string) bench.Step {
	return cmd(append([]string{"dd", "of=/dev/null", "bs=1M", "status=none"}, args...)...)
}

// walk stats every entry under dir (find -printf of size, mode, owner).
func walk(dir string) bench.Step { return cmd("find", dir, "-printf", `%s%m%U\n`) }
