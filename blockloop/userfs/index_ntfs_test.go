package userfs_test

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestIndexNTFS: an NTFS image made by mkntfs and filled through ntfs-3g
// (files resident in their MFT records, a 40 MiB file, sparse files of
// 1 and 5 GiB, a compressed directory, hard links, Interix symlinks,
// reparse-point symlinks and junctions, Unicode and case-only names)
// through the EROFS index, compared file by file with `ntfs-3g -o ro` of
// the same image: names, types, sizes, data, targets, mtimes (to the
// second), link counts. Inode numbers are the index's own. The index has
// no xattrs: while a file has alternate data streams (user.* xattrs
// through FUSE) WriteIndex refuses the volume with ErrNotIndexable, so
// the mount falls back to FUSE; the test removes them through ntfs-3g
// and indexes the rest.
func TestIndexNTFS(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	kmsgCheck(t)
	img := filepath.Join(t.TempDir(), "ntfs.img")
	if err := ntfstest.Build(img, 256<<20, "LOOPSNTFS", false); err != nil {
		t.Fatal(err)
	}
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	_, err = userfs.WriteIndex(io.Discard, f, userfs.Options{Type: "ntfs"}, true)
	f.Close()
	if !errors.Is(err, userfs.ErrNotIndexable) || !strings.Contains(err.Error(), "/ads/") {
		t.Fatalf("WriteIndex of a volume with streams: %v, want ErrNotIndexable naming ads/", err)
	}

	rw := t.TempDir()
	umount, err := ntfstest.Mount(img, rw)
	if err != nil {
		t.Fatal(err)
	}
	for p, names := range map[string][]string{"ads/file.txt": {"user.small", "user.big"}, "ads/dir": {"user.ondir"}} {
		for _, n := range names {
			if err := unix.Removexattr(filepath.Join(rw, p), n); err != nil {
				t.Errorf("removing the stream %s of %s: %v", n, p, err)
			}
		}
	}
	if err := umount(); err != nil {
		t.Fatal(err)
	}

	ref := t.TempDir()
	umount, err = ntfstest.Mount(img, ref, "ro")
	if err != nil {
		t.Fatal(err)
	}
	defer umount()
	want, err := ntfstest.WalkDir(ref)
	if err != nil {
		t.Fatal(err)
	}
	mp := indexMount(t, img, userfs.Options{Type: "ntfs", Mountpoint: mountDir(t)})
	got, err := ntfstest.WalkDir(mp)
	if err != nil {
		t.Fatal(err)
	}
	for tree, root := range map[*map[string]ntfstest.Info]string{&want: ref, &got: mp} {
		for p, i := range *tree {
			if i.Type == 'l' && strings.HasPrefix(i.Target, root+"/") {
				i.Target = "MP" + strings.TrimPrefix(i.Target, root)
				i.Size -= int64(len(root) - len("MP"))
			}
			i.Ino = 0
			(*tree)[p] = i
		}
	}
	if d := ntfstest.Diff(want, got, true); len(d) > 0 {
		t.Errorf("%d differences with ntfs-3g:\n%s", len(d), strings.Join(d[:min(len(d), 20)], "\n"))
	}
	if got["reparse/junction"].Target != "MP/reparse/tdir" {
		t.Errorf("junction: %q", got["reparse/junction"].Target)
	}
	for _, p := range []string{"compressed/text.txt", "huge.bin", "small/d00/f0000.txt", "links/b"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
}
