package ntfs

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestNoBootSignature: a volume made by mkntfs and filled through ntfs-3g
// whose boot sector lost its 0x55AA signature (what only firmware booting
// it needs) reads, file by file as `ntfs-3g -o ro` shows it (ntfs-3g warns
// and mounts it; blkid names it).
func TestNoBootSignature(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	img := filepath.Join(t.TempDir(), "nosig.img")
	if err := ntfstest.BuildSmall(img, 16<<20); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if b[510] != 0x55 || b[511] != 0xAA {
		t.Fatalf("mkntfs wrote no 0x55AA signature")
	}
	b[510], b[511] = 0, 0
	os.WriteFile(img, b, 0o644)
	mp := t.TempDir()
	umount, err := ntfstest.Mount(img, mp, "ro")
	if err != nil {
		t.Fatal(err)
	}
	defer umount()
	want, err := ntfstest.WalkDir(mp)
	if err != nil {
		t.Fatal(err)
	}
	if len(want) < 400 {
		t.Fatalf("ntfs-3g lists only %d entries", len(want))
	}
	got := walk(t, openImage(t, img, mp))
	if d := ntfstest.Diff(want, got, false); len(d) > 0 {
		t.Errorf("%d differences with ntfs-3g:\n%s", len(d), strings.Join(d[:min(len(d), 30)], "\n"))
	}
}
