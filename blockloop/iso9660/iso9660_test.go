package iso9660_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

func openFile(t testing.TB, path string, opts iso9660.Options) *iso9660.Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		t.Fatal(err)
	}
	img, err := iso9660.OpenOptions(f, st.Size(), opts)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return img
}

// TestRockRidge: every name (long, unicode), mode, owner, symlink target,
// hard-link count, mtime, size and sha256 of the Rock Ridge tree matches
// the source tree, and the path table agrees with the tree.
func TestRockRidge(t *testing.T) {
	src := isotest.RichTree(t)
	iso := isotest.BuildISO(t, src, "-R", "-J", "-V", "RR TEST")
	img := openFile(t, iso, iso9660.Options{})
	if img.Tree() != iso9660.TreeRockRidge || !img.Joliet() || img.Label() != "RR TEST" {
		t.Fatalf("tree %v joliet %v label %q", img.Tree(), img.Joliet(), img.Label())
	}
	want := readkittest.HostTree(t, src)
	readkittest.Compare(t, want, readkittest.FSTree(t, img.FS()),
		readkittest.Fields{Perm: true, Owner: true, Nlink: true, ModTime: readkittest.SameSecond})
	readkittest.TestImageFS(t, iso, iso9660.Open, want)
	if err := img.Check(); err != nil {
		t.Error(err)
	}
	h1, _ := img.Lookup("hello.txt")
	h2, _ := img.Lookup("sub/hard-link")
	if h1 == nil || h2 == nil || h1.Ino != h2.Ino || h1.Nlink != 2 {
		t.Errorf("hard links: %+v %+v", h1, h2)
	}
	e, err := img.Lookup("/link-long")
	if err != nil || e.Target != isotest.LongTarget {
		t.Errorf("link-long: %v %q", err, e.Target)
	}
	e, err = img.Lookup("sub/../old.txt")
	if err != nil || !e.ModTime.Equal(isotest.OldTime) {
		t.Errorf("old.txt: %v %v", err, e.ModTime)
	}
	if _, err := img.Lookup("nope/x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("lookup of a missing path: %v", err)
	}
	if _, err := img.Lookup("hello.txt/x"); err == nil {
		t.Error("lookup through a file succeeded")
	}
}

// TestJolietOnly: without Rock Ridge the Joliet tree is served, nested
// directories included (go-diskfs fails there), with mixed case, spaces and
// unicode names, default modes 0555/0444.
func TestJolietOnly(t *testing.T) {
	src := isotest.JolietTree(t)
	iso := isotest.BuildISO(t, src, "--norock", "-J", "-joliet-long", "-V", "JOLIET")
	img := openFile(t, iso, iso9660.Options{})
	if img.Tree() != iso9660.TreeJoliet || img.RockRidge() {
		t.Fatalf("tree %v rr %v", img.Tree(), img.RockRidge())
	}
	want := readkittest.HostTree(t, src)
	for p, in := range want {
		if in.Mode.IsDir() {
			in.Mode = fs.ModeDir | 0o555
		} else {
			in.Mode = 0o444
		}
		if !in.Mode.IsDir() {
			in.Nlink = 1
		}
		want[p] = in
	}
	readkittest.Compare(t, want, readkittest.FSTree(t, img.FS()), readkittest.Fields{Perm: true, Nlink: true, ModTime: readkittest.SameSecond})
	readkittest.TestImageFS(t, iso, iso9660.Open, want)
	if err := img.Check(); err != nil {
		t.Error(err)
	}
}

