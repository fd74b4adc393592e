package fat

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"io/fs"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// oldTime is an mtime (even seconds, local time) given to some source files.
var oldTime = time.Date(2001, 2, 3, 4, 5, 6, 0, time.Local)

// names are file names that exercise long names, Unicode (a surrogate pair
// long-name
// entries for surrogate pairs are in TestLongNameSlots: mtools cannot write
// them), names fitting 8.3 in lower case (NT case bits) and mixed case.
var names = []string{
	"hello.txt",
	"unicodé 日本語.txt",
	"README",
	"lower",
	"Mixed Case Name.TXT",
	"a very long file name that does not fit in eight dot three.data",
	"empty",
	"UPPER.TXT",
}

// richTree makes a source tree: the names above, nested directories with an
// EFI-style layout, a 300-entry directory spanning clusters and a file of
// random data.
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
	for i, n := range names {
		data := []byte(strings.Repeat(n+"\n", i*7))
		write(n, data)
	}
	write("EFI/BOOT/bootx64.efi", bytes.Repeat([]byte("MZ efi "), 3000))
	write("deep/a/b/c/d/deep.txt", []byte("deep\n"))
	write("Dir With Spaces/inner file.txt", []byte("inner\n"))
	for i := 0; i < 320; i++ {
		write(filepath.Join("many", "file number "+strings.Repeat("x", i%5)+string(rune('a'+i%26))+"-"+itoa(i)+".txt"), []byte(itoa(i)))
	}
	rnd := make([]byte, 300<<10+123)
	rand.New(rand.NewSource(1)).Read(rnd)
	write("random.bin", rnd)
	os.Chtimes(filepath.Join(src, "hello.txt"), oldTime, oldTime)
	os.Chtimes(filepath.Join(src, "EFI/BOOT/bootx64.efi"), oldTime, oldTime)
	return src
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// mkfs makes an image of size bytes with mkfs.vfat args (e.g. "-F", "16").
func mkfs(t testing.TB, size int64, args ...string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fat.img")
	f, err := os.Create(img)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(size)
	f.Close()
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), append(args, img)...)
	return img
}

// fill copies the contents of src into the image's root, mtimes kept.
func fill(t testing.TB, img, src string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-s", "-m", "-i", img}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	testkit.Run(t, testkit.Tool(t, "mcopy"), append(args, "::/")...)
}

// fileInfo is what the comparisons look at.
type fileInfo struct {
	dir   bool
	size  int64
	sum   string
	mtime time.Time
}

func sum(b []byte) string { s := sha256.Sum256(b); return hex.EncodeToString(s[:]) }

// walkDir lists a host tree, by slash path.
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

// walkFS lists the reader's tree, reading every file.
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

// compare checks that got has the same paths, types, sizes and contents as
// want, and (mtimes) the same mtimes within 2 s.
func compare(t testing.TB, want, got map[string]fileInfo, mtimes bool) {
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
		if mtimes && !w.dir {
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

// blkidLabel is the label blkid reads from the image.
func blkidLabel(t testing.TB, img string) (string, bool) {
	p := testkit.LookTool("blkid")
	if p == "" {
		return "", false
	}
	out, _ := testkit.Command(p, "-p", "-o", "value", "-s", "LABEL", img).Output()
	return strings.TrimRight(string(out), "\n"), true
}
