package udf

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// info is what the tests compare of one file: type and permissions, size,
// the sha256 of the data, a symlink's target.
type info struct {
	Mode   fs.FileMode
	Size   int64
	Sum    string
	Target string
}

// walkSource reads a directory tree on disk (symlinks not followed).
func walkSource(t testing.TB, root string) map[string]info {
	t.Helper()
	out := map[string]info{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		st, err := os.Lstat(p)
		if err != nil {
			return err
		}
		in := info{Mode: st.Mode()}
		switch {
		case st.Mode().IsRegular():
			b, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			in.Size, in.Sum = int64(len(b)), sum(b)
		case st.Mode()&fs.ModeSymlink != 0:
			in.Target, _ = os.Readlink(p)
			in.Size = int64(len(in.Target))
		}
		out[filepath.ToSlash(rel)] = in
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func sum(b []byte) string {
	h := sha256.Sum256(b)
	return hex.EncodeToString(h[:])
}

// walkFS reads every entry of an opened image, and every file's data
// through ReaderAt.
func walkFS(t testing.TB, f *FS) map[string]info {
	t.Helper()
	out := map[string]info{}
	var walk func(e *Entry, p string, depth int)
	walk = func(e *Entry, p string, depth int) {
		if depth > 64 {
			t.Fatalf("%s: too deep", p)
		}
		kids, err := e.Entries()
		if err != nil {
			t.Errorf("%s: %v", p, err)
			return
		}
		for _, k := range kids {
			kp := strings.TrimPrefix(p+"/"+k.Name, "/")
			in := info{Mode: k.Mode, Size: k.Size, Target: k.Target}
			if k.DataErr() != nil {
				t.Errorf("%s: %v", kp, k.DataErr())
			}
			if k.Mode.IsRegular() {
				h := sha256.New()
				n, err := io.Copy(h, k.Open())
				if err != nil || n != k.Size {
					t.Errorf("%s: read %d of %d bytes: %v", kp, n, k.Size, err)
				}
				in.Sum = hex.EncodeToString(h.Sum(nil))
			}
			if k.Mode.IsDir() {
				in.Size = 0
			}
			out[kp] = in
			if k.IsDir() {
				walk(k, kp, depth+1)
			}
		}
	}
	walk(f.Root(), "", 0)
	return out
}

// cmpFields says what compare looks at besides names, types, sizes and
// data.
type cmpFields struct {
	Perm bool // permission bits
}

// compare checks that got has exactly want's paths, with the same type,
// size, data and target.
func compare(t testing.TB, want, got map[string]info, fl cmpFields) {
	t.Helper()
	for p, w := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing from the image", p)
			continue
		}
		if w.Mode.Type() != g.Mode.Type() {
			t.Errorf("%s: type %v, want %v", p, g.Mode.Type(), w.Mode.Type())
		}
		if fl.Perm && w.Mode.Perm() != g.Mode.Perm() {
			t.Errorf("%s: permissions %v, want %v", p, g.Mode.Perm(), w.Mode.Perm())
		}
		if w.Mode.IsRegular() && (w.Size != g.Size || w.Sum != g.Sum) {
			t.Errorf("%s: %d bytes sha256 %.12s, want %d bytes %.12s", p, g.Size, g.Sum, w.Size, w.Sum)
		}
		if w.Target != g.Target {
			t.Errorf("%s: target %q, want %q", p, g.Target, w.Target)
		}
	}
	for p := range got {
		if _, ok := want[p]; !ok {
			t.Errorf("%s: in the image, not expected", p)
		}
	}
}