// TestPlainNames: with neither Rock Ridge nor Joliet, names are shown as
// the kernel shows them by default (map=normal): lower case, without ";1"
// and the dot of a name without extension; with map=off as stored.
func TestPlainNames(t *testing.T) {
	src := filepath.Join(t.TempDir(), "src")
	for p, c := range map[string]string{"README": "r\n", "hello.txt": "h\n", "sub/Deeper/x.tar.gz": "x\n", "sub/a.b": "ab\n"} {
		os.MkdirAll(filepath.Join(src, filepath.Dir(p)), 0o755)
		os.WriteFile(filepath.Join(src, p), []byte(c), 0o644)
	}
	iso := isotest.BuildISO(t, src, "--norock")
	for _, tc := range []struct {
		m     iso9660.NameMap
		names []string
	}{
		{iso9660.MapNormal, []string{"readme", "hello.txt", "sub", "sub/deeper", "sub/deeper/x_tar.gz", "sub/a.b"}},
		{iso9660.MapOff, []string{"README.;1", "HELLO.TXT;1", "SUB", "SUB/DEEPER", "SUB/DEEPER/X_TAR.GZ;1", "SUB/A.B;1"}},
	} {
		img := openFile(t, iso, iso9660.Options{Map: tc.m})
		if img.Tree() != iso9660.TreePlain {
			t.Fatalf("tree %v", img.Tree())
		}
		got := readkittest.FSTree(t, img.FS())
		for _, p := range tc.names {
			if _, ok := got[p]; !ok {
				t.Errorf("map=%v: %s missing from %v", tc.m, p, keys(got))
			}
		}
		if len(got) != 7 {
			t.Errorf("map=%v: entries %v", tc.m, keys(got))
		}
		e, err := img.Lookup(tc.names[0])
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(e.Open())
		if string(b) != "r\n" || e.Mode != 0o444 {
			t.Errorf("map=%v: README: %q %v", tc.m, b, e.Mode)
		}
		if err := img.Check(); err != nil {
			t.Errorf("map=%v: %v", tc.m, err)
		}
	}
}

// TestNameMap: the kernel's isofs_name_translate (map=normal), and map=
// values as mount reads them.
func TestNameMap(t *testing.T) {
	for raw, want := range map[string]string{
		"README.TXT;1": "readme.txt", "README.;1": "readme", "README.": "readme.", "A;2": "a.2",
		"NOVERSION": "noversion", "A;1B": "a.1b", "X.;12": "x..12", "MiXeD;1": "mixed",
	} {
		if got := iso9660.MapNormal.Show(raw); got != want {
			t.Errorf("map=normal %q: %q, want %q", raw, got, want)
		}
		if got := iso9660.MapOff.Show(raw); got != raw {
			t.Errorf("map=off %q: %q", raw, got)
		}
	}
	for s, want := range map[string]iso9660.NameMap{"normal": iso9660.MapNormal, "n": iso9660.MapNormal, "off": iso9660.MapOff, "o": iso9660.MapOff} {
		if m, err := iso9660.ParseNameMap(s); err != nil || m != want {
			t.Errorf("map=%s: %v %v", s, m, err)
		}
	}
	if _, err := iso9660.ParseNameMap("acorn"); err == nil {
		t.Error("map=acorn accepted")
	}
}

func keys(tr readkittest.Tree) []string {
	var out []string
	for k := range tr {
		out = append(out, k)
	}
	return out
}

// TestDeepRelocated: a tree 12 levels deep written with Rock Ridge
// relocation (CL/PL/RE into rr_moved, or the hidden .rr_moved) reads back
// at its original depth, the relocation directory hidden; the plain tree
// shows the relocation as recorded.
func TestDeepRelocated(t *testing.T) {
	src := isotest.RichTree(t)
	for _, reloc := range [][]string{{"-rr_reloc_dir", "rr_moved"}, {"-hide-rr-moved"}} {
		t.Run(reloc[0], func(t *testing.T) {
			iso := isotest.BuildISO(t, src, append([]string{"-R"}, reloc...)...)
			img := openFile(t, iso, iso9660.Options{})
			readkittest.Compare(t, readkittest.HostTree(t, src), readkittest.FSTree(t, img.FS()),
				readkittest.Fields{Perm: true, Owner: true, Nlink: true, ModTime: readkittest.SameSecond})
			if err := img.Check(); err != nil {
				t.Error(err)
			}
			plain := openFile(t, iso, iso9660.Options{Tree: iso9660.TreePlain})
			kids, _ := plain.Root().Entries()
			found := false
			for _, k := range kids {
				found = found || strings.Contains(strings.ToUpper(k.Name), "RR_MOVE")
			}
			if !found {
				t.Error("the plain tree has no relocation directory: nothing was relocated")
			}
		})
	}
}

