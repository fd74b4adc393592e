package udf

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// walkSource reads a directory tree on disk (symlinks not followed), its
// root left out.
func walkSource(t testing.TB, root string) readkittest.Tree {
	t.Helper()
	tr := readkittest.HostTree(t, root)
	delete(tr, "")
	return tr
}

// walkFS reads every entry of an opened image through its fs.FS, and every
// file's data, the root left out.
func walkFS(t testing.TB, f *FS) readkittest.Tree {
	t.Helper()
	tr := readkittest.FSTree(t, f.FS())
	delete(tr, "")
	return tr
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
