package userfs_test

import (
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestIndexNTFS: an NTFS image made by mkntfs and filled through ntfs-3g
// (files resident in their MFT records, a 40 MiB file, sparse files of
// 1 and 5 GiB, a compressed directory, hard links, Interix symlinks,
// reparse-point symlinks and junctions, Unicode and case-only names,
// alternate data streams) through the EROFS index, compared file by file
// with `ntfs-3g -o ro` of the same image: names, types, sizes, data,
// targets, mtimes (to the second), link counts. Inode numbers are the
// index's own. The index carries no xattrs, so the streams (user.* xattrs
// through FUSE and ntfs-3g) are not shown, as docs/block.md says; the
// files that have them read the same.
func TestIndexNTFS(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	kmsgCheck(t)
	img, want := ntfsWithReference(t)
	if len(want["ads/file.txt"].Xattrs) != 2 || len(want["ads/dir"].Xattrs) != 1 {
		t.Fatalf("ntfs-3g shows the streams as %v and %v", want["ads/file.txt"].Xattrs, want["ads/dir"].Xattrs)
	}
	mp := indexMount(t, img, userfs.Options{Type: "ntfs", Mountpoint: mountDir(t)})
	got, err := ntfstest.WalkDir(mp)
	if err != nil {
		t.Fatal(err)
	}
	belowMount(got, mp)
	for _, tree := range []map[string]ntfstest.Info{want, got} {
		for p, i := range tree {
			i.Ino, i.Xattrs = 0, nil
			tree[p] = i
		}
	}
	if d := ntfstest.Diff(want, got, true); len(d) > 0 {
		t.Errorf("%d differences with ntfs-3g:\n%s", len(d), strings.Join(d[:min(len(d), 20)], "\n"))
	}
	if got["reparse/junction"].Target != "MP/reparse/tdir" {
		t.Errorf("junction: %q", got["reparse/junction"].Target)
	}
	for _, p := range []string{"compressed/text.txt", "huge.bin", "small/d00/f0000.txt", "links/b", "ads/file.txt"} {
		if _, ok := got[p]; !ok {
			t.Errorf("%s missing", p)
		}
	}
}
