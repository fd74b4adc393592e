// Package blocklooptest helps tests of loop devices and mounts: temporary
// directories whose names mark them as this test process's, image fixtures
// made with the real mkfs tools, and a TestMain check that no loop device,
// mount or mount point made by the tests was left behind.
package blocklooptest

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/internal/serveproto"
	"github.com/loops-cli/loops/internal/testkit"
)

// RequireRoot skips a test that needs root, or fails it when CI=true:
// a skip is not a pass.
func RequireRoot(t testing.TB) { t.Helper(); testkit.RequireRoot(t) }

// Marker is part of the name of every directory Dir makes in this process,
// so the leak check finds this process's leftovers and no one else's.
func Marker() string { return fmt.Sprintf("loops-test-%d-", os.Getpid()) }

// Dir makes a temporary directory for t, named with Marker. At cleanup it
// first unmounts anything still mounted under it (failing the test), so
// that removing it never descends into a mounted filesystem.
func Dir(t testing.TB) string {
	t.Helper()
	d, err := os.MkdirTemp("", Marker()+"*")
	if err != nil {
		t.Fatal(err)
	}
	d, _ = filepath.EvalSymlinks(d)
	t.Cleanup(func() {
		for _, mp := range MountsUnder(d) {
			t.Errorf("left mounted: %s (unmounting it)", mp)
			unix.Unmount(mp, unix.MNT_DETACH)
		}
		if left := MountsUnder(d); len(left) > 0 {
			t.Errorf("still mounted, not removing %s: %v", d, left)
			return
		}
		os.RemoveAll(d)
	})
	return d
}

// MountsUnder lists mount points at or below dir, deepest first.
func MountsUnder(dir string) []string {
	var out []string
	for _, m := range mountinfo() {
		if m == dir || strings.HasPrefix(m, dir+"/") {
			out = append(out, m)
		}
	}
	sort.Sort(sort.Reverse(sort.StringSlice(out)))
	return out
}

func mountinfo() []string {
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	out := make([]string, 0, len(ms))
	for _, m := range ms {
		out = append(out, m.Mountpoint)
	}
	return out
}

// LoopDevices lists bound loop devices as "/dev/loopN backing-file".
func LoopDevices() []string {
	ents, _ := filepath.Glob("/sys/block/loop*/loop/backing_file")
	var out []string
	for _, e := range ents {
		b, err := kernfile.ReadFile(e)
		if err != nil {
			continue
		}
		dev := "/dev/" + filepath.Base(filepath.Dir(filepath.Dir(e)))
		out = append(out, dev+" "+strings.TrimSpace(string(b)))
	}
	sort.Strings(out)
	return out
}

// Leftovers lists loop devices backed by, and mounts under, a path that
// contains this process's Marker or one of the extra substrings, and
// entries of /media that were not in before (a snapshot taken by Snapshot).
func Leftovers(extra ...string) []string {
	pats := append([]string{"/" + Marker()}, extra...)
	match := func(p string) bool {
		for _, s := range pats {
			if strings.Contains(p, s) {
				return true
			}
		}
		return false
	}
	var out []string
	for _, l := range LoopDevices() {
		if match(l) {
			out = append(out, "loop device "+l)
		}
	}
	for _, m := range mountinfo() {
		if match(m) {
			out = append(out, "mount "+m)
		}
	}
	for _, p := range servers() {
		if match(p) {
			out = append(out, "userspace server "+p)
		}
	}
	if mediaBefore != nil {
		for _, e := range mediaEntries() {
			if !mediaBefore[e] {
				out = append(out, "directory "+e+" (made during the tests)")
			}
		}
	}
	return out
}

var mediaBefore map[string]bool

// Snapshot records what /media holds, so Leftovers can report what the
// tests added there.
func Snapshot() {
	mediaBefore = map[string]bool{}
	for _, e := range mediaEntries() {
		mediaBefore[e] = true
	}
}

func mediaEntries() []string {
	var out []string
	top, _ := os.ReadDir("/media")
	for _, e := range top {
		p := filepath.Join("/media", e.Name())
		out = append(out, p)
	}
	return out
}

// Main runs the tests, then fails the run if they left a loop device, a
// mount or a /media directory behind. Use it as TestMain's body:
// os.Exit(blocklooptest.Main(m)).
func Main(m *testing.M, extra ...string) int {
	Snapshot()
	defer removeFixtures()
	return testkit.Main(m, func() []string { return Leftovers(extra...) })
}

// Tool returns the path of a mkfs-like tool, skipping the test when it is
// missing (failing under CI=true, where `make deps` installs it).
func Tool(t testing.TB, name string) string { t.Helper(); return testkit.Tool(t, name) }

// Run runs a fixture command with a fixed locale (testkit.Run), failing
// the test with its output on error.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	return testkit.Run(t, name, args...)
}

