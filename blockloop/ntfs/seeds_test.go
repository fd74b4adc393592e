package ntfs

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/internal/testkit"
	"golang.org/x/sys/unix"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* when
// LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they were
// made): a 1.5 MiB mkntfs image (512-byte clusters) filled through ntfs-3g,
// with $UpCase, all of $LogFile past its restart pages and the backup boot
// sector zeroed (the reader uses none of them), so the seed is small; the
// run lists and a compression unit of the image.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	testkit.RequireRoot(t)
	img := filepath.Join(t.TempDir(), "seed.img")
	if err := ntfstest.Mkntfs(img, padTo, "SEED", "-c", "512"); err != nil {
		t.Fatal(err)
	}
	mp := t.TempDir()
	umount, err := ntfstest.Mount(img, mp)
	if err != nil {
		t.Fatal(err)
	}
	os.MkdirAll(filepath.Join(mp, "dir", "sub"), 0o755)
	for i := 0; i < 10; i++ {
		os.WriteFile(filepath.Join(mp, "dir", fmt.Sprintf("file %02d.txt", i)), bytes.Repeat([]byte{byte('a' + i%26)}, i*3), 0o644)
	}
	os.WriteFile(filepath.Join(mp, "dir", "sub", "big.bin"), bytes.Repeat([]byte("0123456789abcdef"), 300), 0o644)
	os.Symlink("dir/sub", filepath.Join(mp, "link"))
	os.Link(filepath.Join(mp, "dir", "file 01.txt"), filepath.Join(mp, "hard"))
	if err := os.Mkdir(filepath.Join(mp, "comp"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := setxattr(filepath.Join(mp, "comp"), "system.ntfs_attrib_be", []byte{0, 0, 8, 0}); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(mp, "comp", "c.txt"), bytes.Repeat([]byte("compress me "), 1500), 0o644)
	if err := umount(); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f := mustOpen(t, b)
	walk(t, f)
	zero := func(num int64, keep int64) {
		fr, err := f.loadFile(num)
		if err != nil {
			t.Fatal(err)
		}
		for _, x := range findAttrOrFail(t, fr, atData).runs {
			lo, hi := x.lcn*f.clusterSize, (x.lcn+x.length)*f.clusterSize
			for o := max(lo, keep); o < hi; o++ {
				b[o] = 0
			}
			keep -= hi - lo
			if keep < 0 {
				keep = 0
			}
		}
	}
	zero(10, 0) // $UpCase
	zero(recLogFile, 8192)
	clear(b[len(b)-512:]) // the backup boot sector
	if _, err := openBytes(b); err != nil {
		t.Fatalf("the seed does not open: %v", err)
	}
	if !bytes.Equal(unpack(pack(b)), b) {
		t.Fatal("pack does not round-trip")
	}
	testkit.WriteSeed(t, "FuzzOpen", "c512", pack(b))

	c := mustLookupTB(t, f, "comp/c.txt")
	r := c.data.runs[0]
	testkit.WriteSeed(t, "FuzzLZNT1", "unit", b[r.lcn*f.clusterSize:(r.lcn+r.length)*f.clusterSize])
	for i, p := range []string{"dir/sub/big.bin", "comp/c.txt"} {
		e := mustLookupTB(t, f, p)
		fr, _ := f.loadFile(int64(e.Ino))
		a := findAttrOrFail(t, fr, atData)
		mp := a.off + int64(binary.LittleEndian.Uint16(b[a.off+0x20:]))
		end := a.off + int64(binary.LittleEndian.Uint32(b[a.off+4:]))
		testkit.WriteSeedValues(t, "FuzzRunList", fmt.Sprint("runs", i), fmt.Sprintf("[]byte(%q)", b[mp:end]), fmt.Sprintf("bool(%v)", i == 1))
	}
}

func findAttrOrFail(t testing.TB, fr *fileRecord, typ uint32) *attr {
	t.Helper()
	a := findAttr(fr.all, typ, "")
	if a == nil || a.resident {
		t.Fatalf("record %d: no non-resident attribute 0x%x", fr.num, typ)
	}
	return a
}

func mustLookupTB(t testing.TB, f *FS, p string) *Entry {
	t.Helper()
	e, err := f.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func setxattr(p, name string, v []byte) error { return unix.Setxattr(p, name, v, 0) }
