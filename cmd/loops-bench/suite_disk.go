package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
	"github.com/loops-cli/loops/internal/serveproto"
)

// readAllMain is `loops-bench __readall DIR`: it walks DIR in lexical
// order, as tar does, and reads every regular file to its end (GNU tar
// skips reading when its archive is /dev/null, so tar cannot be the
// reader). It prints the files and bytes read and the time from its start
// to the end of the first file.
func readAllMain(args []string) {
	t0 := time.Now()
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "usage: loops-bench __readall DIR")
		os.Exit(2)
	}
	buf := make([]byte, 1<<20)
	var files, bytes int64
	var first time.Duration
	err := filepath.WalkDir(args[0], func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		for {
			n, err := f.Read(buf)
			bytes += int64(n)
			if err == io.EOF {
				break
			}
			if err != nil {
				f.Close()
				return err
			}
		}
		f.Close()
		files++
		if files == 1 {
			first = time.Since(t0)
		}
		return nil
	})
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	fmt.Printf("files=%d bytes=%d first_ns=%d\n", files, bytes, first.Nanoseconds())
}

// readAllCmd is the reader every side shares.
func readAllCmd(dir string) (bench.Act, error) {
	self, err := os.Executable()
	if err != nil {
		return bench.Act{}, err
	}
	return bench.Act{Step: bench.Step{Argv: []string{self, "__readall", dir}}, First: true}, nil
}

func dropCaches(map[string]string) error {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

// warmFile reads a file so that its pages are in the page cache.
func warmFile(path string) bench.Act {
	return bench.Act{Fn: func(map[string]string) error {
		f, err := os.Open(path)
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(io.Discard, f)
		return err
	}}
}

// stopPidfile ends the daemon whose pid is in path: SIGTERM, then waits
// until the process is gone.
func stopPidfile(path string) func(map[string]string) error {
	return func(map[string]string) error {
		b, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		os.Remove(path)
		if err := syscall.Kill(pid, syscall.SIGTERM); err != nil {
			return fmt.Errorf("kill %d: %v", pid, err)
		}
		for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); {
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err != nil {
				return nil
			}
			time.Sleep(time.Millisecond)
		}
		syscall.Kill(pid, syscall.SIGKILL)
		return fmt.Errorf("pid %d did not end on SIGTERM", pid)
	}
}