// Tree writes files into a new directory under dir and returns it with each
// file's sha256. The files: a 1 MiB pseudo-random one, a small text file in
// a nested directory, a name with a space, and an empty file.
func Tree(t testing.TB, dir string) (string, map[string]string) {
	t.Helper()
	src := filepath.Join(dir, "src")
	big := make([]byte, 1<<20)
	x := uint32(2463534242)
	for i := range big {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		big[i] = byte(x)
	}
	files := map[string][]byte{
		"big.bin":               big,
		"sub/deeper/hello.txt":  []byte("hello from loops\n"),
		"with space/a file.txt": []byte("spaces survive\n"),
		"empty":                 nil,
	}
	sums := map[string]string{}
	for name, data := range files {
		p := filepath.Join(src, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		h := sha256.Sum256(data)
		sums[name] = hex.EncodeToString(h[:])
	}
	return src, sums
}

// CheckTree fails t unless every file of sums under dir has its sha256.
func CheckTree(t testing.TB, dir string, sums map[string]string) {
	t.Helper()
	for name, want := range sums {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Errorf("read back %s: %v", name, err)
			continue
		}
		h := sha256.Sum256(b)
		if got := hex.EncodeToString(h[:]); got != want {
			t.Errorf("sha256 of %s read through the mount = %s, want %s", name, got, want)
		}
	}
}

// Ext4 makes an ext4 image of size bytes holding src, with label.
func Ext4(t testing.TB, path, label, src string, size int64) string {
	t.Helper()
	mkfs := Tool(t, "mkfs.ext4")
	truncate(t, path, size)
	args := []string{"-q", "-F", "-L", label}
	if src != "" {
		args = append(args, "-d", src)
	}
	Run(t, mkfs, append(args, path)...)
	return path
}

// Squashfs makes a squashfs image of src.
func Squashfs(t testing.TB, path, src string) string {
	t.Helper()
	Run(t, Tool(t, "mksquashfs"), src, path, "-noappend", "-quiet", "-no-progress")
	return path
}

// Erofs makes an erofs image of src (mkfs.erofs 1.5 cannot set a label).
func Erofs(t testing.TB, path, src string) string {
	t.Helper()
	Run(t, Tool(t, "mkfs.erofs"), "--quiet", path, src)
	return path
}

// Btrfs makes a btrfs image holding src, with label.
func Btrfs(t testing.TB, path, label, src string) string {
	t.Helper()
	mkfs := Tool(t, "mkfs.btrfs")
	truncate(t, path, 128<<20)
	Run(t, mkfs, "-q", "-f", "-L", label, "--rootdir", src, path)
	return path
}

// XFS makes an empty xfs image with label (xfs needs 300 MiB; it is sparse).
func XFS(t testing.TB, path, label string) string {
	t.Helper()
	mkfs := Tool(t, "mkfs.xfs")
	truncate(t, path, 300<<20)
	Run(t, mkfs, "-q", "-f", "-L", label, path)
	return path
}

// Disk makes a partitioned disk image with sfdisk: label "dos" or "gpt",
// partitions of the given sizes in MiB (starting at 1 MiB), and copies each
// non-empty fill image into its partition.
func Disk(t testing.TB, path, label string, sizesMiB []int, fill []string) string {
	t.Helper()
	sfdisk := Tool(t, "sfdisk")
	total := 2
	for _, s := range sizesMiB {
		total += s
	}
	truncate(t, path, int64(total)<<20)
	var script strings.Builder
	fmt.Fprintf(&script, "label: %s\n", label)
	start := 2048
	for _, s := range sizesMiB {
		fmt.Fprintf(&script, "start=%d, size=%d, type=%s\n", start, s*2048, map[string]string{"dos": "83", "gpt": "0FC63DAF-8483-4772-8E79-3D69D8477DE4"}[label])
		start += s * 2048
	}
	cmd := testkit.Command(sfdisk, "-q", "--no-reread", "--no-tell-kernel", path)
	cmd.Stdin = strings.NewReader(script.String())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	off := int64(1 << 20)
	for i, s := range sizesMiB {
		if i < len(fill) && fill[i] != "" {
			data, err := os.ReadFile(fill[i])
			if err != nil {
				t.Fatal(err)
			}
			if int64(len(data)) > int64(s)<<20 {
				t.Fatalf("%s does not fit in partition %d", fill[i], i+1)
			}
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := f.WriteAt(data, off); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
		off += int64(s) << 20
	}
	return path
}

func truncate(t testing.TB, path string, size int64) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	f.Close()
}

// servers lists running `loops-serve __serve` and `__read-disk` processes
// as "pid: argv". The first outlive the loops that started them, and a
// reader left running would too, so they are found by argv.
func servers() []string {
	var out []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		// loops-serve __serve (a mount's daemon) and __read-disk (a
		// child of loops reading a VM disk image for it).
		if err != nil || !bytes.Contains(b, []byte(serveproto.ServeCommand)) && !bytes.Contains(b, []byte(serveproto.ReadDiskCommand)) {
			continue
		}
		out = append(out, d.Name()+": "+strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return out
}
