package blocklooptest

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
)

// FixtureSet is one image of every type the tools here can make, made once
// per test binary (unprivileged: mkfs writes files, nothing is mounted).
type FixtureSet struct {
	Dir    string
	Images map[string]string // name ("ext4", "gpt", "iso9660"...) -> path
	Sums   map[string]string // the sha256 of each file of the tree they hold
}

// Ext4Label is the label of the ext4 fixture (and of the partition of the
// mbr and gpt ones): a label with a space.
const Ext4Label = "My Data"

var (
	fixOnce sync.Once
	fix     FixtureSet
)

// Fixtures makes the fixture images on first call (each in a subtest of
// the test that asks first, so a missing tool skips, or under CI=true
// fails, that image only) and returns them. Main removes them.
func Fixtures(t *testing.T) FixtureSet {
	t.Helper()
	fixOnce.Do(func() {
		dir, err := os.MkdirTemp("", Marker()+"fixtures-*")
		if err != nil {
			t.Fatal(err)
		}
		fix.Dir = dir
		fix.Images = map[string]string{}
		src, sums := Tree(t, dir)
		fix.Sums = sums
		img := func(n string) string { return filepath.Join(dir, n) }
		add := func(name string, f func(t *testing.T) string) {
			t.Run("fixture-"+name, func(t *testing.T) { fix.Images[name] = f(t) })
		}
		add("ext4", func(t *testing.T) string { return Ext4(t, img("ext4.img"), Ext4Label, src, 8<<20) })
		add("ext2", func(t *testing.T) string {
			p := img("ext2.img")
			truncate(t, p, 4<<20)
			Run(t, "/usr/sbin/mkfs.ext2", "-q", "-F", "-L", "old", p)
			return p
		})
		add("ext3", func(t *testing.T) string {
			p := img("ext3.img")
			truncate(t, p, 8<<20)
			Run(t, "/usr/sbin/mkfs.ext3", "-q", "-F", "-L", "journal", p)
			return p
		})
		add("squashfs", func(t *testing.T) string { return Squashfs(t, img("sq.img"), src) })
		add("erofs", func(t *testing.T) string { return Erofs(t, img("erofs.img"), src) })
		add("btrfs", func(t *testing.T) string { return Btrfs(t, img("btrfs.img"), "butter", src) })
		add("xfs", func(t *testing.T) string { return XFS(t, img("xfs.img"), "xfslabel") })
		add("vfat", func(t *testing.T) string {
			p := img("vfat.img")
			truncate(t, p, 8<<20)
			Run(t, Tool(t, "mkfs.vfat"), "-n", "FATLBL", p)
			return p
		})
		add("exfat", func(t *testing.T) string {
			p := img("exfat.img")
			truncate(t, p, 8<<20)
			Run(t, Tool(t, "mkfs.exfat"), p)
			return p
		})
		add("iso9660", func(t *testing.T) string {
			p := img("test.iso")
			Run(t, Tool(t, "xorriso"), "-as", "mkisofs", "-quiet", "-R", "-J", "-V", "TEST ISO", "-o", p, src)
			return p
		})
		add("swap", func(t *testing.T) string {
			p := img("swap.img")
			truncate(t, p, 1<<20)
			Run(t, Tool(t, "mkswap"), "-L", "swp", p)
			return p
		})
		if p, ok := fix.Images["ext4"]; ok {
			add("mbr", func(t *testing.T) string {
				return Disk(t, img("mbr.img"), "dos", []int{4, 10}, []string{"", p})
			})
			add("gpt", func(t *testing.T) string {
				return Disk(t, img("gpt.img"), "gpt", []int{4, 10}, []string{"", p})
			})
			if sq, ok := fix.Images["squashfs"]; ok {
				add("mbr2", func(t *testing.T) string {
					return Disk(t, img("mbr2.img"), "dos", []int{4, 10}, []string{sq, p})
				})
			}
		}
	})
	if fix.Images == nil {
		t.Fatal("fixtures failed")
	}
	return fix
}

// removeFixtures removes what Fixtures made.
func removeFixtures() {
	if fix.Dir != "" {
		os.RemoveAll(fix.Dir)
	}
}
