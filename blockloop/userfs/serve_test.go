package userfs_test

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// marker is in the name of every mount point these tests make, so that
// TestMain finds this process's leftovers and no one else's.
var marker = fmt.Sprintf("isofs-test-%d-", os.Getpid())

func TestMain(m *testing.M) {
	os.Exit(testkit.Main(m, func() []string {
		var left []string
		for _, mp := range ourMounts() {
			left = append(left, "mount "+mp)
			syscall.Unmount(mp, syscall.MNT_DETACH)
		}
		return left
	}))
}

// mountInfo is one /proc/self/mountinfo line.
type mountInfo = kernfile.Mount

func mounts() []mountInfo {
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	return ms
}

func ourMounts() []string {
	var out []string
	for _, m := range mounts() {
		if strings.Contains(m.Mountpoint, marker) {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}

func mountOf(mp string) *mountInfo {
	for _, m := range mounts() {
		if m.Mountpoint == mp {
			return &m
		}
	}
	return nil
}

// mountDir makes an empty mount point, removed at cleanup (after a failing
// test's forced lazy unmount).
func mountDir(t *testing.T) string {
	t.Helper()
	d, err := os.MkdirTemp("", marker+"*")
	if err != nil {
		t.Fatal(err)
	}
	d, _ = filepath.EvalSymlinks(d)
	t.Cleanup(func() {
		if mountOf(d) != nil {
			t.Errorf("left mounted: %s", d)
			syscall.Unmount(d, syscall.MNT_DETACH)
		}
		os.Remove(d)
	})
	return d
}

// serve mounts iso on a fresh directory and unmounts it at cleanup.
func serve(t *testing.T, iso string, opts userfs.Options) (*userfs.Server, context.CancelFunc) {
	t.Helper()
	testkit.RequireRoot(t)
	mp := mountDir(t)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := userfs.Serve(ctx, iso, mp, opts)
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		select {
		case <-s.Done():
		case <-time.After(10 * time.Second):
			t.Errorf("server did not stop after cancel")
		}
	})
	return s, cancel
}

// TestMountRockRidge walks the source tree and the mounted tree and
// compares names, types, modes, owners, hard-link counts, mtimes, sizes,
// symlink targets and the sha256 of every file (Rock Ridge image with a
// relocated deep directory); checks the mountinfo line (fuse.iso9660, the
// image path as source, ro,nosuid,nodev) and that cancelling the context
// unmounts and stops the server.
func TestMountRockRidge(t *testing.T) {
	testkit.RequireRoot(t)
	src := isotest.RichTree(t)
	iso := isotest.BuildISO(t, src, "-R", "-J", "-rr_reloc_dir", "rr_moved", "-V", "RR")
	s, cancel := serve(t, iso, userfs.Options{})
	readkittest.Compare(t, readkittest.HostTree(t, src), readkittest.HostTree(t, s.Mountpoint),
		readkittest.Fields{Perm: true, Owner: true, Nlink: true, ModTime: readkittest.SameSecond})

	m := mountOf(s.Mountpoint)
	if m == nil {
		t.Fatal("not in mountinfo")
	}
	if m.FSType != userfs.FSType("iso9660") || m.Source != iso {
		t.Errorf("mountinfo: type %q source %q, want %q %q", m.FSType, m.Source, userfs.FSType("iso9660"), iso)
	}
	for _, o := range []string{"ro", "nosuid", "nodev"} {
		if !strings.Contains(","+m.Options+",", ","+o+",") {
			t.Errorf("mount options %q lack %s", m.Options, o)
		}
	}
	var st syscall.Statfs_t
	if err := syscall.Statfs(s.Mountpoint, &st); err != nil || st.Bsize != 2048 {
		t.Errorf("statfs: %v %+v", err, st)
	}
	// Stable inode numbers: the same after the kernel forgot them.
	ino := func(p string) uint64 {
		fi, err := os.Lstat(filepath.Join(s.Mountpoint, p))
		if err != nil {
			t.Fatal(err)
		}
		return fi.Sys().(*syscall.Stat_t).Ino
	}
	if ino("hello.txt") != ino("sub/hard-link") {
		t.Error("hard links have different inode numbers")
	}
	if ino("hello.txt") == ino("old.txt") {
		t.Error("two files share an inode number")
	}
	a := ino("sub/file.txt")
	os.WriteFile("/proc/sys/vm/drop_caches", []byte("2"), 0)
	if b := ino("sub/file.txt"); a != b {
		t.Errorf("inode changed: %d then %d", a, b)
	}
	cancel()
	select {
	case <-s.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("cancel did not unmount")
	}
	if mountOf(s.Mountpoint) != nil {
		t.Error("still mounted after cancel")
	}
}

// TestMountJoliet: a Joliet-only image (nested directories, unicode) is
// served with 0555/0444 modes owned by the mounting user.
func TestMountJoliet(t *testing.T) {
	testkit.RequireRoot(t)
	src := isotest.JolietTree(t)
	iso := isotest.BuildISO(t, src, "--norock", "-J", "-joliet-long")
	s, _ := serve(t, iso, userfs.Options{SetOwner: true, UID: 4321, GID: 8765})
	want := readkittest.HostTree(t, src)
	for p, in := range want {
		in.UID, in.GID = 4321, 8765
		if in.Mode.IsDir() {
			in.Mode = fs.ModeDir | 0o555
		} else {
			in.Mode = 0o444
		}
		want[p] = in
	}
	readkittest.Compare(t, want, readkittest.HostTree(t, s.Mountpoint), readkittest.Fields{Perm: true, Owner: true, Nlink: true})
}

