package fat

import (
	"bytes"
	"encoding/binary"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestWriteFuzzSeeds regenerates testdata/fuzz/* from tiny mkfs.vfat images
// when LOOPS_WRITE_FUZZ_SEEDS=1 (the seeds are committed; this is how they
// were made).
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "Sub Dir"), 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "bootx64.efi"), []byte("MZ"), 0o644)
	os.WriteFile(filepath.Join(src, "Sub Dir", "unicodé long name.txt"), bytes.Repeat([]byte("0123456789"), 300), 0o644)
	for _, tc := range []struct {
		name string
		size int64
		args []string
	}{
		{"fat12", 128 << 10, []string{"-F", "12", "-r", "32", "-f", "1", "-s", "1", "-R", "1", "-n", "SEED12"}},
		{"fat16", 2100 << 10, []string{"-F", "16", "-r", "16", "-f", "1", "-s", "1", "-R", "1", "-n", "SEED16"}},
	} {
		img := mkfs(t, tc.size, tc.args...)
		fill(t, img, src)
		b, err := os.ReadFile(img)
		if err != nil {
			t.Fatal(err)
		}
		f := openImage(t, img)
		walkFS(t, f)
		testkit.WriteSeed(t, "FuzzOpen", tc.name, bytes.TrimRight(b, "\x00"))
		if tc.name == "fat12" {
			root := b[f.bpb.rootOff : f.bpb.rootOff+512]
			sub := mustLookupTB(t, f, "Sub Dir")
			x := sub.dirExtents[0]
			testkit.WriteSeed(t, "FuzzDirEntries", "root", root)
			testkit.WriteSeed(t, "FuzzDirEntries", "sub", b[x.Offset:x.Offset+x.Length])
		}
	}
	testkit.WriteSeed(t, "FuzzOpen", "fat32", bytes.TrimRight(tinyFAT32(t), "\x00"))
}

// tinyFAT32 is a 256 KiB FAT32 volume (FAT32 parameter block, 500 clusters:
// mtools reads it as FAT12 and cannot fill it) whose root directory and FAT
// are written here: hello.txt (NT case bits), a long Unicode name over two
// clusters, and "Sub Dir" holding bootx64.efi.
func tinyFAT32(t testing.TB) []byte {
	img := mkfs(t, 256<<10, "-F", "32", "-R", "2", "-b", "0", "-f", "1", "-s", "1", "-n", "SEED32")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	f := openImage(t, img)
	fat := f.bpb.fatOff
	for n, v := range []uint32{0x0FFFFFF8, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF, 5, 0x0FFFFFFF, 0x0FFFFFFF, 0x0FFFFFFF} {
		binary.LittleEndian.PutUint32(b[fat+4*int64(n):], v)
	}
	entry := func(short string, attr, nt byte, cluster, size uint32) []byte {
		e := shortEntry(short, attr, nt)
		binary.LittleEndian.PutUint16(e[20:], uint16(cluster>>16))
		binary.LittleEndian.PutUint16(e[26:], uint16(cluster))
		binary.LittleEndian.PutUint32(e[28:], size)
		binary.LittleEndian.PutUint16(e[24:], 45<<9|1<<5|2) // 2025-01-02
		return e
	}
	long := func(name, short string) []byte {
		var s [11]byte
		copy(s[:], short)
		return lfnEntries(name, s)
	}
	cl := func(c int64) int64 { return f.bpb.dataOff + (c-2)*512 }
	var root []byte
	root = append(root, entry("SEED32     ", AttrVolumeID, 0, 0, 0)...)
	root = append(root, entry("HELLO   TXT", AttrArchive, 0x18, 3, 6)...)
	root = append(root, long("unicodé long name.txt", "UNICOD~1TXT")...)
	root = append(root, entry("UNICOD~1TXT", AttrArchive, 0, 4, 600)...)
	root = append(root, long("Sub Dir", "SUBDIR~1   ")...)
	root = append(root, entry("SUBDIR~1   ", AttrDir, 0, 6, 0)...)
	copy(b[cl(2):], root)
	copy(b[cl(3):], "hello\n")
	copy(b[cl(4):], bytes.Repeat([]byte("0123456789"), 60))
	var sub []byte
	sub = append(sub, entry(".          ", AttrDir, 0, 6, 0)...)
	sub = append(sub, entry("..         ", AttrDir, 0, 0, 0)...)
	sub = append(sub, entry("BOOTX64 EFI", AttrArchive, 0x18, 7, 2)...)
	copy(b[cl(6):], sub)
	copy(b[cl(7):], "MZ")
	return b
}

// TestTinyFAT32: a FAT32 parameter block with few clusters is FAT32.
func TestTinyFAT32(t *testing.T) {
	b := tinyFAT32(t)
	f, err := Open(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	got := walkFS(t, f)
	if f.Type() != "fat32" || f.Label() != "SEED32" || len(got) != 5 {
		t.Errorf("type %s label %q tree %v", f.Type(), f.Label(), got)
	}
	e, err := f.Lookup("SUB DIR/BOOTX64.EFI")
	if err != nil || e.Name != "bootx64.efi" || e.Size != 2 || e.ModTime.Year() != 2025 {
		t.Errorf("bootx64.efi: %+v %v", e, err)
	}
	e, err = f.Lookup("unicodé long name.txt")
	if err != nil || len(e.Extents) != 1 || e.Extents[0].Length != 600 {
		t.Errorf("long name: %+v %v", e, err)
	}
}

func mustLookupTB(t testing.TB, f *FS, p string) *Entry {
	e, err := f.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}
