package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// luksFileMiB is the size of the file read through LUKS.
const luksFileMiB = 1024

// luksImages builds, once per run, an ext4 image holding one file of
// luksFileMiB random bytes (plain.img), the same filesystem encrypted in
// place with LUKS2 (cryptsetup reencrypt --encrypt, aes-xts-plain64,
// PBKDF2 at 1000 iterations: the key derivation is timed apart) and a
// header-only LUKS2 volume with cryptsetup's default keyslot (Argon2id, as
// costly as cryptsetup's own benchmark makes it) for the key derivation.
func luksImages(dir, key string) (plain, enc, kdf string, err error) {
	src := filepath.Join(dir, "src")
	if err := mkdirs(src); err != nil {
		return "", "", "", err
	}
	logf("building the LUKS images: a %d MiB random file in ext4, encrypted in place by cryptsetup", luksFileMiB)
	if err := quietLong(5*time.Minute, "dd", "if=/dev/urandom", "of="+filepath.Join(src, "big.bin"), "bs=1M", fmt.Sprintf("count=%d", luksFileMiB), "status=none"); err != nil {
		return "", "", "", err
	}
	plain, enc, kdf = filepath.Join(dir, "plain.img"), filepath.Join(dir, "luks.img"), filepath.Join(dir, "kdf.img")
	fsMiB := luksFileMiB + 64
	for _, p := range []string{plain, enc} {
		if err := quietLong(5*time.Minute, "mkfs.ext4", "-q", "-F", "-b", "4096", "-L", "luksbench", "-d", src, p, fmt.Sprintf("%dM", fsMiB)); err != nil {
			return "", "", "", err
		}
	}
	os.RemoveAll(src)
	if err := os.Truncate(enc, int64(fsMiB+32)<<20); err != nil {
		return "", "", "", err
	}
	if err := cryptsetupRun("reencrypt", "-q", "--encrypt", "--type", "luks2", "--reduce-device-size", "32M",
		"--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000", "--key-file", key, enc); err != nil {
		return "", "", "", err
	}
	if err := os.WriteFile(kdf, nil, 0o600); err != nil {
		return "", "", "", err
	}
	if err := os.Truncate(kdf, 20<<20); err != nil {
		return "", "", "", err
	}
	if err := cryptsetupRun("luksFormat", "-q", "--type", "luks2", "--key-file", key, kdf); err != nil {
		return "", "", "", err
	}
	return plain, enc, kdf, nil
}

// fastRatio is the ratio of two sides' 10th percentiles, said beside a
// median's: on a machine that slows whole rounds now and then (page
// faults served by the hypervisor here), the fast rounds show what each
// side costs when nothing else interferes.
func fastRatio(a, b *bench.Series) string {
	fa, fb := bench.Quantile(a.D, 0.1), bench.Quantile(b.D, 0.1)
	return fmt.Sprintf("At the 10th percentile: %.2f (%s vs %s ms).", bench.Ratio(fa, fb), bench.MS(fa), bench.MS(fb))
}

