package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// ntfsFiles and ntfsDirs shape the many-files tree of the NTFS image.
const ntfsFiles, ntfsDirs = 5000, 50

// ntfsImage makes a 1.5 GiB NTFS volume with mkntfs and fills it through
// ntfs-3g: ntfsFiles files of 0-16 KiB in ntfsDirs directories under
// many/, and a 1 GiB random file, big.bin; once (a kept work directory
// keeps it).
func ntfsImage(path string) error {
	done := path + ".complete"
	if _, err := os.Stat(done); err == nil {
		return nil
	}
	if err := ntfstest.Mkntfs(path, 3<<29, "BENCH"); err != nil {
		return err
	}
	mnt := path + ".fill"
	if err := mkdirs(mnt); err != nil {
		return err
	}
	defer os.Remove(mnt)
	umount, err := ntfstest.Mount(path, mnt)
	if err != nil {
		return err
	}
	ferr := fillNTFS(mnt)
	if err := umount(); err != nil && ferr == nil {
		ferr = err
	}
	if ferr != nil {
		return ferr
	}
	return os.WriteFile(done, nil, 0o644)
}

func fillNTFS(mnt string) error {
	rng := rand.NewChaCha8([32]byte{'n', 't', 'f', 's'})
	buf := make([]byte, 16<<10)
	for i := 0; i < ntfsFiles; i++ {
		dir := filepath.Join(mnt, "many", fmt.Sprintf("dir%02d", i%ntfsDirs))
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		rng.Read(buf)
		n := int(buf[0])<<6 | int(buf[1]&0x3F) // 0..16 KiB
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("file%04d.dat", i)), buf[:n], 0o644); err != nil {
			return err
		}
	}
	f, err := os.Create(filepath.Join(mnt, "big.bin"))
	if err != nil {
		return err
	}
	chunk := make([]byte, 4<<20)
	for left := 1 << 30; left > 0; left -= len(chunk) {
		rng.Read(chunk)
		if _, err := f.Write(chunk); err != nil {
			f.Close()
			return err
		}
	}
	return f.Close()
}