// TestHybrid: an image with an MBR in its system area (isohybrid) is read
// like any other.
func TestHybrid(t *testing.T) {
	src := isotest.JolietTree(t)
	var iso string
	if _, err := os.Stat("/usr/lib/ISOLINUX/isohdpfx.bin"); err == nil {
		os.WriteFile(filepath.Join(src, "isolinux.bin"), bytes.Repeat([]byte{0x90}, 4096), 0o644)
		iso = isotest.BuildISO(t, src, "-R", "-J", "-isohybrid-mbr", "/usr/lib/ISOLINUX/isohdpfx.bin",
			"-b", "isolinux.bin", "-c", "boot.cat", "-no-emul-boot", "-boot-load-size", "4", "-boot-info-table")
	} else {
		iso = isotest.BuildISO(t, src, "-R", "-J")
		patchMBR(t, iso)
	}
	b := make([]byte, 512)
	f, _ := os.Open(iso)
	f.ReadAt(b, 0)
	f.Close()
	if b[510] != 0x55 || b[511] != 0xAA {
		t.Fatalf("no MBR signature in sector 0")
	}
	img := openFile(t, iso, iso9660.Options{})
	got := readkittest.FSTree(t, img.FS())
	want := readkittest.HostTree(t, src)
	delete(got, "boot.cat")
	delete(got, "isolinux.bin") // -boot-info-table patches it
	delete(want, "isolinux.bin")
	readkittest.Compare(t, want, got, readkittest.Fields{})
}

// patchMBR writes a one-partition MBR into sector 0, as isohybrid does.
func patchMBR(t *testing.T, iso string) {
	f, err := os.OpenFile(iso, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mbr := make([]byte, 512)
	copy(mbr[446:], []byte{0x80, 0, 1, 0, 0x17, 0xfe, 0xff, 0xff, 0, 0, 0, 0, 0, 0, 1, 0})
	mbr[510], mbr[511] = 0x55, 0xAA
	if _, err := f.WriteAt(mbr, 0); err != nil {
		t.Fatal(err)
	}
}

// TestUDFOnly: an image with only a UDF volume recognition sequence gets a
// *UDFOnlyError naming what is missing; a file of zeros is not ISO 9660.
func TestUDFOnly(t *testing.T) {
	img := make([]byte, 64<<10)
	for i, id := range []string{"BEA01", "NSR02", "TEA01"} {
		copy(img[(16+i)*2048+1:], id)
		img[(16+i)*2048+6] = 1
	}
	_, err := iso9660.Open(bytes.NewReader(img), int64(len(img)))
	var udf *iso9660.UDFOnlyError
	if !errors.As(err, &udf) || !errors.Is(err, iso9660.ErrNotISO9660) || !errors.Is(err, errors.ErrUnsupported) {
		t.Fatalf("err %v", err)
	}
	for _, s := range []string{"UDF", "NSR02", "no ISO 9660 primary volume descriptor"} {
		if !strings.Contains(err.Error(), s) {
			t.Errorf("error %q does not say %q", err, s)
		}
	}
	_, err = iso9660.Open(bytes.NewReader(make([]byte, 64<<10)), 64<<10)
	if !errors.Is(err, iso9660.ErrNotISO9660) || errors.As(err, &udf) {
		t.Errorf("zeros: %v", err)
	}
	_, err = iso9660.Open(bytes.NewReader(nil), 0)
	if !errors.Is(err, iso9660.ErrNotISO9660) {
		t.Errorf("empty: %v", err)
	}
}

// TestMultiExtent: a sparse 4.5 GiB file in an -iso-level 3 image is ONE
// entry (every Go library and fuseiso list two) whose data is the
// concatenation of its extents: markers at its start, across the first
// extent's end and at its very end read back, in both the Rock Ridge and
// the Joliet trees. About 7 s and no disk (the image is written sparse);
// skipped with -short.
func TestMultiExtent(t *testing.T) {
	if testing.Short() && os.Getenv("LOOPS_TEST_LARGE") == "" {
		t.Skip("-short: builds a 4.5 GiB (sparse) image; LOOPS_TEST_LARGE=1 forces it")
	}
	src, size := isotest.BigTree(t)
	iso := isotest.BuildISO(t, src, "-R", "-J", "-iso-level", "3")
	for _, tree := range []iso9660.Tree{iso9660.TreeRockRidge, iso9660.TreeJoliet} {
		img := openFile(t, iso, iso9660.Options{Tree: tree})
		kids, err := img.Root().Entries()
		if err != nil || len(kids) != 2 {
			t.Fatalf("%v: root %v %v", tree, err, kids)
		}
		e, err := img.Lookup("huge.bin")
		if err != nil {
			t.Fatal(err)
		}
		if e.Size != size || len(e.Extents) < 2 {
			t.Fatalf("%v: size %d extents %v, want %d in several", tree, e.Size, e.Extents, size)
		}
		isotest.CheckMarkers(t, e.ReaderAt(), size)
		if err := img.Check(); err != nil {
			t.Error(err)
		}
	}
}
