package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// fusefatWriteLimit stops fusefat's copy: it writes a few files a second
// into a directory of hundreds, and the whole tree would take most of an
// hour a round.
const fusefatWriteLimit = 120 * time.Second

// fatWriteTree writes the tree copied into the FAT image: 1,000 small
// files (0-3 KB, long mixed-case names) in one directory and a 64 MiB
// random file. The names are ASCII: fusefat refuses others (EPERM).
func fatWriteTree(src string) error {
	small := filepath.Join(src, "Small Files")
	if err := mkdirs(small); err != nil {
		return err
	}
	rng := rand.New(rand.NewChaCha8([32]byte{'f', 'a', 't', 'w'}))
	buf := make([]byte, 3000)
	for i := range 1000 {
		n := rng.IntN(len(buf))
		for j := range buf[:n] {
			buf[j] = byte(rng.Uint32())
		}
		if err := os.WriteFile(filepath.Join(small, fmt.Sprintf("Small File Number %04d of Mixed Case.TxT", i)), buf[:n], 0o644); err != nil {
			return err
		}
	}
	big := make([]byte, 64<<20)
	rand.NewChaCha8([32]byte{'b', 'i', 'g'}).Read(big)
	return os.WriteFile(filepath.Join(src, "Large File.bin"), big, 0o644)
}

// fatWriteSuite: the tree copied into a fresh FAT32 image through `loops
// mount --rw` (mount, cp -r, umount: umount writes everything), against
// `mcopy -s` of the same tree and fusefat's read-write mode.
func (h *harness) fatWriteSuite() error {
	dir := filepath.Join(h.work, "fatwrite")
	img, mnt, src := filepath.Join(dir, "sd.img"), filepath.Join(dir, "mnt"), filepath.Join(dir, "src")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	logf("writing the FAT write tree (1,000 small files and 64 MiB)")
	if err := fatWriteTree(src); err != nil {
		return err
	}
	small, large := filepath.Join(src, "Small Files"), filepath.Join(src, "Large File.bin")
	fresh := bench.Act{Fn: func(map[string]string) error {
		h.cleanMnt(mnt)
		os.Remove(img)
		f, err := os.Create(img)
		if err != nil {
			return err
		}
		f.Truncate(256 << 20)
		f.Close()
		return quiet("mkfs.vfat", "-F", "32", "-n", "BENCH", img)
	}}
	unmountAny := bench.Act{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}
	cpTree := cmd("cp", "-r", small, large, mnt+"/")

	h.rep.Printf("## FAT write: loops mount --rw vs mcopy vs fusefat\n\n")
	h.rep.Printf("Copying a tree into a fresh 256 MiB FAT32 image (`mkfs.vfat -F 32`, 4 KiB clusters; made before each round, untimed): 1,000 small files (0 to 3 KB of random bytes, names like `Small File Number 0042 of Mixed Case.TxT`, ASCII because fusefat refuses others) in one directory, and one 64 MiB random file. loops: `loops mount --fuse --rw IMG MNT; cp -r SRC... MNT/; loops umount MNT` (the umount waits until everything is written and the volume marked clean). mcopy: `mcopy -s -i IMG SRC... ::/` (`MTOOLS_SKIP_CHECK=1`). fusefat (%s): `fusefat -o rw+ IMG MNT; cp -r SRC... MNT/; fusermount -u MNT`, one round, stopped after %s (`timeout`, exit 124): its time then is a lower bound, and so is the ratio.\n\n",
		firstLine("dpkg-query", "-W", "-f", "fusefat ${Version}", "fusefat"), fusefatWriteLimit)
	n, warm := h.slowRounds()
	sides := []bench.ActSide{
		{Name: "loops mount --fuse --rw IMG MNT; cp -r SRC... MNT/; loops umount MNT", Label: "loops mount --rw; cp; umount", Loops: true,
			Setup: []bench.Act{fresh}, Cleanup: []bench.Act{unmountAny},
			Timed: []bench.Act{bench.Exec(h.loopsCmd("mount", "--fuse", "--rw", img, mnt)), bench.Exec(cpTree), bench.Exec(h.loopsCmd("umount", mnt))}},
		{Name: "mcopy -s -i IMG SRC... ::/", Label: "mcopy -s", Env: []string{"MTOOLS_SKIP_CHECK=1"},
			Setup: []bench.Act{fresh}, Timed: []bench.Act{bench.Exec(cmd("mcopy", "-s", "-i", img, small, large, "::/"))}},
	}
	total, _, _, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	limit := fmt.Sprint(int(fusefatWriteLimit.Seconds()))
	fusefat := []bench.ActSide{{Name: "fusefat -o rw+ IMG MNT; timeout " + limit + " cp -r SRC... MNT/; fusermount -u MNT", Label: "fusefat -o rw+; cp; fusermount -u",
		Setup: []bench.Act{fresh}, Cleanup: []bench.Act{{Fn: func(map[string]string) error { quiet("fusermount", "-u", mnt); return nil }}},
		Timed: []bench.Act{bench.Exec(cmd("fusefat", "-o", "rw+", img, mnt)), bench.Exec(cmd("timeout", limit, "cp", "-r", small, large, mnt+"/").Allow(124)),
			bench.Exec(cmd("fusermount", "-u", mnt))}}}
	ff, _, _, err := h.r.MeasureActs(1, 0, fusefat)
	if err != nil {
		return err
	}
	h.rep.Table("fatwrite", "FAT32 write: 1,000 small files + 64 MiB into the image", fmt.Sprintf("loops and mcopy: %d rounds after %d warm-up, alternating; fusefat: 1 round.", n, warm), append(total, ff...))
	return nil
}