// ntfsSuite: an NTFS image read cold through loops and through `ntfs-3g
// -o ro`: every file of a 5,000-file tree, and one 1 GiB file. loops by
// both routes where the kernel allows: root's plain `loops mount` (the
// kernel erofs index over the image, with erofs and no ntfs3 in the
// kernel) and `loops mount --fuse` (what a user without root gets).
func (h *harness) ntfsSuite() error {
	dir := filepath.Join(h.work, "ntfs")
	img := filepath.Join(dir, "ntfs.img")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	logf("building the NTFS image (mkntfs, %d files and a 1 GiB file through ntfs-3g)", ntfsFiles)
	if err := ntfsImage(img); err != nil {
		return err
	}
	index, why := h.indexRoute(img, mnt, "ntfs3")
	n, warm := h.slowRounds()
	imount, lmount, lumount := bench.Exec(h.loopsCmd("mount", img, mnt)), bench.Exec(h.loopsCmd("mount", "--fuse", img, mnt)), bench.Exec(h.loopsCmd("umount", mnt))
	nmount, numount := bench.Exec(cmd("ntfs-3g", "-o", "ro", img, mnt)), bench.Exec(cmd("fusermount", "-u", mnt))
	cold := bench.Act{Fn: dropCaches}
	clean := []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}
	rd, err := readAllCmd(filepath.Join(mnt, "many"))
	if err != nil {
		return err
	}

	h.rep.Printf("## NTFS: loops mount (erofs index) and loops mount --fuse vs ntfs-3g -o ro\n\n")
	h.rep.Printf("This kernel has no ntfs3, so `loops mount` reads NTFS itself. As root, on a kernel with erofs, plain `loops mount IMG MNT` writes an EROFS index of the volume's tree (`loops-serve __write-index`: MFT records, directories, run lists; resident and compressed data copied into the index) and the kernel's erofs mounts it over the unmodified image, with no server: the route a root user gets by default. `loops mount --fuse` serves it through loops' FUSE server (`loops-serve`): the route of a user without root. %s Image `$W/ntfs/ntfs.img`: 1.5 GiB, `mkntfs -F -f -q` (4 KiB clusters), filled through ntfs-3g with %d files of 0-16 KiB of random data in %d directories under many/ (the small ones resident in their MFT records) and a 1 GiB random file big.bin. **Cold cache**: before every side of every round, untimed, `sync` and `echo 3 > /proc/sys/vm/drop_caches`. ntfs-3g (%s) is `ntfs-3g -o ro IMG MNT`, unmounted with `fusermount -u MNT`. The sides alternate in each round.\n\n",
		why, ntfsFiles, ntfsDirs, firstLine("dpkg-query", "-W", "-f", "ntfs-3g ${Version}", "ntfs-3g"))

	sides := routes(index,
		bench.ActSide{Name: "loops mount IMG MNT (kernel erofs index); read all of many/; loops umount MNT", Label: "loops mount (erofs index); read; umount", Loops: true,
			Setup: []bench.Act{cold}, Timed: []bench.Act{imount, rd, lumount}, Cleanup: clean},
		bench.ActSide{Name: "loops mount --fuse IMG MNT; read all of many/; loops umount MNT", Label: "loops mount --fuse; read; umount", Loops: true,
			Setup: []bench.Act{cold}, Timed: []bench.Act{lmount, rd, lumount}, Cleanup: clean},
		bench.ActSide{Name: "ntfs-3g -o ro IMG MNT; read all of many/; fusermount -u MNT", Label: "ntfs-3g -o ro; read; fusermount -u",
			Setup: []bench.Act{cold}, Timed: []bench.Act{nmount, rd, numount}, Cleanup: clean})
	total, first, reads, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	bytes, odd := bench.ReadBytes(sides, reads)
	h.rep.TableEach("ntfs", fmt.Sprintf("NTFS: mount + read every file of %d + umount, cold", ntfsFiles), fmt.Sprintf("%d rounds after %d warm-up. The reader is `loops-bench __readall MNT/many`. Read at the median: %s. The ratio column is the first loops row's; the summary has both loops routes. %s", n, warm, bench.ReadRates(total, bytes, routes(index, "loops erofs index", "loops --fuse", "ntfs-3g")...), odd), total)
	h.rep.Table("", "NTFS: time to first file, cold", "Same rounds: the mount plus the reader's time to the end of the first file.", first)

	big := bench.Exec(dd("if=" + filepath.Join(mnt, "big.bin")))
	sides = routes(index,
		bench.ActSide{Name: "loops mount IMG MNT (kernel erofs index, untimed); dd if=MNT/big.bin of=/dev/null bs=1M; loops umount (untimed)", Label: "loops mount (erofs index); dd 1 GiB", Loops: true,
			Setup: []bench.Act{cold, imount}, Timed: []bench.Act{big}, Cleanup: append([]bench.Act{lumount}, clean...)},
		bench.ActSide{Name: "loops mount --fuse IMG MNT (untimed); dd if=MNT/big.bin of=/dev/null bs=1M; loops umount (untimed)", Label: "loops mount --fuse; dd 1 GiB", Loops: true,
			Setup: []bench.Act{cold, lmount}, Timed: []bench.Act{big}, Cleanup: append([]bench.Act{lumount}, clean...)},
		bench.ActSide{Name: "ntfs-3g -o ro IMG MNT (untimed); dd if=MNT/big.bin of=/dev/null bs=1M; fusermount -u (untimed)", Label: "ntfs-3g -o ro; dd 1 GiB",
			Setup: []bench.Act{cold, nmount}, Timed: []bench.Act{big}, Cleanup: append([]bench.Act{numount}, clean...)})
	total, _, _, err = h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	h.rep.TableEach("ntfs", "NTFS: sequential read of a 1 GiB file, cold", fmt.Sprintf("%d rounds after %d warm-up; the mount and unmount are not timed (the mount after the caches are dropped). `dd bs=1M` of the file through each mount. The ratio column is the first loops row's; the summary has both loops routes.", n, warm), total)
	return nil
}
