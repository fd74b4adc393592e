package exfat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

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
	mounts, _ := os.ReadFile("/proc/self/mountinfo")
	for _, m := range made {
		kind, what, _ := strings.Cut(m, ":")
		switch kind {
		case "mount":
			if bytes.Contains(mounts, []byte(" "+what+" ")) {
				out = append(out, "mount "+what)
			}
		case "loop":
			dev, img, _ := strings.Cut(what, ":")
			b, err := os.ReadFile("/sys/block/" + filepath.Base(dev) + "/loop/backing_file")
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
	img := filepath.Join(t.TempDir(), "exfat.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	testkit.Run(t, testkit.Tool(t, "mkfs.exfat"), append(args, img)...)
	return img
}

// fillMounted copies src into the image through exfat-fuse on a loop
// device, and returns the tree as the mount shows it (read back before the
// unmount). The mount and the loop device are gone when it returns, or at
// the latest at t's cleanup.
func fillMounted(t *testing.T, img, src string, extra func(mnt string)) map[string]fileInfo {
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
	got := walkDir(t, mnt)
	unmount()
	detach()
	return got
}

type fileInfo struct {
	dir   bool
	size  int64
	sum   string
	mtime time.Time
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

func walkDir(t testing.TB, root string) map[string]fileInfo {
	t.Helper()
	out := map[string]fileInfo{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		if rel == "." {
			return nil
		}
		st, err := d.Info()
		if err != nil {
			return err
		}
		fi := fileInfo{dir: d.IsDir(), mtime: st.ModTime()}
		if !d.IsDir() {
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			fi.size, fi.sum = int64(len(b)), sum(b)
		}
		out[filepath.ToSlash(rel)] = fi
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func walkFS(t testing.TB, f *FS) map[string]fileInfo {
	t.Helper()
	out := map[string]fileInfo{}
	var walk func(e *Entry, p string)
	walk = func(e *Entry, p string) {
		kids, err := e.Entries()
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		for _, k := range kids {
			kp := strings.TrimPrefix(p+"/"+k.Name, "/")
			fi := fileInfo{dir: k.IsDir(), mtime: k.ModTime}
			if !k.IsDir() {
				if err := k.DataErr(); err != nil {
					t.Fatalf("%s: %v", kp, err)
				}
				b := make([]byte, k.Size)
				if n, err := k.ReaderAt().ReadAt(b, 0); n != len(b) {
					t.Fatalf("%s: read %d of %d: %v", kp, n, len(b), err)
				}
				fi.size, fi.sum = k.Size, sum(b)
			}
			out[kp] = fi
			if k.IsDir() {
				walk(k, kp)
			}
		}
	}
	walk(f.Root(), "")
	return out
}

func compare(t testing.TB, want, got map[string]fileInfo) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing from the image", p)
			continue
		}
		if g.dir != w.dir || g.size != w.size || g.sum != w.sum {
			t.Errorf("%s: got dir=%v size=%d sha=%.12s, want dir=%v size=%d sha=%.12s", p, g.dir, g.size, g.sum, w.dir, w.size, w.sum)
		}
		if !w.dir {
			if d := g.mtime.Sub(w.mtime); d > 2*time.Second || d < -2*time.Second {
				t.Errorf("%s: mtime %v, want %v", p, g.mtime, w.mtime)
			}
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the image only", p)
		}
	}
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	r, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	st, _ := r.Stat()
	f, err := Open(r, st.Size())
	if err != nil {
		t.Fatalf("open %s: %v", img, err)
	}
	return f
}

var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.Local)

// richTree is a source tree with Unicode names (a surrogate pair too), a
// long name, a 300-entry directory (over one cluster), a 24 MiB mostly-zero
// file and nested directories.
func richTree(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	write := func(rel string, data []byte) {
		p := filepath.Join(src, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
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
	os.Chtimes(filepath.Join(src, "hello.txt"), oldTime, oldTime)
	return src
}

func blkidLabel(t testing.TB, img string) (string, bool) {
	p := testkit.LookTool("blkid")
	if p == "" {
		return "", false
	}
	out, _ := testkit.Command(p, "-p", "-o", "value", "-s", "LABEL", img).Output()
	return strings.TrimRight(string(out), "\n"), true
}

// TestFilled: an image made by mkfs.exfat and filled through exfat-fuse
// reads back like the source tree and like the mount showed it.
func TestFilled(t *testing.T) {
	src := richTree(t)
	img := mkfsExfat(t, 64<<20, "-L", "EXLABEL")
	mounted := fillMounted(t, img, src, fragment)
	f := openImage(t, img)
	got := walkFS(t, f)
	compare(t, mounted, got)
	delete(got, "frag.bin")
	delete(got, "blocker.bin")
	delete(got, "grown.bin")
	compare(t, walkDir(t, src), got)
	frag, _ := f.Lookup("frag.bin")
	if frag == nil || len(frag.Extents) < 2 || frag.noFatChain {
		t.Errorf("frag.bin is not fragmented: %+v", frag)
	}

	if f.Label() != "EXLABEL" || f.UpcaseErr() != nil {
		t.Errorf("label %q upcase %v", f.Label(), f.UpcaseErr())
	}
	if l, ok := blkidLabel(t, img); ok && l != f.Label() {
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
	if !e.ModTime.Equal(oldTime) || e.Mode != 0o644 || e.UnixMode() != 0o100644 {
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
	if l, ok := blkidLabel(t, img); ok && l != f.Label() {
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
