package ntfs

import (
	"io/fs"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

// TestAgainstNtfs3g reads every image file by file and compares it with an
// `ntfs-3g -o ro` mount of the same image: names, types, sizes, data,
// symlink targets, mtimes, inode numbers, link counts and streams.
func TestAgainstNtfs3g(t *testing.T) {
	imgs := images(t)
	for _, c := range imageCases {
		t.Run(c.name, func(t *testing.T) {
			img := imgs[c.name]
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
			f := openImage(t, img, mp)
			got := walk(t, f)
			if d := ntfstest.Diff(want, got, false); len(d) > 0 {
				t.Errorf("%d differences with ntfs-3g:\n%s", len(d), strings.Join(d[:min(len(d), 30)], "\n"))
			}
			if len(want) < 60 {
				t.Fatalf("ntfs-3g lists only %d entries", len(want))
			}
			if got := f.Label(); got != "LBL-"+c.name {
				t.Errorf("label %q", got)
			}
			if i := f.Info(); i.Unclean() || i.Version != "3.1" || i.Serial == 0 {
				t.Errorf("info %+v", i)
			}
		})
	}
}

// TestFS runs fstest.TestFS on the fs.FS of the small image (read from
// memory): every file opened, read, sought and stat'ed, every directory
// listed both ways, symbolic links not followed.
func TestFS(t *testing.T) {
	f := mustOpen(t, smallImage(t))
	want := readkittest.Tree{"many/file-000.txt": {}, "many/file-399.txt": {}, "comp/text.txt": {}, "plain.bin": {}, "a.txt": {}, "hard.txt": {}, "sym": {}}
	readkittest.TestFS(t, f.FS(), want)
	fi, err := fs.Stat(f.FS(), "sym")
	if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
		t.Errorf("sym: %v %v", fi, err)
	}
	b, err := fs.ReadFile(f.FS(), "comp/text.txt")
	if err != nil || !strings.HasPrefix(string(b), "compressible text") || len(b) != 35*4000 {
		t.Errorf("comp/text.txt through io/fs: %d bytes, %v", len(b), err)
	}
}
