package main

import (
	"fmt"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
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

// An act is one step of a sequence: an exec (timed from fork to reap, as
// in measure) or, where no command does it, a function (killing a daemon
// and waiting for it to end). save keeps the exec's output under a name
// that later arguments use as {name}.
type act struct {
	s     step
	fn    func(vars map[string]string) error
	save  string
	first bool // the __readall step: its output has the time to the first file
}

func (a act) String() string {
	if a.fn != nil {
		return "(in process)"
	}
	return a.s.String()
}

func ex(s step) act { return act{s: s} }

type dside struct {
	name, label string
	loops, ref  bool
	env         []string
	setup       []act // untimed
	timed       []act
	cleanup     []act // untimed
}

// readAllCmd is the reader every side shares.
func readAllCmd(dir string) act {
	self, err := os.Executable()
	if err != nil {
		fail("%v", err)
	}
	return act{s: step{argv: []string{self, "__readall", dir}}, first: true}
}

// runActs runs acts in order; it returns their summed time and the time
// to the end of the first file read (the acts before the reader plus the
// reader's own time to its first file).
func (r *runner) runActs(env []string, vars map[string]string, acts []act) (total, first time.Duration, out string, err error) {
	for _, a := range acts {
		if a.fn != nil {
			t0 := time.Now()
			err = a.fn(vars)
			total += time.Since(t0)
			if err != nil {
				return
			}
			continue
		}
		s := a.s
		s.argv = append([]string(nil), a.s.argv...)
		for i, x := range s.argv {
			for k, v := range vars {
				x = strings.ReplaceAll(x, "{"+k+"}", v)
			}
			s.argv[i] = x
		}
		var d time.Duration
		var o string
		d, o, _, err = r.exec(env, s, "")
		if err != nil {
			total += d
			return
		}
		if a.save != "" {
			vars[a.save] = o
		}
		if a.first {
			var files, bytes, ns int64
			if _, e := fmt.Sscanf(o, "files=%d bytes=%d first_ns=%d", &files, &bytes, &ns); e != nil {
				err = fmt.Errorf("%s: output %q", s, o)
				return
			}
			first = total + time.Duration(ns)
			out = o
		}
		total += d
	}
	return
}

// measureActs is measure for sides of acts: rounds alternate the sides,
// setup and cleanup untimed; it returns the total times, the times to the
// first file, and what each side's reader read ("files=N bytes=B" and how
// many rounds read that), which should be the same for every side.
func (r *runner) measureActs(n, warm int, sides []dside) (total, first []*series, reads []map[string]int) {
	for _, s := range sides {
		lb := s.label
		if lb == "" {
			lb = s.name
		}
		total = append(total, &series{name: s.name, label: lb, loops: s.loops, ref: s.ref, exits: map[int]int{}})
		first = append(first, &series{name: s.name, label: lb, loops: s.loops, ref: s.ref, exits: map[int]int{}})
		reads = append(reads, map[string]int{})
	}
	for round := -warm; round < n; round++ {
		for i, s := range sides {
			if r.ctx.Err() != nil {
				fail("interrupted")
			}
			vars, env := map[string]string{}, mergeEnv(r.base, s.env)
			if _, _, _, err := r.runActs(env, vars, s.setup); err != nil {
				r.runActs(env, vars, s.cleanup)
				fail("%s: setup: %v", s.name, err)
			}
			d, f, out, err := r.runActs(env, vars, s.timed)
			_, _, _, cerr := r.runActs(env, vars, s.cleanup)
			if err != nil {
				fail("%s: %v", s.name, err)
			}
			if cerr != nil {
				fail("%s: cleanup: %v", s.name, cerr)
			}
			if got, _, _ := strings.Cut(out, " first_ns="); got != "" {
				if len(reads[i]) == 0 || reads[i][got] == 0 {
					logf("%s: read %s", s.label, got)
				}
				reads[i][got]++
			}
			if round >= 0 {
				total[i].d = append(total[i].d, d)
				first[i].d = append(first[i].d, f)
			}
		}
	}
	return total, first, reads
}

// readBytes is the most bytes any side read (for rates), and a note when
// the sides did not all read the same files and bytes.
func readBytes(sides []dside, reads []map[string]int) (int64, string) {
	var most int64
	all := map[string]bool{}
	var per []string
	for i, m := range reads {
		var seen []string
		for got, k := range m {
			var f, b int64
			fmt.Sscanf(got, "files=%d bytes=%d", &f, &b)
			most = max(most, b)
			all[got] = true
			seen = append(seen, fmt.Sprintf("%d files, %d bytes (%d×)", f, b, k))
		}
		if len(seen) > 0 {
			sort.Strings(seen)
			per = append(per, fmt.Sprintf("%s: %s", sides[i].label, strings.Join(seen, "; ")))
		}
	}
	if len(all) <= 1 {
		return most, ""
	}
	return most, "**The sides did not read the same files and bytes** (counted by the reader, rounds with warm-up): " + strings.Join(per, " — ") + "."
}

func dropCaches(map[string]string) error {
	unix.Sync()
	return os.WriteFile("/proc/sys/vm/drop_caches", []byte("3"), 0o200)
}

// warmFile reads a file so that its pages are in the page cache.
func warmFile(path string) act {
	return act{fn: func(map[string]string) error {
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
func vmDisk(dir string) (raw string, off, size int64) {
	raw = filepath.Join(dir, "disk.raw")
	const startSector, sectors = 2048, 2093056 // 1 MiB .. 1023 MiB
	off, size = startSector*512, sectors*512
	f, err := os.Create(raw)
	if err != nil {
		fail("%v", err)
	}
	f.Truncate(1 << 30)
	f.Close()
	logf("building the VM disk: GPT, ext4 of /usr/share (mkfs.ext4 -d), qcow2 plain, zlib, zstd")
	c := exec.Command("sfdisk", "-q", raw)
	c.Stdin = strings.NewReader(fmt.Sprintf("label: gpt\nstart=%d, size=%d, type=linux\n", startSector, sectors))
	if out, err := c.CombinedOutput(); err != nil {
		fail("sfdisk: %v: %s", err, out)
	}
	if err := quietLong(5*time.Minute, "mkfs.ext4", "-q", "-F", "-L", "vmdisk", "-E", fmt.Sprintf("offset=%d", off), "-d", "/usr/share", raw, fmt.Sprintf("%dk", size>>10)); err != nil {
		fail("%v", err)
	}
	for _, v := range vmVariants {
		args := append([]string{"qemu-img", "convert", "-O", "qcow2"}, v.opts...)
		if err := quietLong(10*time.Minute, append(args, raw, filepath.Join(dir, v.name+".qcow2"))...); err != nil {
			fail("%v", err)
		}
	}
	return raw, off, size
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

func diskSuite(r *runner, rep *report) {
	dir := mkdir(filepath.Join(workDir, "disk"))
	raw, off, size := vmDisk(dir)
	mnt := mkdir(filepath.Join(dir, "mnt"))
	conv := filepath.Join(dir, "converted.raw")
	pidfile := filepath.Join(dir, "qsd.pid")
	rawFile := filepath.Join(dir, "qsd-export")
	if err := os.WriteFile(rawFile, nil, 0o600); err != nil {
		fail("%v", err)
	}
	atCleanup(func() { stopPidfile(pidfile)(nil) })
	n, warm := max(3, runs/4), 1
	if quick {
		n, warm = 1, 0
	}
	offS, sizeS := strconv.FormatInt(off, 10), strconv.FormatInt(size, 10)
	loopOpt := "loop,ro,offset=" + offS + ",sizelimit=" + sizeS
	rd := readAllCmd(mnt)
	umnt := ex(cmd("umount", mnt))

	// The sides for one cache state: per variant loops, qemu-storage-daemon
	// and qemu-img convert; the raw image once per round.
	build := func(cold bool) []dside {
		prep := func(img string) []act {
			if cold {
				return []act{{fn: dropCaches}}
			}
			return []act{warmFile(img)}
		}
		var ss []dside
		for i, v := range vmVariants {
			img := filepath.Join(dir, v.name+".qcow2")
			ss = append(ss, dside{
				name:    fmt.Sprintf("loops mount $W/disk/%s.qcow2 MNT --partition 1; read all; loops umount MNT", v.name),
				label:   "loops mount --partition 1; read; umount",
				loops:   true,
				setup:   prep(img),
				timed:   []act{ex(loopsCmd("mount", img, mnt, "--partition", "1")), rd, ex(loopsCmd("umount", mnt))},
				cleanup: []act{{fn: func(map[string]string) error { cleanMnt(mnt); return nil }}},
			})
			ss = append(ss, dside{
				name:  "qemu-storage-daemon (fuse export); losetup -r -o; mount -o ro; read all; umount; losetup -d; kill; umount export",
				label: "qemu-storage-daemon; losetup; mount; read; umount; losetup -d; kill",
				setup: prep(img),
				timed: []act{
					ex(cmd("qemu-storage-daemon", "--daemonize", "--pidfile", pidfile,
						"--blockdev", "driver=file,node-name=f,filename="+img+",read-only=on",
						"--blockdev", "driver=qcow2,node-name=q,file=f,read-only=on",
						"--export", "type=fuse,id=e,node-name=q,mountpoint="+rawFile+",writable=off")),
					{s: cmd("losetup", "-r", "-o", offS, "--sizelimit", sizeS, "--show", "-f", rawFile), save: "dev"},
					ex(cmd("mount", "-o", "ro", "{dev}", mnt)),
					rd, umnt,
					ex(cmd("losetup", "-d", "{dev}")),
					{fn: stopPidfile(pidfile)},
					{fn: unmountIfMounted(rawFile)},
				},
				cleanup: []act{{fn: func(map[string]string) error {
					cleanMnt(mnt)
					stopPidfile(pidfile)(nil)
					if isMounted(rawFile) {
						unix.Unmount(rawFile, 0)
					}
					return nil
				}}},
			})
			if i == 0 {
				ss = append(ss, dside{
					name:    "mount -o " + loopOpt + " $W/disk/disk.raw MNT; read all; umount",
					label:   "the raw image: mount -o loop,ro,offset=; read; umount",
					ref:     true,
					setup:   prep(raw),
					timed:   []act{ex(cmd("mount", "-o", loopOpt, raw, mnt)), rd, umnt},
					cleanup: []act{{fn: func(map[string]string) error { cleanMnt(mnt); return nil }}},
				})
			}
			ss = append(ss, dside{
				name:    fmt.Sprintf("qemu-img convert -O raw $W/disk/%s.qcow2 $W/disk/converted.raw; mount -o loop,ro,offset=...; read all; umount", v.name),
				label:   "qemu-img convert -O raw; mount -o loop; read; umount",
				setup:   prep(img),
				timed:   []act{ex(cmd("qemu-img", "convert", "-O", "raw", img, conv)), ex(cmd("mount", "-o", loopOpt, conv, mnt)), rd, umnt},
				cleanup: []act{{fn: func(map[string]string) error { cleanMnt(mnt); return os.Remove(conv) }}},
			})
		}
		return ss
	}

	rep.printf("## VM disk images: loops mount --partition vs qemu-storage-daemon + losetup, qemu-img convert, the raw image\n\n")
	rep.printf("A 1 GiB virtual disk (GPT, one ext4 partition of 1022 MiB at 1 MiB) made once per run with `mkfs.ext4 -d /usr/share` written in place (sparse: `$W/disk/disk.raw` is %s), converted with `%s`: plain %s, zlib %s, zstd %s. Every side is timed from the first command to the last: mount, **read every file** (`loops-bench __readall MNT`: a walk in lexical order reading each regular file to its end with 1 MiB reads; GNU tar skips reading when its archive is /dev/null), and tear down. The sides:\n\n",
		fileMiB(raw), firstLine("qemu-img", "--version"), fileMiB(filepath.Join(dir, "plain.qcow2")), fileMiB(filepath.Join(dir, "zlib.qcow2")), fileMiB(filepath.Join(dir, "zstd.qcow2")))
	rep.printf("- **loops**: `loops mount IMG MNT --partition 1` (FUSE server `loops __serve --raw-disk`, a read-only loop device on its file, the kernel's ext4), read, `loops umount MNT`.\n")
	rep.printf("- **qemu-storage-daemon**: `qemu-storage-daemon --daemonize --pidfile P --blockdev driver=file,node-name=f,filename=IMG,read-only=on --blockdev driver=qcow2,node-name=q,file=f,read-only=on --export type=fuse,id=e,node-name=q,mountpoint=RAWFILE,writable=off` (RAWFILE an existing empty file), `losetup -r -o %s --sizelimit %s --show -f RAWFILE`, `mount -o ro /dev/loopN MNT`, read, `umount MNT`, `losetup -d /dev/loopN`, SIGTERM to the daemon and wait for it to end, and umount(2) of RAWFILE if the daemon left its FUSE export mounted (it sometimes does; these two in process, timed).\n", offS, sizeS)
	rep.printf("- **qemu-img convert**: `qemu-img convert -O raw IMG $W/disk/converted.raw` (onto the same filesystem; its write-back to disk is not waited for), `mount -o %s`, read, `umount`; the converted file is removed after the round, untimed.\n", loopOpt)
	rep.printf("- **raw image (reference)**: the same disk as a raw image, `mount -o %s disk.raw MNT`, read, `umount`: the limit, what the kernel does with no image format in between.\n\n", loopOpt)
	rep.printf("All ten sides (3 variants × 3, and the raw image) alternate in one sequence of rounds; the raw image's times are repeated in each variant's table. These rows are long (seconds), so they run **%d recorded rounds after %d warm-up** (`max(3, RUNS/4)`), not %d. \"Time to first file\" is the time to the end of reading the first file of the walk: the commands before the read plus the reader's own time to it.\n\n", n, warm, runs)

	for _, cold := range []bool{true, false} {
		state := "cold cache"
		note := "**Cold cache**: before every side of every round, untimed, `sync` and `echo 3 > /proc/sys/vm/drop_caches` (the benchmark runs as root; this drops the whole machine's page cache), so every round reads the image from the disk."
		if !cold {
			state = "warm cache"
			note = "**Warm cache**: before every side, untimed, its image file is read once so that its pages are in the page cache (as the other suites do); each round still mounts afresh, so everything above the image file (the FUSE file, the loop device, ext4) starts empty."
		}
		logf("VM disks, %s: %d+%d rounds of %d sides", state, warm, n, 10)
		sides := build(cold)
		total, first, reads := r.measureActs(n, warm, sides)
		bytes, odd := readBytes(sides, reads)
		rep.printf("### VM disks, %s\n\n%s\n\n", state, note)
		if odd != "" {
			rep.printf("%s\n\n", odd)
		}
		rawIdx := 2
		for vi, v := range vmVariants {
			idx := []int{0, 1, 3} // the order of build's sides
			if vi > 0 {
				idx = []int{vi*3 + 1, vi*3 + 2, vi*3 + 3}
			}
			pick := func(all []*series) []*series {
				return []*series{all[idx[0]], all[idx[1]], all[idx[2]], all[rawIdx]}
			}
			t := pick(total)
			l, q, raw := t[0].median(), t[1].median(), t[3].median()
			goal := fmt.Sprintf("Goal: loops faster than qemu-storage-daemon: %s (%.2f).", yesNo(l < q), ratio(l, q))
			if v.name == "plain" {
				goal += fmt.Sprintf(" Plain within 1.5× of the raw image: %s (%.2f).", yesNo(ratio(l, raw) <= 1.5), ratio(l, raw))
			}
			rep.table("disk", fmt.Sprintf("%s, %s: mount + read every file + umount", v.what, state), fmt.Sprintf("%d rounds. Read at the median: %s. %s", n, readRates(t, bytes, "loops", "qemu-storage-daemon", "qemu-img convert", "raw image"), goal), t)
			rep.table("", fmt.Sprintf("%s, %s: time to first file", v.what, state), "Same rounds: from the first command to the end of the first file read.", pick(first))
		}
	}

	diskProfile(r, rep, dir, mnt, rawFile, pidfile, offS, sizeS)
}

func yesNo(b bool) string {
	if b {
		return "**yes**"
	}
	return "**no**"
}

// cleanMnt unmounts mnt if a failed round left it mounted, with loops
// umount when loops mounted it (it also ends the server).
func cleanMnt(mnt string) {
	if !isMounted(mnt) {
		return
	}
	if quiet(loopsBin, "umount", mnt) != nil {
		quiet("umount", mnt)
	}
}

// diskProfile: one more cold round per variant, loops and
// qemu-storage-daemon, untimed by the engine, to see where the time goes:
// the CPU time of the server (from /proc/PID/stat before the unmount) and
// of the reader, and the requests the loop device sent to the FUSE file
// (/sys/block/loopN/stat: reads and sectors, so the mean request size).
func diskProfile(r *runner, rep *report, dir, mnt, rawFile, pidfile, offS, sizeS string) {
	tick := float64(100) // USER_HZ
	rep.printf("### VM disks: where the time goes (one cold round each)\n\n")
	rep.printf("One more cold-cache round per variant for loops and qemu-storage-daemon: wall time of the read alone (mount and unmount excluded), CPU time of the FUSE server over its life (utime and stime from `/proc/PID/stat` just before the unmount; loops' server is `loops __serve --raw-disk`), the server's voluntary and involuntary context switches during the read (all its threads, `/proc/PID/task/*/status`: about one per request it waited for), CPU time of the reader, and the read requests the filesystem made to the loop device during the read (`/sys/block/loopN/stat`), with their mean size (the loop device passes them on to the FUSE file as buffered reads, so the page cache and FUSE readahead sit between them and the server).\n\n")
	rep.printf("| image | server | read ms | server user ms | server sys ms | server context switches | reader user ms | reader sys ms | loop reads | mean KiB per read |\n|:---|:---|---:|---:|---:|---:|---:|---:|---:|---:|\n")
	self, _ := os.Executable()
	for _, v := range vmVariants {
		img := filepath.Join(dir, v.name+".qcow2")
		for _, who := range []string{"loops", "qemu-storage-daemon"} {
			dropCaches(nil)
			var pid int
			var dev string
			if who == "loops" {
				r.once(nil, loopsCmd("mount", img, mnt, "--partition", "1"))
				pid = findProc(func(args []string) bool { return hasArg(args, "__serve") && hasArg(args, img) })
			} else {
				r.once(nil, cmd("qemu-storage-daemon", "--daemonize", "--pidfile", pidfile,
					"--blockdev", "driver=file,node-name=f,filename="+img+",read-only=on",
					"--blockdev", "driver=qcow2,node-name=q,file=f,read-only=on",
					"--export", "type=fuse,id=e,node-name=q,mountpoint="+rawFile+",writable=off"))
				dev = r.once(nil, cmd("losetup", "-r", "-o", offS, "--sizelimit", sizeS, "--show", "-f", rawFile))
				r.once(nil, cmd("mount", "-o", "ro", dev, mnt))
				b, _ := os.ReadFile(pidfile)
				pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
			}
			loopDev := mountSource(mnt)
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
			if who == "loops" {
				r.once(nil, loopsCmd("umount", mnt))
			} else {
				r.once(nil, cmd("umount", mnt))
				r.once(nil, cmd("losetup", "-d", dev))
				stopPidfile(pidfile)(nil)
				unmountIfMounted(rawFile)(nil)
			}
			if err != nil || ru == nil {
				fail("profile %s %s: %v: %s", who, v.name, err, out)
			}
			mean := "?"
			if lr > 0 {
				mean = fmt.Sprintf("%.0f", float64(lsec)*512/1024/float64(lr))
			}
			rep.printf("| %s | %s | %s | %.0f | %.0f | %d | %.0f | %.0f | %d | %s |\n", v.name, who, ms(wall),
				float64(su)*1000/tick, float64(ss)*1000/tick, cs,
				float64(time.Duration(ru.Utime.Nano()))/1e6, float64(time.Duration(ru.Stime.Nano()))/1e6, lr, mean)
		}
	}
	rep.printf("\n")
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

// mountSource is the device mounted at mp (its mountinfo source).
func mountSource(mp string) string {
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	for _, m := range ms {
		if m.Mountpoint == mp {
			return m.Source
		}
	}
	return ""
}

// blockStat is the reads completed and sectors read of a block device.
func blockStat(dev string) (int64, int64) {
	f := kernfile.SysFields(filepath.Join("/sys/block", filepath.Base(dev), "stat"))
	if len(f) < 3 {
		return 0, 0
	}
	return f[0], f[2]
}

// readRates is the read rate of each side at its median, by short names.
func readRates(res []*series, bytes int64, names ...string) string {
	var p []string
	for i, s := range res {
		if m := s.median(); m > 0 && i < len(names) {
			p = append(p, fmt.Sprintf("%s %.0f MB/s", names[i], float64(bytes)/1e6/m.Seconds()))
		}
	}
	return strings.Join(p, ", ")
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
