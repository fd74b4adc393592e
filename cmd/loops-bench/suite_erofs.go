package main

import (
	"bufio"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// erofsTree writes n small files (100 a directory, 1 to 16 KiB of random
// bytes) and big files of bigMiB each into dir, once (kept in the work
// directory).
func erofsTree(dir string, n, big, bigMiB int) error {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	rng := rand.New(rand.NewPCG(5, 25))
	buf := make([]byte, 16<<10)
	for i := range n {
		d := filepath.Join(dir, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := mkdirs(d); err != nil {
				return err
			}
		}
		b := buf[:1+rng.IntN(len(buf))]
		for j := range b {
			b[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%05d.bin", i)), b, 0o644); err != nil {
			return err
		}
	}
	cc := rand.NewChaCha8([32]byte{'e', 'r', 'o', 'f', 's'})
	for i := range big {
		f, err := os.Create(filepath.Join(dir, fmt.Sprintf("big-%d.bin", i)))
		if err != nil {
			return err
		}
		w := bufio.NewWriterSize(f, 4<<20)
		_, err = io.CopyN(w, cc, int64(bigMiB)<<20)
		if err == nil {
			err = w.Flush()
		}
		f.Close()
		if err != nil {
			return err
		}
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}

// erofsImage makes (once) the ISO image of src, and its squashfs
// (uncompressed, as the ISO is) when sq is not "".
func erofsImage(src, iso, sq string) error {
	if _, err := os.Stat(iso); err != nil {
		logf("building %s", iso)
		if err := quietLong(10*time.Minute, "xorriso", "-as", "mkisofs", "-quiet", "-R", "-J", "-o", iso+".tmp", src); err != nil {
			return err
		}
		if err := os.Rename(iso+".tmp", iso); err != nil {
			return err
		}
	}
	if _, err := os.Stat(sq); sq != "" && err != nil {
		if err := quietLong(10*time.Minute, "mksquashfs", src, sq+".tmp", "-noappend", "-quiet", "-no-progress",
			"-noI", "-noD", "-noF", "-noX", "-no-xattrs"); err != nil {
			return err
		}
		return os.Rename(sq+".tmp", sq)
	}
	return nil
}

// erofsSuite: root's loops mount of an image whose filesystem the kernel
// has no driver for, through the kernel erofs index, against loops mount
// --fuse of the same image and squashfs of the same tree; and the time of
// the mount itself (the index written by loops-serve __write-index).
func (h *harness) erofsSuite() error {
	h.rep.Printf("## The kernel erofs index: loops mount vs loops mount --fuse vs squashfs\n\n")
	fsys, _ := os.ReadFile("/proc/filesystems")
	if !strings.Contains(string(fsys), "\terofs\n") || strings.Contains(string(fsys), "\tiso9660\n") {
		h.rep.Printf("Skipped: the index route needs a kernel with erofs and without iso9660 (its own driver wins).\n\n")
		return nil
	}
	dir := filepath.Join(h.work, "erofs")
	bigMiB := 32
	if h.quick {
		bigMiB = 8
	}
	src := filepath.Join(dir, fmt.Sprintf("src-%d", bigMiB))
	iso, sq := filepath.Join(dir, fmt.Sprintf("tree5k-%d.iso", bigMiB)), filepath.Join(dir, fmt.Sprintf("tree5k-%d.sqfs", bigMiB))
	logf("building the 5,000-file tree, its ISO image and its squashfs")
	if err := erofsTree(src, 5000, 4, bigMiB); err != nil {
		return err
	}
	if err := erofsImage(src, iso, sq); err != nil {
		return err
	}
	src100k, iso100k := filepath.Join(dir, "src-100k"), filepath.Join(dir, "tree100k.iso")
	logf("building the 100,000-file tree and its ISO image")
	if err := fileTree100k(src100k); err != nil {
		return err
	}
	if err := erofsImage(src100k, iso100k, ""); err != nil {
		return err
	}
	mnt := filepath.Join(h.work, "erofsmnt")
	if err := mkdirs(mnt); err != nil {
		return err
	}
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	short := h.rep.Paths.Short
	h.rep.Printf("The kernel has erofs and no iso9660, so root's `loops mount IMAGE` writes an EROFS index of the image's tree (`loops-serve __write-index`) and the kernel's erofs mounts it over the unmodified image; `loops mount --fuse` serves the same image through loops' FUSE server; squashfs is `mksquashfs -noI -noD -noF -noX` of the same tree (uncompressed, as the ISO is) on a loop device (`mount -o loop,ro`). The tree (`%s`): 5,000 files of 1 to 16 KiB of random bytes in 50 directories, and four %d MiB files; `xorriso -as mkisofs -R -J`. Reads: `loops-bench __readall MNT` (every file in lexical order to its end, 1 MiB reads).\n\n", short(src), bigMiB)

	umount := func() []bench.Act {
		return []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}
	}
	for _, cold := range []bool{true, false} {
		prep := func(img string, mount bench.Step) []bench.Act {
			if cold {
				return []bench.Act{bench.Exec(mount), {Fn: dropCaches}}
			}
			return []bench.Act{warmFile(img), bench.Exec(mount)}
		}
		sides := []bench.ActSide{
			{Name: "loops mount ISO MNT (kernel erofs index); read every file", Label: "erofs index", Loops: true,
				Setup: prep(iso, h.loopsCmd("mount", iso, mnt)), Timed: []bench.Act{rd}, Cleanup: umount()},
			{Name: "loops mount --fuse ISO MNT; read every file", Label: "--fuse", Loops: true,
				Setup: prep(iso, h.loopsCmd("mount", "--fuse", iso, mnt)), Timed: []bench.Act{rd}, Cleanup: umount()},
			{Name: "mount -o loop,ro SQUASHFS MNT; read every file", Label: "squashfs", Ref: true,
				Setup: prep(sq, cmd("mount", "-o", "loop,ro", sq, mnt)), Timed: []bench.Act{rd}, Cleanup: umount()},
		}
		state, note := "cold cache", "**Cold cache**: after the mount (untimed), `sync` and `echo 3 > /proc/sys/vm/drop_caches`: the image, the index and the tree the FUSE server parsed are read again from the disk."
		if !cold {
			state, note = "warm cache", "**Warm cache**: the image file read once before the mount (untimed); each round mounts afresh, so the filesystem's own caches start empty."
		}
		n, warm := h.slowRounds()
		logf("erofs index, %s: %d+%d rounds", state, warm, n)
		total, _, reads, err := h.r.MeasureActs(n, warm, sides)
		if err != nil {
			return err
		}
		bytes, odd := bench.ReadBytes(sides, reads)
		if odd != "" {
			h.rep.Printf("%s\n\n", odd)
		}
		idx, fuse, sqfs := total[0].Median(), total[1].Median(), total[2].Median()
		goal := fmt.Sprintf("Goal: the index at least 2× faster than --fuse: %s (%.2f); within 1.15× of squashfs: %s (%.2f).",
			yesNo(bench.Ratio(fuse, idx) >= 2), bench.Ratio(fuse, idx), yesNo(bench.Ratio(idx, sqfs) <= 1.15), bench.Ratio(idx, sqfs))
		h.rep.Table("erofs", "read every file of the 5,000-file ISO, "+state, fmt.Sprintf("%s %d rounds. Read at the median: %s. %s", note, n,
			bench.ReadRates(total, bytes, "erofs index", "--fuse", "squashfs"), goal), total)
	}

	for _, c := range []struct {
		iso, what string
		goal      time.Duration
	}{{iso, "the 5,000-file ISO", 100 * time.Millisecond}, {iso100k, "a 100,000-file ISO", time.Second}} {
		res, err := h.measure(
			bench.Side{Name: "loops mount " + short(c.iso) + " MNT (erofs index)", Label: "loops mount ISO MNT", Loops: true,
				Timed: []bench.Step{h.loopsCmd("mount", c.iso, mnt)}, Cleanup: []bench.Step{h.loopsCmd("umount", mnt)}},
			bench.Side{Name: "loops mount --fuse " + short(c.iso) + " MNT", Label: "loops mount --fuse ISO MNT", Loops: true,
				Timed: []bench.Step{h.loopsCmd("mount", "--fuse", c.iso, mnt)}, Cleanup: []bench.Step{h.loopsCmd("umount", mnt)}})
		if err != nil {
			return err
		}
		idx := res[0].Median()
		h.rep.Table("erofs", "mount "+c.what, fmt.Sprintf("Until the command returns with the mount live (the index written and mounted; the FUSE server started and ready); the unmount is not timed. Warm cache. %d rounds. Goal: the index route within %v: %s.", h.runs, c.goal, yesNo(idx <= c.goal)), res)
	}
	return nil
}

// fileTree100k writes 1,000 directories of 100 small files into dir, once.
func fileTree100k(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, ".complete")); err == nil {
		return nil
	}
	os.RemoveAll(dir)
	for i := range 1000 {
		d := filepath.Join(dir, fmt.Sprintf("d%04d", i))
		if err := mkdirs(d); err != nil {
			return err
		}
		for j := range 100 {
			if err := os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%03d.txt", j)), fmt.Appendf(nil, "%d/%d\n", i, j), 0o644); err != nil {
				return err
			}
		}
	}
	return os.WriteFile(filepath.Join(dir, ".complete"), nil, 0o644)
}
