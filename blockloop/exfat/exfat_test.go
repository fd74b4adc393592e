package exfat

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The tests that fill images need root: exfat-fuse mounts a loop device.
// Every loop device and mount they make is undone by t.Cleanup, and
// TestMain fails the run if one is left.

var (
	madeMu sync.Mutex
	made   []string // "loop:/dev/loopN:/image/path" and "mount:/path"
)

func TestMain(m *testing.M) {
	os.Exit(testkit.Main(m, leftovers))
}

// leftovers lists the loop devices and mounts the tests made that are still
// there.
func leftovers() []string {
	madeMu.Lock()
	defer madeMu.Unlock()
	var out []string
	mounted := map[string]bool{}
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	for _, m := range ms {
		mounted[m.Mountpoint] = true
	}
	for _, m := range made {
		kind, what, _ := strings.Cut(m, ":")
		switch kind {
		case "mount":
			if mounted[what] {
				out = append(out, "mount "+what)
			}
		case "loop":
			dev, img, _ := strings.Cut(what, ":")
			b, err := kernfile.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file")
			if err == nil && strings.TrimSpace(string(b)) == img {
				out = append(out, "loop device "+dev+" on "+img)
			}
		}
	}
	return out
}

func record(s string) {
	madeMu.Lock()
	made = append(made, s)
	madeMu.Unlock()
}

// mkfsExfat makes an image of size bytes with mkfs.exfat args.
func mkfsExfat(t testing.TB, size int64, args ...string) string {
	t.Helper()
	return fattest.Mkfs(t, "mkfs.exfat", size, args...)
}

// fillMounted copies src into the image through exfat-fuse on a loop
// device, and returns the tree as the mount shows it (read back before the
// unmount). The mount and the loop device are gone when it returns, or at
// the latest at t's cleanup.
func fillMounted(t *testing.T, img, src string, extra func(mnt string)) readkittest.Tree {
	t.Helper()
	testkit.RequireRoot(t)
	losetup := testkit.Tool(t, "losetup")
	mountExfat := testkit.Tool(t, "mount.exfat-fuse")
	umount := testkit.Tool(t, "umount")
	mnt := t.TempDir()
	dev := strings.TrimSpace(testkit.Run(t, losetup, "-f", "--show", img))
	record("loop:" + dev + ":" + img)
	detached := false
	detach := func() {
		if !detached {
			if out, err := testkit.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
				t.Errorf("losetup -d %s: %v %s", dev, err, out)
			}
			detached = true
		}
	}
	t.Cleanup(detach)
	testkit.Run(t, mountExfat, dev, mnt)
	record("mount:" + mnt)
	mounted := true
	unmount := func() {
		if mounted {
			if out, err := testkit.Command(umount, mnt).CombinedOutput(); err != nil {
				t.Errorf("umount %s: %v %s", mnt, err, out)
			}
			mounted = false
		}
	}
	t.Cleanup(unmount)
	testkit.Run(t, "cp", "-r", "--preserve=timestamps", src+"/.", mnt)
	if extra != nil {
		extra(mnt)
	}
	got := readkittest.HostTree(t, mnt)
	unmount()
	detach()
	return got
}

// walkFS lists the reader's tree through its fs.FS, reading every file.
func walkFS(t testing.TB, f *FS) readkittest.Tree {
	t.Helper()
	return readkittest.FSTree(t, f.FS())
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	return fattest.OpenImage(t, img, Open)
}

// richTree is a source tree with Unicode names (a surrogate pair too), a
// long name, a 300-entry directory (over one cluster), a 24 MiB mostly-zero
// file and nested directories.
func richTree(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	write := func(rel string, data []byte) { fattest.WriteFile(t, src, rel, data) }
	write("hello.txt", []byte("hello\n"))
	write("unicodé 日本語.txt", []byte("unicode\n"))
	write("😀 smile.txt", []byte("smile\n"))
	write("Mixed Case.TXT", []byte("mixed\n"))
	write(strings.Repeat("long name ", 20)+".txt", []byte("long\n"))
	write("empty", nil)
	write("deep/a/b/c/d/deep.txt", []byte("deep\n"))
	write("EFI/BOOT/bootx64.efi", bytes.Repeat([]byte("MZ efi "), 3000))
	for i := 0; i < 300; i++ {
		write(fmt.Sprintf("many/a file with a long name %03d.txt", i), []byte(fmt.Sprint(i)))
	}
	big := make([]byte, 24<<20+17)
	rnd := rand.New(rand.NewSource(1))
	for off := 0; off < len(big); off += 3 << 20 {
		rnd.Read(big[off:min(off+64<<10, len(big))])
	}
	write("sparse.bin", big)
	os.Chtimes(filepath.Join(src, "hello.txt"), fattest.OldTime, fattest.OldTime)
	return src
}

