package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
)

// modulesDir writes a modules.dep for the running kernel's release under a
// temporary directory: lines like a distribution kernel's (about 6,000
// modules), with the given filesystem modules among them.
func modulesDir(t testing.TB, fsModules ...string) string {
	var u unix.Utsname
	if err := unix.Uname(&u); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	rel := filepath.Join(dir, unix.ByteSliceToString(u.Release[:]))
	if err := os.MkdirAll(rel, 0o755); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for i := 0; i < 6000; i++ {
		fmt.Fprintf(&b, "kernel/drivers/net/ethernet/vendor%d/drv%d.ko.xz: kernel/lib/dep%d.ko.xz\n", i%50, i, i%7)
		if i%1000 == 0 && len(fsModules) > 0 {
			m := fsModules[0]
			fsModules = fsModules[1:]
			fmt.Fprintf(&b, "kernel/fs/%s/%s.ko.zst: kernel/fs/mbcache.ko.zst\n", m, m)
		}
	}
	b.WriteString("kernel/fs/isofs_helper/notisofs.ko: \n") // a name that only contains one
	if err := os.WriteFile(filepath.Join(rel, "modules.dep"), []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestLoadableFilesystems(t *testing.T) {
	h := &Host{Modules: modulesDir(t, "isofs", "udf", "ext4", "squashfs")}
	got := h.LoadableFilesystems()
	want := map[string]bool{"iso9660": true, "udf": true, "ext4": true, "ext3": true, "squashfs": true}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("LoadableFilesystems = %v, want %v", got, want)
	}
	h = &Host{Modules: t.TempDir()} // no modules.dep: nothing loadable
	if got := h.LoadableFilesystems(); len(got) != 0 {
		t.Errorf("without modules.dep: %v", got)
	}
}

// BenchmarkLoadableFilesystems: every mount and probe reads modules.dep.
func BenchmarkLoadableFilesystems(b *testing.B) {
	h := &Host{Modules: modulesDir(b, "isofs", "udf", "vfat", "exfat")}
	for b.Loop() {
		h.LoadableFilesystems()
	}
}

func TestMain(m *testing.M) { os.Exit(blocklooptest.Main(m)) }

func TestParseFilesystems(t *testing.T) {
	got := ParseFilesystems([]byte("nodev\tsysfs\n\text4\n\tsquashfs\nnodev\tfuse\n\tfuseblk\n"))
	if !got["ext4"] || !got["squashfs"] || got["sysfs"] || got["fuse"] || !got["fuseblk"] {
		t.Errorf("ParseFilesystems = %v", got)
	}
}

// TestHostPaths: the kernel paths are fields; a Host pointed at fakes
// reads them, and a missing loop-control is named.
func TestHostPaths(t *testing.T) {
	dir := t.TempDir()
	write := func(name, s string) string {
		p := dir + "/" + name
		if err := writeFile(p, s); err != nil {
			t.Fatal(err)
		}
		return p
	}
	h := &Host{
		Filesystems: write("filesystems", "\text4\n\tiso9660\n"),
		Mountinfo:   write("mountinfo", "40 36 7:3 / /media/x rw - ext4 /dev/loop3 rw\n"),
		SysBlock:    dir,
		LoopControl: dir + "/no-loop-control",
	}
	k, err := h.KernelFilesystems()
	if err != nil || !k["iso9660"] {
		t.Errorf("KernelFilesystems = %v, %v", k, err)
	}
	ms, err := h.mounts()
	if err != nil || len(ms) != 1 || ms[0].Mountpoint != "/media/x" {
		t.Errorf("mounts = %v, %v", ms, err)
	}
	devs, err := h.List()
	if err != nil || len(devs) != 0 {
		t.Errorf("List on an empty sysfs = %v, %v", devs, err)
	}
	if _, _, err := h.attachFd(nil, "x", AttachOptions{}, true); !errors.Is(err, ErrNoLoopControl) {
		t.Errorf("attach without loop-control: %v", err)
	}
}

func writeFile(p, s string) error { return os.WriteFile(p, []byte(s), 0o644) }
