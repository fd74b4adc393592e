package userfs_test

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestMountNTFS serves an NTFS image made by mkntfs and filled through
// ntfs-3g, and compares the mount file by file with an `ntfs-3g -o ro`
// mount of the same image: names, types, sizes, data, symlink and junction
// targets (below each mount point), mtimes, inode numbers, link counts and
// the alternate data streams as user.* xattrs. The mount is fuse.ntfs,
// owned by the mount's owner with the reader's modes.
// ntfsWithReference builds the NTFS test image (ntfstest.Build) and
// walks an `ntfs-3g -o ro` mount of it (unmounted when t ends), its
// symlink targets below the mount point made relative (belowMount).
func ntfsWithReference(t *testing.T) (img string, want map[string]ntfstest.Info) {
	t.Helper()
	img = filepath.Join(t.TempDir(), "ntfs.img")
	if err := ntfstest.Build(img, 256<<20, "LOOPSNTFS", false); err != nil {
		t.Fatal(err)
	}
	ref := t.TempDir()
	umount, err := ntfstest.Mount(img, ref, "ro")
	if err != nil {
		t.Fatal(err)
	}
	defer umount()
	if want, err = ntfstest.WalkDir(ref); err != nil {
		t.Fatal(err)
	}
	belowMount(want, ref)
	return img, want
}

// belowMount rewrites the symlink targets of tree below its mount point
// mp as "MP/..." (a link's size is its target's length), so that trees
// read at two mount points compare.
func belowMount(tree map[string]ntfstest.Info, mp string) {
	for p, i := range tree {
		if i.Type == 'l' && strings.HasPrefix(i.Target, mp+"/") {
			i.Target = "MP" + strings.TrimPrefix(i.Target, mp)
			i.Size -= int64(len(mp) - len("MP"))
			tree[p] = i
		}
	}
}

func TestMountNTFS(t *testing.T) {
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	img, want := ntfsWithReference(t)
	s, _ := serve(t, img, userfs.Options{Type: "ntfs"})
	got, err := ntfstest.WalkDir(s.Mountpoint)
	if err != nil {
		t.Fatal(err)
	}
	belowMount(got, s.Mountpoint)
	if d := ntfstest.Diff(want, got, false); len(d) > 0 {
		t.Errorf("%d differences with ntfs-3g:\n%s", len(d), strings.Join(d[:min(len(d), 20)], "\n"))
	}
	if got["reparse/junction"].Target != "MP/reparse/tdir" {
		t.Errorf("junction: %q", got["reparse/junction"].Target)
	}
	if len(got["ads/file.txt"].Xattrs) != 2 {
		t.Errorf("streams as xattrs: %v", got["ads/file.txt"].Xattrs)
	}
	m := mountOf(s.Mountpoint)
	if m == nil || m.FSType != "fuse.ntfs" {
		t.Fatalf("mountinfo: %+v", m)
	}
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(s.Mountpoint, "links/a"), &st); err != nil {
		t.Fatal(err)
	}
	if st.Mode&0o777 != 0o644 || st.Uid != uint32(os.Getuid()) || st.Nlink != 3 {
		t.Errorf("links/a: mode %o uid %d nlink %d", st.Mode, st.Uid, st.Nlink)
	}
	if _, err := os.ReadFile(filepath.Join(s.Mountpoint, "ads/file.txt")); err != nil {
		t.Error(err)
	}
}