// TestMountPlain: plain ISO names as the kernel shows them (map=normal),
// or as stored (map=off); default owner = the mounting user.
func TestMountPlain(t *testing.T) {
	testkit.RequireRoot(t)
	src := filepath.Join(t.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "sub"), 0o755)
	os.WriteFile(filepath.Join(src, "sub", "hello.txt"), []byte("hello\n"), 0o644)
	iso := isotest.BuildISO(t, src, "--norock")
	s, _ := serve(t, iso, userfs.Options{})
	fi, err := os.Stat(filepath.Join(s.Mountpoint, "sub", "hello.txt"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode() != 0o444 || st.Uid != uint32(os.Getuid()) || fi.Size() != 6 {
		t.Errorf("hello.txt: %v uid %d size %d", fi.Mode(), st.Uid, fi.Size())
	}
	off, _ := serve(t, iso, userfs.Options{ISO9660: iso9660.Options{Map: iso9660.MapOff}})
	if _, err := os.Stat(filepath.Join(off.Mountpoint, "SUB", "HELLO.TXT;1")); err != nil {
		t.Errorf("map=off: %v", err)
	}
}

// TestReadOnly: writes fail with EROFS.
func TestReadOnly(t *testing.T) {
	src := isotest.JolietTree(t)
	iso := isotest.BuildISO(t, src, "-R")
	s, _ := serve(t, iso, userfs.Options{})
	if _, err := os.OpenFile(filepath.Join(s.Mountpoint, "README"), os.O_WRONLY, 0); !errors.Is(err, syscall.EROFS) {
		t.Errorf("open for writing: %v", err)
	}
	if err := os.Mkdir(filepath.Join(s.Mountpoint, "new"), 0o755); !errors.Is(err, syscall.EROFS) {
		t.Errorf("mkdir: %v", err)
	}
}

// TestExternalUnmount: Wait returns when someone else unmounts (umount,
// then fusermount -u).
func TestExternalUnmount(t *testing.T) {
	src := isotest.JolietTree(t)
	iso := isotest.BuildISO(t, src, "-R")
	for _, cmd := range [][]string{{"umount"}, {"fusermount", "-u"}} {
		t.Run(cmd[0], func(t *testing.T) {
			tool := testkit.Tool(t, cmd[0])
			s, _ := serve(t, iso, userfs.Options{})
			if out, err := exec.Command(tool, append(cmd[1:], s.Mountpoint)...).CombinedOutput(); err != nil {
				t.Fatalf("%v: %v %s", cmd, err, out)
			}
			done := make(chan error)
			go func() { done <- s.Wait() }()
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("Wait did not return after an external unmount")
			}
		})
	}
}

// TestServeErrors: a UDF-only image and a missing mount point fail with
// a clear error, leaving nothing mounted.
func TestServeErrors(t *testing.T) {
	testkit.RequireRoot(t)
	dir := t.TempDir()
	udf := filepath.Join(dir, "udf.img")
	b := make([]byte, 64<<10)
	for i, id := range []string{"BEA01", "NSR02", "TEA01"} {
		copy(b[(16+i)*2048+1:], id)
	}
	os.WriteFile(udf, b, 0o644)
	mp := mountDir(t)
	_, err := userfs.Serve(context.Background(), udf, mp, userfs.Options{})
	var ue *iso9660.UDFOnlyError
	if !errors.As(err, &ue) || !strings.Contains(err.Error(), "UDF") {
		t.Errorf("UDF image: %v", err)
	}
	iso := isotest.BuildISO(t, isotest.JolietTree(t), "-R")
	_, err = userfs.Serve(context.Background(), iso, filepath.Join(dir, "nope"), userfs.Options{})
	if err == nil {
		t.Error("mount on a missing directory succeeded")
	}
	if m := mountOf(mp); m != nil {
		t.Errorf("left mounted: %v", m)
	}
}

// TestMountMultiExtent: through the mount, the 4.5 GiB multi-extent file
// is one entry of the right size, and its markers (start, across the
// extent boundary, end) read back. Skipped with -short.
func TestMountMultiExtent(t *testing.T) {
	if testing.Short() && os.Getenv("LOOPS_TEST_LARGE") == "" {
		t.Skip("-short: builds a 4.5 GiB (sparse) image; LOOPS_TEST_LARGE=1 forces it")
	}
	testkit.RequireRoot(t)
	src, size := isotest.BigTree(t)
	iso := isotest.BuildISO(t, src, "-R", "-J", "-iso-level", "3")
	s, _ := serve(t, iso, userfs.Options{})
	names, err := os.ReadDir(s.Mountpoint)
	if err != nil || len(names) != 2 {
		t.Fatalf("readdir: %v %v", err, names)
	}
	f, err := os.Open(filepath.Join(s.Mountpoint, "huge.bin"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fi, _ := f.Stat()
	if fi.Size() != size {
		t.Errorf("size %d, want %d", fi.Size(), size)
	}
	isotest.CheckMarkers(t, f, size)
}
