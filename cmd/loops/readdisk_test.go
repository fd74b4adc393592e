package main

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/disk/diskpipe"
	"github.com/loops-cli/loops/internal/serveproto"
	"github.com/loops-cli/loops/internal/testkit"
)

// vmDisks makes a GPT disk of two ext4 partitions (BOOT, 4 MiB; ROOTFS,
// 12 MiB, holding etc/hostname) and converts it to a zlib and a zstd
// compressed qcow2, in dir.
func vmDisks(t *testing.T, dir string) (zlib, zstd string) {
	t.Helper()
	qemuImg := testkit.Tool(t, "qemu-img")
	src := filepath.Join(dir, "src")
	os.MkdirAll(filepath.Join(src, "etc"), 0o755)
	os.WriteFile(filepath.Join(src, "etc", "hostname"), []byte("vm\n"), 0o644)
	p1 := blocklooptest.Ext4(t, filepath.Join(dir, "p1.img"), "BOOT", "", 4<<20)
	p2 := blocklooptest.Ext4(t, filepath.Join(dir, "p2.img"), "ROOTFS", src, 12<<20)
	raw := blocklooptest.Disk(t, filepath.Join(dir, "raw.img"), "gpt", []int{4, 12}, []string{p1, p2})
	zlib, zstd = filepath.Join(dir, "zlib.qcow2"), filepath.Join(dir, "zstd.qcow2")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", "-c", raw, zlib)
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", raw, zstd)
	return zlib, zstd
}

// subreaper makes this process the reaper of orphans until the test ends:
// a reader that loops left running (not waited for) becomes our child,
// where noOrphans finds it.
func subreaper(t *testing.T) {
	t.Helper()
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		t.Fatalf("PR_SET_CHILD_SUBREAPER: %v", err)
	}
	t.Cleanup(func() { unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 0, 0, 0, 0) })
}

// noOrphans fails t for every child process (loops' leftovers, adopted),
// killing and reaping it.
func noOrphans(t *testing.T) {
	t.Helper()
	for _, p := range testkit.ChildProcesses() {
		t.Errorf("left behind: %s", p)
		f := strings.Fields(p) // process PID (comm, state S)
		if pid, err := strconv.Atoi(f[1]); err == nil {
			unix.Kill(pid, unix.SIGKILL)
			unix.Wait4(pid, nil, 0, nil)
		}
	}
}

// run runs bin's loops with args, in dir, and returns its stdout and
// stderr.
func run(t *testing.T, bin, dir string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	c := exec.Command(loopsIn(bin), args...)
	c.Dir = dir
	c.Env = append(os.Environ(), "LOOPS_FORCE_TTY=0", "LOOPS_RUN_DIR="+filepath.Join(dir, "run"))
	var o, e bytes.Buffer
	c.Stdout, c.Stderr = &o, &e
	err = c.Run()
	return o.String(), e.String(), err
}

// TestProbeZstdThroughServer: loops, which links no zstd decompressor,
// probes a zstd qcow2 through `loops-serve __read-disk`: the partitions
// and the plan are those of the same disk compressed with zlib (read in
// process); the reader is waited for, also when the image cannot be read;
// without loops-serve, the error says so.
func TestProbeZstdThroughServer(t *testing.T) {
	bin := binaries(t)
	dir := blocklooptest.Dir(t)
	zlib, zstd := vmDisks(t, dir)
	subreaper(t)

	probe := func(args ...string) string {
		t.Helper()
		out, stderr, err := run(t, bin, dir, append([]string{"block", "probe"}, args...)...)
		noOrphans(t)
		if err != nil {
			t.Fatalf("loops block probe %s: %v\n%s%s", strings.Join(args, " "), err, out, stderr)
		}
		return out
	}
	// The two outputs differ only in the file (name, size) and the
	// compression.
	norm := func(s, name string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if strings.HasPrefix(l, "size\t") {
				continue
			}
			l = strings.ReplaceAll(l, name, "IMAGE")
			l = strings.ReplaceAll(strings.ReplaceAll(l, "zlib compressed", "compressed"), "zstd compressed", "compressed")
			keep = append(keep, l)
		}
		return strings.Join(keep, "\n")
	}
	for _, args := range [][]string{nil, {"--partition", "2"}, {"--partition", "1", "--type", "vfat"}} {
		got, want := probe(append(args, "zstd.qcow2")...), probe(append(args, "zlib.qcow2")...)
		if !strings.Contains(got, "zstd compressed") || !strings.Contains(got, "partition\t2\t5242880\t12582912\t") {
			t.Errorf("probe %v of the zstd image:\n%s", args, got)
		}
		if norm(got, "zstd.qcow2") != norm(want, "zlib.qcow2") {
			t.Errorf("probe %v: zstd\n%s\nzlib\n%s", args, got, want)
		}
	}
	var got, want map[string]any
	json.Unmarshal([]byte(probe("--json", zstd)), &got)
	json.Unmarshal([]byte(probe("--json", zlib)), &want)
	for _, k := range []string{"pttype", "ptuuid", "partitions"} {
		if got[k] == nil || !reflect.DeepEqual(got[k], want[k]) {
			t.Errorf("--json %s: zstd %v, zlib %v", k, got[k], want[k])
		}
	}

	// The reader cannot open the image (its backing file is gone): its
	// error, and no process left.
	testkit.Run(t, testkit.Tool(t, "qemu-img"), "create", "-q", "-u", "-f", "qcow2", "-o", "compression_type=zstd", "-b", "gone.qcow2", "-F", "qcow2", filepath.Join(dir, "overlay.qcow2"), "16M")
	out := probe("overlay.qcow2")
	if !strings.Contains(out, "gone.qcow2") || !strings.Contains(out, "bad backing chain") {
		t.Errorf("probe of an overlay whose backing file is gone:\n%s", out)
	}

	// Without loops-serve beside it: zlib still reads, zstd says what is
	// missing.
	alone := t.TempDir()
	if err := os.Link(loopsIn(bin), loopsIn(alone)); err != nil {
		b, _ := os.ReadFile(loopsIn(bin))
		os.WriteFile(loopsIn(alone), b, 0o755)
	}
	if out, _, err := run(t, alone, dir, "block", "probe", "zlib.qcow2"); err != nil || !strings.Contains(out, "partition\t2\t") {
		t.Errorf("zlib probe without loops-serve: %v\n%s", err, out)
	}
	if out, _, _ := run(t, alone, dir, "block", "probe", "zstd.qcow2"); !strings.Contains(out, "loops-serve is not installed") {
		t.Errorf("zstd probe without loops-serve:\n%s", out)
	}
	noOrphans(t)
}