func openImage(t testing.TB, path string, opts Options) *FS {
	t.Helper()
	fh, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fh.Close() })
	st, err := fh.Stat()
	if err != nil {
		t.Fatal(err)
	}
	f, err := OpenOptions(fh, st.Size(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return f
}

// extract7z extracts an image with `7zz x -tudf` and returns the directory.
func extract7z(t testing.TB, img string) string {
	t.Helper()
	z := testkit.Tool(t, "7zz")
	out := filepath.Join(t.TempDir(), "7z")
	testkit.Run(t, z, "x", "-tudf", "-y", "-bd", "-o"+out, img)
	return out
}

// genisoimage makes an ISO 9660 image of src (a UDF 1.02 bridge with
// "-udf").
func genisoimage(t testing.TB, src string, args ...string) string {
	t.Helper()
	g := testkit.Tool(t, "genisoimage")
	out := filepath.Join(t.TempDir(), "image.iso")
	argv := append([]string{"-quiet", "-input-charset", "utf-8", "-o", out}, args...)
	testkit.Run(t, g, append(argv, src)...)
	return out
}

// Volume names mkudffs writes with --uuid=testUUID --label=testLabel, and
// the directory udfclient shows for them.
const (
	testUUID  = "0123456789abcdef"
	testLabel = "L"
	testVol   = testUUID + "LinuxUDF:" + testLabel + ":" + testLabel + ":LinuxUDF"
)

// mkudffs makes a sparse image of size bytes with mkudffs (args choose the
// media type, block size and revision).
func mkudffs(t testing.TB, size int64, bs int, args ...string) string {
	t.Helper()
	mk := testkit.Tool(t, "mkudffs")
	img, err := buildUDF(mk, "", t.TempDir(), "", size, bs, args...)
	if err != nil {
		t.Fatal(err)
	}
	return img
}

// buildUDF runs mkudffs on a new sparse image in tmp, then, when dir is not
// "", copies dir into it with udfclient (as a directory named like dir).
// It calls no testing function, to run in goroutines: udfclient idles 3 s
// before it exits, so the images are made all at once.
func buildUDF(mk, uc, tmp, dir string, size int64, bs int, args ...string) (string, error) {
	img := filepath.Join(tmp, "image.udf")
	if err := os.WriteFile(img, nil, 0o644); err != nil {
		return "", err
	}
	if err := os.Truncate(img, size); err != nil {
		return "", err
	}
	argv := append([]string{"--uuid=" + testUUID, "--label=" + testLabel, "--blocksize=" + itoa(bs)}, args...)
	if out, err := testkit.Command(mk, append(argv, img)...).CombinedOutput(); err != nil {
		return "", fmt.Errorf("mkudffs %s: %v\n%s", strings.Join(argv, " "), err, out)
	}
	if dir == "" {
		return img, nil
	}
	cmd := testkit.Command(uc, "-b", itoa(bs), "-W", img)
	cmd.Dir = filepath.Dir(dir)
	cmd.Stdin = strings.NewReader("cd " + testVol + "\nmput " + filepath.Base(dir) + "\nsync\nquit\n")
	out, err := cmd.CombinedOutput()
	if err != nil || strings.Contains(string(out), "rror") || strings.Contains(string(out), "No space") {
		return "", fmt.Errorf("udfclient (mkudffs %s): %v\n%s", strings.Join(argv, " "), err, out)
	}
	return img, nil
}

func itoa(n int) string { return strconv.Itoa(n) }

func keys[V any](m map[string]V) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// writeTree writes files (path -> content; a content starting with "->"
// makes a symlink to the rest) under a new directory root/name.
func writeTree(t testing.TB, name string, files map[string]string) string {
	t.Helper()
	return writeTreeIn(t, t.TempDir(), name, files)
}

func writeTreeIn(t testing.TB, tmp, name string, files map[string]string) string {
	t.Helper()
	root := filepath.Join(tmp, name)
	for p, c := range files {
		full := filepath.Join(root, p)
		if strings.HasSuffix(p, "/") {
			if err := os.MkdirAll(full, 0o755); err != nil {
				t.Fatal(err)
			}
			continue
		}
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		if target, ok := strings.CutPrefix(c, "->"); ok {
			err = os.Symlink(target, full)
		} else {
			err = os.WriteFile(full, []byte(c), 0o644)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	return root
}