func cryptsetupRun(args ...string) error {
	c := exec.Command("cryptsetup", args...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("cryptsetup %s: %v: %s", strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

// deviceMapper tells whether the kernel has device-mapper (cryptsetup
// open needs it).
func deviceMapper() bool {
	b, err := os.ReadFile("/proc/misc")
	return err == nil && bytes.Contains(b, []byte(" device-mapper\n"))
}

// luksSuite: a file inside LUKS2 read through loops mount, against the
// same file on the plain ext4 image through mount -o loop (and cryptsetup
// open + mount where the kernel has device-mapper); the key derivation
// apart.
func (h *harness) luksSuite() error {
	dir := filepath.Join(h.work, "luks")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("loops-bench passphrase"), 0o600); err != nil {
		return err
	}
	plain, enc, kdf, err := luksImages(dir, key)
	if err != nil {
		return err
	}
	n, warm := h.slowRounds()
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	umnt := bench.Exec(cmd("umount", mnt))
	cleanMnt := []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}
	sides := []bench.ActSide{
		{
			Name:    "loops mount --key-file KEY $W/luks/luks.img MNT; read all; loops umount MNT",
			Label:   "loops mount (LUKS2); read; umount",
			Loops:   true,
			Setup:   []bench.Act{warmFile(enc)},
			Timed:   []bench.Act{bench.Exec(h.loopsCmd("mount", "--key-file", key, enc, mnt)), rd, bench.Exec(h.loopsCmd("umount", mnt))},
			Cleanup: cleanMnt,
		},
		{
			Name:    "mount -o loop,ro $W/luks/plain.img MNT; read all; umount",
			Label:   "the plain ext4 image: mount -o loop,ro; read; umount",
			Ref:     true,
			Setup:   []bench.Act{warmFile(plain)},
			Timed:   []bench.Act{bench.Exec(cmd("mount", "-o", "loop,ro", plain, mnt)), rd, umnt},
			Cleanup: cleanMnt,
		},
	}
	dm := deviceMapper()
	if dm {
		name := fmt.Sprintf("loops-bench-%d", os.Getpid())
		sides = append(sides, bench.ActSide{
			Name:  "cryptsetup open --readonly --key-file KEY $W/luks/luks.img NAME; mount -o ro /dev/mapper/NAME MNT; read all; umount; cryptsetup close NAME",
			Label: "cryptsetup open; mount; read; umount; close",
			Setup: []bench.Act{warmFile(enc)},
			Timed: []bench.Act{bench.Exec(cmd("cryptsetup", "open", "--readonly", "--key-file", key, enc, name)),
				bench.Exec(cmd("mount", "-o", "ro", "/dev/mapper/"+name, mnt)), rd, umnt, bench.Exec(cmd("cryptsetup", "close", name))},
			Cleanup: []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); quiet("cryptsetup", "close", name); return nil }}},
		})
	}
	h.rep.Printf("## LUKS: a file inside LUKS2 through loops mount vs the plain ext4 image\n\n")
	h.rep.Printf("One ext4 image (4 KiB blocks) holding one file of %d MiB of random bytes, made once per run (`mkfs.ext4 -d`), and a copy encrypted in place by `cryptsetup reencrypt --encrypt --type luks2 --reduce-device-size 32M` (%s; aes-xts-plain64, 512-bit key, 512-byte sectors; PBKDF2 at 1000 iterations so that the key derivation, timed apart below, is no part of these rows). Every side: mount, read the file (`loops-bench __readall MNT`, 1 MiB reads), unmount; warm cache (each image read once before each side, untimed). loops decrypts in userspace (`loops-serve`, `blockloop/layer/luks`, across the cores), serves the plaintext as a FUSE file, and the kernel's ext4 reads it from a read-only loop device.", luksFileMiB, firstLine("cryptsetup", "--version"))
	if !dm {
		h.rep.Printf(" `cryptsetup open` + mount could not be run: this kernel has no device-mapper.")
	}
	h.rep.Printf(" %d recorded rounds after %d warm-up.\n\n", n, warm)
	logf("LUKS: %d+%d rounds of %d sides", warm, n, len(sides))
	total, _, reads, err := h.r.MeasureActs(n, warm, sides)
	if err != nil {
		return err
	}
	rbytes, odd := bench.ReadBytes(sides, reads)
	if odd != "" {
		h.rep.Printf("%s\n\n", odd)
	}
	l, ref := total[0].Median(), total[1].Median()
	names := []string{"loops", "plain ext4"}
	if dm {
		names = append(names, "cryptsetup")
	}
	h.rep.Table("luks", fmt.Sprintf("LUKS2, a %d MiB file: mount + read + umount", luksFileMiB),
		fmt.Sprintf("%d rounds. Read at the median: %s. Goal: within 2× of the plain image: %s (%.2f). %s", n, bench.ReadRates(total, rbytes, names...), yesNo(bench.Ratio(l, ref) <= 2), bench.Ratio(l, ref), fastRatio(total[0], total[1])), total)

	// The key derivation: cryptsetup's default keyslot, unlocked by loops
	// (block probe --key-file derives the key, checks it and probes inside)
	// and by cryptsetup (open --test-passphrase: derive and check only).
	kd := []bench.Side{
		{Name: "loops block probe --key-file KEY $W/luks/kdf.img", Label: "loops: derive the key (Argon2id)", Loops: true, Timed: []bench.Step{h.loopsCmd("block", "probe", "--key-file", key, kdf)}},
		{Name: "cryptsetup open --test-passphrase --key-file KEY $W/luks/kdf.img", Label: "cryptsetup: derive the key (Argon2id)", Timed: []bench.Step{cmd("cryptsetup", "open", "--test-passphrase", "--key-file", key, kdf)}},
	}
	res, err := h.r.Measure(n, warm, kd...)
	if err != nil {
		return err
	}
	dump, _ := exec.Command("cryptsetup", "luksDump", kdf).Output()
	var params []string
	for _, l := range strings.Split(string(dump), "\n") {
		l = strings.TrimSpace(l)
		for _, p := range []string{"PBKDF:", "Time cost:", "Memory:", "Threads:"} {
			if strings.HasPrefix(l, p) && len(params) < 4 {
				params = append(params, strings.Join(strings.Fields(l), " "))
			}
		}
	}
	h.rep.Table("luks", "LUKS2 key derivation, cryptsetup's default keyslot",
		fmt.Sprintf("%d rounds. `cryptsetup luksFormat` with its defaults on this machine (%s): the cost the passphrase's keyslot asks, paid once per mount. loops' row also probes what the volume holds.", n, strings.Join(params, ", ")), res)
	return nil
}
