package exfat

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* when
// LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they were
// made): a tiny mkfs.exfat image filled through exfat-fuse (root), and one
// from the tests' builder with its small up-case table.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "Sub Dir"), 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "Sub Dir", "unicodé long name.txt"), bytes.Repeat([]byte("0123456789"), 100), 0o644)
	img := mkfsExfat(t, 1<<20, "-c", "512", "-b", "4096", "-L", "SEED")
	fillMounted(t, img, src, func(mnt string) {
		p := filepath.Join(mnt, "frag.bin")
		os.WriteFile(p, []byte("frag"), 0o644)
		os.WriteFile(filepath.Join(mnt, "blocker"), []byte("x"), 0o644)
		f, _ := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
		f.Write(bytes.Repeat([]byte("more"), 200))
		f.Close()
	})
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f := openImage(t, img)
	walkFS(t, f)
	testkit.WriteSeed(t, "FuzzOpen", "mkfs", sparse(b))
	x := f.root.dirExtents[0]
	testkit.WriteSeed(t, "FuzzDirEntries", "mkfs-root", b[x.Offset:x.Offset+x.Length])
	sub, _ := f.Lookup("Sub Dir")
	x = sub.dirExtents[0]
	testkit.WriteSeed(t, "FuzzDirEntries", "mkfs-sub", b[x.Offset:x.Offset+x.Length])

	bl := newBuilder(1<<20, 9, 0)
	c := bl.allocChain(600)
	bl.img.write(bl.clusterOff(c), bytes.Repeat([]byte("x"), 600))
	d := bl.alloc(512)
	bl.img.write(bl.clusterOff(d), fileEntry{name: "inner", attr: AttrArchive}.set())
	root := bl.critical("Built")
	root = append(root, fileEntry{name: "chained.txt", attr: AttrArchive, cluster: c, length: 600, valid: 500}.set()...)
	root = append(root, fileEntry{name: "Dir", attr: AttrDir, cluster: d, length: 512, valid: 512, noFatChain: true}.set()...)
	built := bl.finish(root).bytes()
	testkit.WriteSeed(t, "FuzzOpen", "builder", sparse(built))
}

// TestSparse: sparse and unsparse are inverses.
func TestSparse(t *testing.T) {
	b := make([]byte, 1<<20)
	copy(b[100:], "abc\x00\x00def")
	copy(b[5000:], bytes.Repeat([]byte{1}, 70000))
	got := unsparse(sparse(b)).bytes()
	if !bytes.Equal(got, b) {
		t.Error("round trip differs")
	}
}
