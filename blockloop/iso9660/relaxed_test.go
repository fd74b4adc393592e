package iso9660_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestRootRecordFlags: the primary volume descriptor's root directory
// record without its directory flag (a conformance slip: the record still
// names the root's extent, whose "." record is a directory) reads as the
// root, the tree xorriso extracts from the same image.
func TestRootRecordFlags(t *testing.T) {
	src := isotest.RichTree(t)
	iso := isotest.BuildISO(t, src, "-R", "-V", "FLAGS")
	b, err := os.ReadFile(iso)
	if err != nil {
		t.Fatal(err)
	}
	const flags = 16*2048 + 156 + 25 // the PVD's root record's file flags
	if b[16*2048] != 1 || b[flags]&2 == 0 {
		t.Fatalf("no PVD with a directory root record at sector 16")
	}
	b[flags] &^= 2
	os.WriteFile(iso, b, 0o644)
	out := filepath.Join(t.TempDir(), "out")
	testkit.Run(t, isotest.Xorriso(t), "-osirrox", "on", "-indev", iso, "-extract", "/", out)
	img := openFile(t, iso, iso9660.Options{})
	if img.Tree() != iso9660.TreeRockRidge || img.Label() != "FLAGS" {
		t.Errorf("tree %v label %q", img.Tree(), img.Label())
	}
	got := readkittest.FSTree(t, img.FS())
	want := readkittest.HostTree(t, out)
	delete(got, "")
	delete(want, "")
	readkittest.Compare(t, want, got, readkittest.Fields{})
}
