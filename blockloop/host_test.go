package blockloop

import (
	"fmt"
	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"
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
