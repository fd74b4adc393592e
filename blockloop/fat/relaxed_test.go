package fat

import (
	"errors"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestFAT32Version: a mkfs.vfat FAT32 volume whose BPB_FSVer is patched to
// 0.1 (conformance: "must be 0.0") reads as 0.0, the tree mtools extracts
// from it (mtools, fsck.fat and Linux read it; 7-Zip refuses it); the
// writer refuses it (ErrUnsupported): no one defined what 0.1 means.
func TestFAT32Version(t *testing.T) {
	src := smallTree(t)
	img := mkfs(t, 40<<20, "-F", "32", "-n", "VERSION")
	fill(t, img, src)
	b, _ := os.ReadFile(img)
	b[42], b[43] = 1, 0
	os.WriteFile(img, b, 0o644)
	out := filepath.Join(t.TempDir(), "out")
	os.Mkdir(out, 0o755)
	testkit.Run(t, testkit.Tool(t, "mcopy"), "-s", "-m", "-i", img, "::/*", out)
	f := openImage(t, img)
	if f.Type() != "fat32" || f.Label() != "VERSION" {
		t.Errorf("type %s label %q", f.Type(), f.Label())
	}
	got := walkFS(t, f)
	readkittest.Compare(t, readkittest.HostTree(t, out), got, fattest.Fields)
	readkittest.Compare(t, readkittest.HostTree(t, src), got, fattest.Fields)
	fh, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer fh.Close()
	if _, err := OpenVolume(fh, int64(len(b)), VolumeOptions{}); !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("OpenVolume of version 0.1: %v, want ErrUnsupported", err)
	}
}