// vmDisk builds, once per run, a 1 GiB raw virtual disk with a GPT and one
// ext4 partition made from /usr/share (mkfs.ext4 -d, written in place at
// the partition's offset: sparse), and its qcow2 conversions.
func vmDisk(dir string) (raw string, off, size int64, err error) {
	raw = filepath.Join(dir, "disk.raw")
	const startSector, sectors = 2048, 2093056 // 1 MiB .. 1023 MiB
	off, size = startSector*512, sectors*512
	f, err := os.Create(raw)
	if err != nil {
		return "", 0, 0, err
	}
	f.Truncate(1 << 30)
	f.Close()
	logf("building the VM disk: GPT, ext4 of /usr/share (mkfs.ext4 -d), qcow2 plain, zlib, zstd")
	c := exec.Command("sfdisk", "-q", raw)
	c.Stdin = strings.NewReader(fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=linux\n", startSector, sectors))
	if out, err := c.CombinedOutput(); err != nil {
		return "", 0, 0, fmt.Errorf("sfdisk: %v: %s", err, out)
	}
	if err := quietLong(5*time.Minute, "mkfs.ext4", "-q", "-F", "-L", "vmdisk", "-E", fmt.Sprintf("offset=%d", off), "-d", "/usr/share", raw, fmt.Sprintf("%dk", size>>10)); err != nil {
		return "", 0, 0, err
	}
	for _, v := range vmVariants {
		args := append([]string{"qemu-img", "convert", "-O", "qcow2"}, v.opts...)
		if err := quietLong(10*time.Minute, append(args, raw, filepath.Join(dir, v.name+".qcow2"))...); err != nil {
			return "", 0, 0, err
		}
	}
	return raw, off, size, nil
}

var vmVariants = []struct {
	name, what string
	opts       []string
}{
	{"plain", "qcow2, uncompressed", nil},
	{"zlib", "qcow2, zlib (`qemu-img convert -c`)", []string{"-c"}},
	{"zstd", "qcow2, zstd (`-c -o compression_type=zstd`)", []string{"-c", "-o", "compression_type=zstd"}},
}

// quietLong is quiet with a longer timeout, for building images.
func quietLong(limit time.Duration, argv ...string) error {
	c := exec.Command(argv[0], argv[1:]...)
	t := time.AfterFunc(limit, func() {
		if c.Process != nil {
			c.Process.Kill()
		}
	})
	defer t.Stop()
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func fileMiB(p string) string {
	var st unix.Stat_t
	if unix.Stat(p, &st) != nil {
		return "?"
	}
	return fmt.Sprintf("%.0f MiB (%.0f MiB allocated)", float64(st.Size)/(1<<20), float64(st.Blocks*512)/(1<<20))
}

func (h *harness) diskSuite() error {
	dir := filepath.Join(h.work, "disk")
	mnt := filepath.Join(dir, "mnt")
	if err := mkdirs(dir, mnt); err != nil {
		return err
	}
	raw, off, size, err := vmDisk(dir)
	if err != nil {
		return err
	}
	conv := filepath.Join(dir, "converted.raw")
	pidfile := filepath.Join(dir, "qsd.pid")
	rawFile := filepath.Join(dir, "qsd-export")
	if err := os.WriteFile(rawFile, nil, 0o600); err != nil {
		return err
	}
	h.undo.add(func() { stopPidfile(pidfile)(nil) })
	n, warm := h.slowRounds()
	offS, sizeS := strconv.FormatInt(off, 10), strconv.FormatInt(size, 10)
	loopOpt := "loop,ro,offset=" + offS + ",sizelimit=" + sizeS
	rd, err := readAllCmd(mnt)
	if err != nil {
		return err
	}
	umnt := bench.Exec(cmd("umount", mnt))
	cleanMnt := []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return nil }}}

	// The sides for one cache state: per variant loops, qemu-storage-daemon
	// and qemu-img convert; the raw image once per round.
	build := func(cold bool) []bench.ActSide {
		prep := func(img string) []bench.Act {
			if cold {
				return []bench.Act{{Fn: dropCaches}}
			}
			return []bench.Act{warmFile(img)}
		}
		var ss []bench.ActSide
		for i, v := range vmVariants {
			img := filepath.Join(dir, v.name+".qcow2")
			ss = append(ss, bench.ActSide{
				Name:    fmt.Sprintf("loops mount $W/disk/%s.qcow2 MNT --partition 1; read all; loops umount MNT", v.name),
				Label:   "loops mount --partition 1; read; umount",
				Loops:   true,
				Setup:   prep(img),
				Timed:   []bench.Act{bench.Exec(h.loopsCmd("mount", img, mnt, "--partition", "1")), rd, bench.Exec(h.loopsCmd("umount", mnt))},
				Cleanup: cleanMnt,
			})
			ss = append(ss, bench.ActSide{
				Name:  "qemu-storage-daemon (fuse export); losetup -r -o; mount -o ro; read all; umount; losetup -d; kill; umount export",
				Label: "qemu-storage-daemon; losetup; mount; read; umount; losetup -d; kill",
				Setup: prep(img),
				Timed: []bench.Act{
					bench.Exec(qsdCmd(pidfile, img, rawFile)),
					{Step: cmd("losetup", "-r", "-o", offS, "--sizelimit", sizeS, "--show", "-f", rawFile), Save: "dev"},
					bench.Exec(cmd("mount", "-o", "ro", "{dev}", mnt)),
					rd, umnt,
					bench.Exec(cmd("losetup", "-d", "{dev}")),
					{Fn: stopPidfile(pidfile)},
					{Fn: unmountIfMounted(rawFile)},
				},
				Cleanup: []bench.Act{{Fn: func(map[string]string) error {
					h.cleanMnt(mnt)
					stopPidfile(pidfile)(nil)
					if isMounted(rawFile) {
						unix.Unmount(rawFile, 0)
					}
					return nil
				}}},
			})
			if i == 0 {
				ss = append(ss, bench.ActSide{
					Name:    "mount -o " + loopOpt + " $W/disk/disk.raw MNT; read all; umount",
					Label:   "the raw image: mount -o loop,ro,offset=; read; umount",
					Ref:     true,
					Setup:   prep(raw),
					Timed:   []bench.Act{bench.Exec(cmd("mount", "-o", loopOpt, raw, mnt)), rd, umnt},
					Cleanup: cleanMnt,
				})
			}
			ss = append(ss, bench.ActSide{
				Name:    fmt.Sprintf("qemu-img convert -O raw $W/disk/%s.qcow2 $W/disk/converted.raw; mount -o loop,ro,offset=...; read all; umount", v.name),
				Label:   "qemu-img convert -O raw; mount -o loop; read; umount",
				Setup:   prep(img),
				Timed:   []bench.Act{bench.Exec(cmd("qemu-img", "convert", "-O", "raw", img, conv)), bench.Exec(cmd("mount", "-o", loopOpt, conv, mnt)), rd, umnt},
				Cleanup: []bench.Act{{Fn: func(map[string]string) error { h.cleanMnt(mnt); return os.Remove(conv) }}},
			})
		}
		return ss
	}

	h.rep.Printf("## VM disk images: loops mount --partition vs qemu-storage-daemon + losetup, qemu-img convert, the raw image\n\n")
	h.rep.Printf("A 1 GiB virtual disk (GPT, one ext4 partition of 1022 MiB at 1 MiB) made once per run with `mkfs.ext4 -d /usr/share` written in place (sparse: `$W/disk/disk.raw` is %s), converted with `%s`: plain %s, zlib %s, zstd %s. Every side is timed from the first command to the last: mount, **read every file** (`loops-bench __readall MNT`: a walk in lexical order reading each regular file to its end with 1 MiB reads; GNU tar skips reading when its archive is /dev/null), and tear down. The sides:\n\n",
		fileMiB(raw), firstLine("qemu-img", "--version"), fileMiB(filepath.Join(dir, "plain.qcow2")), fileMiB(filepath.Join(dir, "zlib.qcow2")), fileMiB(filepath.Join(dir, "zstd.qcow2")))
	h.rep.Printf("- **loops**: `loops mount IMG MNT --partition 1` (FUSE server `loops-serve __serve --raw-disk`, a read-only loop device on its file, the kernel's ext4), read, `loops umount MNT`.\n")
	h.rep.Printf("- **qemu-storage-daemon**: `qemu-storage-daemon --daemonize --pidfile P --blockdev driver=file,node-name=f,filename=IMG,read-only=on --blockdev driver=qcow2,node-name=q,file=f,read-only=on --export type=fuse,id=e,node-name=q,mountpoint=RAWFILE,writable=off` (RAWFILE an existing empty file), `losetup -r -o %s --sizelimit %s --show -f RAWFILE`, `mount -o ro /dev/loopN MNT`, read, `umount MNT`, `losetup -d /dev/loopN`, SIGTERM to the daemon and wait for it to end, and umount(2) of RAWFILE if the daemon left its FUSE export mounted (it sometimes does; these two in process, timed).\n", offS, sizeS)
	h.rep.Printf("- **qemu-img convert**: `qemu-img convert -O raw IMG $W/disk/converted.raw` (onto the same filesystem; its write-back to disk is not waited for), `mount -o %s`, read, `umount`; the converted file is removed after the round, untimed.\n", loopOpt)
	h.rep.Printf("- **raw image (reference)**: the same disk as a raw image, `mount -o %s disk.raw MNT`, read, `umount`: the limit, what the kernel does with no image format in between.\n\n", loopOpt)
	h.rep.Printf("All ten sides (3 variants × 3, and the raw image) alternate in one sequence of rounds; the raw image's times are repeated in each variant's table. These rows are long (seconds), so they run **%d recorded rounds after %d warm-up** (`max(3, RUNS/4)`), not %d. \"Time to first file\" is the time to the end of reading the first file of the walk: the commands before the read plus the reader's own time to it.\n\n", n, warm, h.runs)

	for _, cold := range []bool{true, false} {
		state := "cold cache"
		note := "**Cold cache**: before every side of every round, untimed, `sync` and `echo 3 > /proc/sys/vm/drop_caches` (the benchmark runs as root; this drops the whole machine's page cache), so every round reads the image from the disk."
		if !cold {
			state = "warm cache"
			note = "**Warm cache**: before every side, untimed, its image file is read once so that its pages are in the page cache (as the other suites do); each round still mounts afresh, so everything above the image file (the FUSE file, the loop device, ext4) starts empty."
		}
		logf("VM disks, %s: %d+%d rounds of %d sides", state, warm, n, 10)
		sides := build(cold)
		total, first, reads, err := h.r.MeasureActs(n, warm, sides)
		if err != nil {
			return err
		}
		bytes, odd := bench.ReadBytes(sides, reads)
		h.rep.Printf("### VM disks, %s\n\n%s\n\n", state, note)
		if odd != "" {
			h.rep.Printf("%s\n\n", odd)
		}
		rawIdx := 2
		for vi, v := range vmVariants {
			idx := []int{0, 1, 3} // the order of build's sides
			if vi > 0 {
				idx = []int{vi*3 + 1, vi*3 + 2, vi*3 + 3}
			}
			pick := func(all []*bench.Series) []*bench.Series {
				return []*bench.Series{all[idx[0]], all[idx[1]], all[idx[2]], all[rawIdx]}
			}
			t := pick(total)
			l, q, raw := t[0].Median(), t[1].Median(), t[3].Median()
			goal := fmt.Sprintf("Goal: loops faster than qemu-storage-daemon: %s (%.2f).", yesNo(l < q), bench.Ratio(l, q))
			if v.name == "plain" {
				goal += fmt.Sprintf(" Plain within 1.5× of the raw image: %s (%.2f).", yesNo(bench.Ratio(l, raw) <= 1.5), bench.Ratio(l, raw))
			}
			h.rep.Table("disk", fmt.Sprintf("%s, %s: mount + read every file + umount", v.what, state), fmt.Sprintf("%d rounds. Read at the median: %s. %s", n, bench.ReadRates(t, bytes, "loops", "qemu-storage-daemon", "qemu-img convert", "raw image"), goal), t)
			h.rep.Table("", fmt.Sprintf("%s, %s: time to first file", v.what, state), "Same rounds: from the first command to the end of the first file read.", pick(first))
		}
	}

	return h.diskProfile(dir, mnt, rawFile, pidfile, offS, sizeS)
}