// TestReadDiskProtocol: the real `loops-serve __read-disk` answers a read
// over the limit and one past the end with an error, not a hang, goes on
// serving, and exits 0 when its stdin ends.
func TestReadDiskProtocol(t *testing.T) {
	bin := binaries(t)
	dir := blocklooptest.Dir(t)
	_, zstd := vmDisks(t, dir)
	c := exec.Command(filepath.Join(bin, serveproto.Binary), serveproto.Args(&serveproto.ReadDisk{Image: zstd})...)
	w, _ := c.StdinPipe()
	r, _ := c.StdoutPipe()
	if err := c.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- c.Wait() }()
	hung := time.AfterFunc(30*time.Second, func() { c.Process.Kill() })
	defer hung.Stop()

	d, err := diskpipe.Open(r, w, io.NopCloser(nil))
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != 18<<20 || d.Format() != "qcow2" || d.Layers[0].Compression != "zstd" {
		t.Fatalf("size %d, layers %+v", d.Size(), d.Layers)
	}
	request := func(off int64, n uint32) (byte, string) {
		t.Helper()
		var req [12]byte
		binary.BigEndian.PutUint64(req[:], uint64(off))
		binary.BigEndian.PutUint32(req[8:], n)
		if _, err := w.Write(req[:]); err != nil {
			t.Fatal(err)
		}
		var h [5]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			t.Fatalf("reply to (%d, %d): %v", off, n, err)
		}
		b := make([]byte, binary.BigEndian.Uint32(h[1:]))
		if _, err := io.ReadFull(r, b); err != nil {
			t.Fatal(err)
		}
		return h[0], string(b)
	}
	if st, msg := request(0, diskpipe.MaxRead+1); st != 1 || !strings.Contains(msg, "over the limit") {
		t.Errorf("a read over the limit: status %d, %q", st, msg)
	}
	if st, msg := request(d.Size()+512, 512); st != 1 || !strings.Contains(msg, "outside the virtual disk") {
		t.Errorf("a read past the end: status %d, %q", st, msg)
	}
	// Still serving: the GPT header of the virtual disk.
	p := make([]byte, 8)
	if _, err := d.ReadAt(p, 512); err != nil || string(p) != "EFI PART" {
		t.Errorf("read after bad requests: %q, %v", p, err)
	}
	w.Close()
	if err := <-done; err != nil {
		t.Errorf("loops-serve __read-disk at the end of its stdin: %v", err)
	}
}

// TestMountZstd: loops mount of a partition of a zstd qcow2 (planned
// through the reader, served by loops-serve), then loops umount: nothing
// is left.
func TestMountZstd(t *testing.T) {
	testkit.RequireRoot(t)
	bin := binaries(t)
	dir := blocklooptest.Dir(t)
	vmDisks(t, dir)
	mnt := filepath.Join(dir, "mnt")
	if out, stderr, err := run(t, bin, dir, "mount", "--partition", "2", "zstd.qcow2", mnt); err != nil {
		t.Fatalf("loops mount: %v\n%s%s", err, out, stderr)
	}
	b, err := os.ReadFile(filepath.Join(mnt, "etc", "hostname"))
	if err != nil || string(b) != "vm\n" {
		t.Errorf("etc/hostname through the mount: %q, %v", b, err)
	}
	if out, stderr, err := run(t, bin, dir, "umount", mnt); err != nil {
		t.Fatalf("loops umount: %v\n%s%s", err, out, stderr)
	}
	if _, err := os.Stat(mnt); !os.IsNotExist(err) {
		t.Errorf("the mount point is still there: %v", err)
	}
}