// TestFilled: an image made by mkfs.exfat and filled through exfat-fuse
// reads back like the source tree and like the mount showed it.
func TestFilled(t *testing.T) {
	src := richTree(t)
	img := mkfsExfat(t, 64<<20, "-L", "EXLABEL")
	mounted := fillMounted(t, img, src, fragment)
	f := openImage(t, img)
	got := walkFS(t, f)
	readkittest.Compare(t, mounted, got, fattest.Fields)
	readkittest.TestImageFS(t, img, Open, mounted)
	delete(got, "frag.bin")
	delete(got, "blocker.bin")
	delete(got, "grown.bin")
	readkittest.Compare(t, readkittest.HostTree(t, src), got, fattest.Fields)
	frag, _ := f.Lookup("frag.bin")
	if frag == nil || len(frag.Extents) < 2 || frag.noFatChain {
		t.Errorf("frag.bin is not fragmented: %+v", frag)
	}

	if f.Label() != "EXLABEL" || f.UpcaseErr() != nil {
		t.Errorf("label %q upcase %v", f.Label(), f.UpcaseErr())
	}
	if l, ok := fattest.BlkidLabel(t, img); ok && l != f.Label() {
		t.Errorf("blkid label %q, reader %q", l, f.Label())
	}
	many, _ := f.Lookup("many")
	if many.Size <= int64(f.ClusterSize()) {
		t.Errorf("many: %d bytes, cluster %d", many.Size, f.ClusterSize())
	}
	for _, p := range []string{"UNICODÉ 日本語.TXT", "mixed case.txt", "efi/boot/BOOTX64.EFI", "MANY/A FILE WITH A LONG NAME 007.TXT"} {
		if _, err := f.Lookup(p); err != nil {
			t.Errorf("lookup %q: %v", p, err)
		}
	}
	if _, err := f.Root().Child("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Child(nope): %v", err)
	}
	e, _ := f.Lookup("hello.txt")
	if !e.ModTime.Equal(fattest.OldTime) || e.Mode != 0o644 || e.UnixMode() != 0o100644 {
		t.Errorf("hello.txt: mtime %v mode %v", e.ModTime, e.Mode)
	}
	contiguous := 0
	var walk func(e *Entry)
	walk = func(e *Entry) {
		kids, _ := e.Entries()
		for _, k := range kids {
			if k.noFatChain {
				contiguous++
			}
			if k.IsDir() {
				walk(k)
			}
		}
	}
	walk(f.Root())
	if contiguous == 0 {
		t.Error("no entry has the NoFatChain flag")
	}

	// A new label, Unicode.
	testkit.Run(t, testkit.Tool(t, "exfatlabel"), img, "Étiquette")
	f = openImage(t, img)
	if f.Label() != "Étiquette" {
		t.Errorf("label %q after exfatlabel", f.Label())
	}
	if l, ok := fattest.BlkidLabel(t, img); ok && l != f.Label() {
		t.Errorf("blkid label %q, reader %q", l, f.Label())
	}
}

// fragment makes, in a mounted volume, frag.bin in two runs (written,
// blocker.bin written after it, then frag.bin appended to) and
// grown.bin (10 bytes, then extended to 1 MiB by truncate).
func fragment(mnt string) {
	p := filepath.Join(mnt, "frag.bin")
	os.WriteFile(p, bytes.Repeat([]byte("first "), 20000), 0o644)
	os.WriteFile(filepath.Join(mnt, "blocker.bin"), []byte("x"), 0o644)
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err == nil {
		f.Write(bytes.Repeat([]byte("second "), 50000))
		f.Close()
	}
	g := filepath.Join(mnt, "grown.bin")
	os.WriteFile(g, []byte("0123456789"), 0o644)
	os.Truncate(g, 1<<20)
}

// TestEmpty: a fresh mkfs.exfat image, no label; any user can run it.
func TestEmpty(t *testing.T) {
	img := mkfsExfat(t, 8<<20)
	f := openImage(t, img)
	kids, err := f.Root().Entries()
	if err != nil || len(kids) != 0 || f.Label() != "" || f.UpcaseErr() != nil || f.Type() != "exfat" {
		t.Errorf("%d entries %v label %q upcase %v", len(kids), err, f.Label(), f.UpcaseErr())
	}
}