// qsdCmd starts qemu-storage-daemon exporting img's virtual disk as the
// file rawFile (a FUSE export), read-only.
func qsdCmd(pidfile, img, rawFile string) bench.Step {
	return cmd("qemu-storage-daemon", "--daemonize", "--pidfile", pidfile,
		"--blockdev", "driver=file,node-name=f,filename="+img+",read-only=on",
		"--blockdev", "driver=qcow2,node-name=q,file=f,read-only=on",
		"--export", "type=fuse,id=e,node-name=q,mountpoint="+rawFile+",writable=off")
}

func yesNo(b bool) string {
	if b {
		return "**yes**"
	}
	return "**no**"
}

// cleanMnt unmounts mnt if a failed round left it mounted, with loops
// umount when loops mounted it (it also ends the server).
func (h *harness) cleanMnt(mnt string) {
	if !isMounted(mnt) {
		return
	}
	if quiet(h.loops, "umount", mnt) != nil {
		quiet("umount", mnt)
	}
}

// diskProfile: one more cold round per variant, loops and
// qemu-storage-daemon, untimed by the engine, to see where the time goes:
// the CPU time of the server (from /proc/PID/stat before the unmount) and
// of the reader, and the requests the loop device sent to the FUSE file
// (/sys/block/loopN/stat: reads and sectors, so the mean request size).
func (h *harness) diskProfile(dir, mnt, rawFile, pidfile, offS, sizeS string) error {
	tick := float64(100) // USER_HZ
	h.rep.Printf("### VM disks: where the time goes (one cold round each)\n\n")
	h.rep.Printf("One more cold-cache round per variant for loops and qemu-storage-daemon: wall time of the read alone (mount and unmount excluded), CPU time of the FUSE server over its life (utime and stime from `/proc/PID/stat` just before the unmount; loops' server is `loops-serve __serve --raw-disk`), the server's voluntary and involuntary context switches during the read (all its threads, `/proc/PID/task/*/status`: about one per request it waited for), CPU time of the reader, and the read requests the filesystem made to the loop device during the read (`/sys/block/loopN/stat`), with their mean size (the loop device passes them on to the FUSE file as buffered reads, so the page cache and FUSE readahead sit between them and the server).\n\n")
	h.rep.Printf("| image | server | read ms | server user ms | server sys ms | server context switches | reader user ms | reader sys ms | loop reads | mean KiB per read |\n|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	self, err := os.Executable()
	if err != nil {
		return err
	}
	for _, v := range vmVariants {
		img := filepath.Join(dir, v.name+".qcow2")
		for _, who := range []string{"loops", "qemu-storage-daemon"} {
			dropCaches(nil)
			var pid int
			var dev string
			if who == "loops" {
				if _, err := h.r.Once(nil, h.loopsCmd("mount", img, mnt, "--partition", "1")); err != nil {
					return err
				}
				pid = findProc(func(args []string) bool { return hasArg(args, serveproto.ServeCommand) && hasArg(args, img) })
			} else {
				if _, err := h.r.Once(nil, qsdCmd(pidfile, img, rawFile)); err != nil {
					return err
				}
				var err error
				if dev, err = h.r.Once(nil, cmd("losetup", "-r", "-o", offS, "--sizelimit", sizeS, "--show", "-f", rawFile)); err != nil {
					return err
				}
				if _, err := h.r.Once(nil, cmd("mount", "-o", "ro", dev, mnt)); err != nil {
					return err
				}
				b, _ := os.ReadFile(pidfile)
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			loopDev := mountAt(mnt).Source
			lr0, lsec0 := blockStat(loopDev) // a reused loop device keeps its counts
			cs0 := ctxSwitches(pid)
			c := exec.Command(self, "__readall", mnt)
			t0 := time.Now()
			out, err := c.Output()
			wall := time.Since(t0)
			var ru *syscall.Rusage
			if c.ProcessState != nil {
				ru, _ = c.ProcessState.SysUsage().(*syscall.Rusage)
			}
			su, ss := procCPU(pid)
			lr, lsec := blockStat(loopDev)
			lr, lsec = lr-lr0, lsec-lsec0
			cs := ctxSwitches(pid) - cs0
			var uerr error
			if who == "loops" {
				_, uerr = h.r.Once(nil, h.loopsCmd("umount", mnt))
			} else {
				_, uerr = h.r.Once(nil, cmd("umount", mnt), cmd("losetup", "-d", dev))
				stopPidfile(pidfile)(nil)
				unmountIfMounted(rawFile)(nil)
			}
			if err != nil || ru == nil {
				return fmt.Errorf("profile %s %s: %v: %s", who, v.name, err, out)
			}
			if uerr != nil {
				return uerr
			}
			mean := "?"
			if lr > 0 {
				mean = fmt.Sprintf("%.0f", float64(lsec)*512/1024/float64(lr))
			}
			h.rep.Printf("| %s | %s | %s | %.0f | %.0f | %d | %.0f | %.0f | %d | %s |\n", v.name, who, bench.MS(wall),
				float64(su)*1000/tick, float64(ss)*1000/tick, cs,
				float64(time.Duration(ru.Utime.Nano()))/1e6, float64(time.Duration(ru.Stime.Nano()))/1e6, lr, mean)
		}
	}
	h.rep.Printf("\n")
	return nil
}

func hasArg(args []string, a string) bool {
	for _, x := range args {
		if x == a || filepath.Base(x) == a {
			return true
		}
	}
	return false
}

func findProc(match func(args []string) bool) int {
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "cmdline"))
		if match(strings.Split(strings.TrimRight(string(b), "\x00"), "\x00")) {
			return pid
		}
	}
	return 0
}

// procCPU is utime and stime of pid, in clock ticks.
func procCPU(pid int) (int64, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		s = s[i+1:]
	}
	f := strings.Fields(s)
	if len(f) < 13 {
		return 0, 0
	}
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u, st
}

// blockStat is the reads completed and sectors read of a block device.
func blockStat(dev string) (int64, int64) {
	f := kernfile.SysFields(filepath.Join("/sys/block", filepath.Base(dev), "stat"))
	if len(f) < 3 {
		return 0, 0
	}
	return f[0], f[2]
}

// unmountIfMounted unmounts mp if it is a mount point.
func unmountIfMounted(mp string) func(map[string]string) error {
	return func(map[string]string) error {
		if !isMounted(mp) {
			return nil
		}
		return unix.Unmount(mp, 0)
	}
}

// ctxSwitches sums the context switches of every thread of pid.
func ctxSwitches(pid int) int64 {
	if pid == 0 {
		return 0
	}
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/status", pid))
	var n int64
	for _, t := range tasks {
		b, _ := os.ReadFile(t)
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.HasSuffix(k, "ctxt_switches") {
				x, _ := strconv.ParseInt(strings.TrimSpace(v), 10, 64)
				n += x
			}
		}
	}
	return n
}
