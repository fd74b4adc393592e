package fat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestTypes: FAT12, FAT16 and FAT32 images made by mkfs.vfat and filled by
// mcopy read back like the source tree (names, long and Unicode ones too,
// structure, sizes, sha256, mtimes within 2 s) and like mtools reads them.
func TestTypes(t *testing.T) {
	src := richTree(t)
	want := readkittest.HostTree(t, src)
	for _, tc := range []struct {
		fat  string
		size int64
	}{{"12", 8 << 20}, {"16", 16 << 20}, {"32", 40 << 20}} {
		t.Run("fat"+tc.fat, func(t *testing.T) {
			img := mkfs(t, tc.size, "-F", tc.fat, "-n", "LBL"+tc.fat)
			fill(t, img, src)
			f := openImage(t, img)
			if f.Type() != "fat"+tc.fat {
				t.Errorf("type %s", f.Type())
			}
			if f.Label() != "LBL"+tc.fat {
				t.Errorf("label %q", f.Label())
			}
			if l, ok := fattest.BlkidLabel(t, img); ok && l != f.Label() {
				t.Errorf("blkid says label %q, reader %q", l, f.Label())
			}
			got := walkFS(t, f)
			readkittest.Compare(t, want, got, fattest.Fields)
			readkittest.TestImageFS(t, img, Open, want)

			// The other reader: mtools' own extraction.
			out := t.TempDir()
			testkit.Run(t, testkit.Tool(t, "mcopy"), "-s", "-n", "-m", "-i", img, "::/", out)
			readkittest.Compare(t, readkittest.HostTree(t, out), got, fattest.Fields)

			checkNames(t, f)
		})
	}
}

// checkNames: NT case bits, short names, case-insensitive lookups, modes.
func checkNames(t *testing.T, f *FS) {
	t.Helper()
	e, err := f.Lookup("efi/boot/BOOTX64.EFI")
	if err != nil {
		t.Fatal(err)
	}
	if e.Name != "bootx64.efi" || e.ShortName != "BOOTX64.EFI" {
		t.Errorf("bootx64.efi: name %q short %q", e.Name, e.ShortName)
	}
	if !e.ModTime.Equal(fattest.OldTime) {
		t.Errorf("bootx64.efi mtime %v, want %v", e.ModTime, fattest.OldTime)
	}
	if e.Mode != 0o644 || e.UnixMode() != 0o100644 || e.IsDir() {
		t.Errorf("mode %v %o", e.Mode, e.UnixMode())
	}
	d, _ := f.Lookup("EFI")
	if d == nil || !d.IsDir() || d.Name != "EFI" || d.UnixMode() != 0o40755 {
		t.Errorf("EFI: %+v", d)
	}
	l, err := f.Lookup("a very long file name that does not fit in eight dot three.data")
	if err != nil {
		t.Fatal(err)
	}
	for _, alias := range []string{strings.ToUpper(l.Name), l.ShortName, strings.ToLower(l.ShortName)} {
		if c, err := f.Root().Child(alias); c != l {
			t.Errorf("Child(%q) = %v, %v", alias, c, err)
		}
	}
	if c, err := f.Root().Child("UNICODÉ 日本語.TXT"); err != nil || c.Name != "unicodé 日本語.txt" {
		t.Errorf("unicode fold: %v %v", c, err)
	}
	if _, err := f.Root().Child("nope"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Child(nope): %v", err)
	}
	if _, err := f.Lookup("hello.txt/x"); err == nil {
		t.Error("lookup through a file")
	}
	h, _ := f.Lookup("lower")
	buf := make([]byte, 10)
	if n, err := h.ReaderAt().ReadAt(buf, h.Size-3); n != 3 || err != io.EOF {
		t.Errorf("read past the end: %d %v", n, err)
	}
	if n, err := h.ReaderAt().ReadAt(buf, h.Size+5); n != 0 || err != io.EOF {
		t.Errorf("read after the end: %d %v", n, err)
	}
	many, _ := f.Lookup("many")
	kids, _ := many.Entries()
	if len(kids) != 320 || many.Size <= int64(f.ClusterSize()) {
		t.Errorf("many: %d entries in %d bytes (cluster %d)", len(kids), many.Size, f.ClusterSize())
	}
	seen := map[uint64]bool{f.Root().Ino: true}
	for _, k := range kids {
		if seen[k.Ino] {
			t.Errorf("inode %d twice", k.Ino)
		}
		seen[k.Ino] = true
	}
	if f.Size() <= 0 || f.ClusterSize() < 512 {
		t.Errorf("size %d cluster %d", f.Size(), f.ClusterSize())
	}
}

// TestLabel: the label after mkfs.vfat -n, mlabel and fatlabel is the one
// blkid reports.
func TestLabel(t *testing.T) {
	check := func(img, want string) {
		t.Helper()
		f := openImage(t, img)
		if f.Label() != want {
			t.Errorf("label %q, want %q", f.Label(), want)
		}
		if l, ok := fattest.BlkidLabel(t, img); ok && l != want {
			t.Errorf("blkid label %q, want %q", l, want)
		}
	}
	img := mkfs(t, 4<<20, "-F", "12")
	check(img, "")
	img = mkfs(t, 16<<20, "-F", "16", "-n", "FIRST")
	check(img, "FIRST")
	testkit.Run(t, testkit.Tool(t, "mlabel"), "-i", img, "::SECOND")
	check(img, "SECOND")
	testkit.Run(t, testkit.Tool(t, "fatlabel"), img, "THIRD")
	check(img, "THIRD")
	img = mkfs(t, 40<<20, "-F", "32", "-n", "BIG VOL")
	check(img, "BIG VOL")
	testkit.Run(t, testkit.Tool(t, "fatlabel"), img, "OTHER")
	check(img, "OTHER")
}

// smallTree is a few files and a subdirectory.
func smallTree(t testing.TB) string {
	src := t.TempDir()
	os.MkdirAll(filepath.Join(src, "sub dir"), 0o755)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello\n"), 0o644)
	os.WriteFile(filepath.Join(src, "sub dir", "Long Name File.txt"), bytes.Repeat([]byte("data "), 2000), 0o644)
	os.WriteFile(filepath.Join(src, "bootx64.efi"), []byte("efi"), 0o644)
	return src
}

// TestSector4096: 4096-byte sectors.
func TestSector4096(t *testing.T) {
	src := smallTree(t)
	img := mkfs(t, 64<<20, "-S", "4096", "-F", "16", "-n", "BIGSECT")
	fill(t, img, src)
	f := openImage(t, img)
	if f.bpb.bytesPerSector != 4096 || f.Type() != "fat16" || f.Label() != "BIGSECT" {
		t.Errorf("sector %d type %s label %q", f.bpb.bytesPerSector, f.Type(), f.Label())
	}
	readkittest.Compare(t, readkittest.HostTree(t, src), walkFS(t, f), fattest.Fields)
}

// TestNoGeometry: a FAT16 image whose boot sector has no CHS geometry
// (sectors per track and heads 0) reads like any other.
func TestNoGeometry(t *testing.T) {
	src := smallTree(t)
	img := mkfs(t, 16<<20, "-F", "16")
	fill(t, img, src)
	b, _ := os.ReadFile(img)
	copy(b[24:28], []byte{0, 0, 0, 0})
	os.WriteFile(img, b, 0o644)
	f := openImage(t, img)
	readkittest.Compare(t, readkittest.HostTree(t, src), walkFS(t, f), fattest.Fields)
}

// TestFragmented: a file written into the holes left by deleted files has a
// chain of several runs, read in order.
func TestFragmented(t *testing.T) {
	dir := t.TempDir()
	img := mkfs(t, 4<<20, "-F", "16", "-s", "1")
	mcopy, mdel := testkit.Tool(t, "mcopy"), testkit.Tool(t, "mdel")
	for _, n := range []string{"a1", "gap1", "a2", "gap2", "a3"} {
		p := filepath.Join(dir, n)
		os.WriteFile(p, bytes.Repeat([]byte(n), 2000), 0o644)
		testkit.Run(t, mcopy, "-i", img, p, "::/")
	}
	testkit.Run(t, mdel, "-i", img, "::/gap1", "::/gap2")
	big := make([]byte, 100<<10)
	for i := range big {
		big[i] = byte(i * 7 / 512)
	}
	p := filepath.Join(dir, "fragmented.bin")
	os.WriteFile(p, big, 0o644)
	testkit.Run(t, mcopy, "-i", img, p, "::/")
	f := openImage(t, img)
	e, err := f.Lookup("fragmented.bin")
	if err != nil {
		t.Fatal(err)
	}
	if len(e.Extents) < 2 {
		t.Errorf("fragmented.bin has %d extents: %v", len(e.Extents), e.Extents)
	}
	var total int64
	for _, x := range e.Extents {
		total += x.Length
	}
	got, _ := io.ReadAll(io.NewSectionReader(e.ReaderAt(), 0, e.Size))
	if total != e.Size || !bytes.Equal(got, big) {
		t.Errorf("fragmented.bin: extents of %d bytes, content equal %v", total, bytes.Equal(got, big))
	}
	if _, err := f.Lookup("gap1"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("deleted gap1: %v", err)
	}
}

func TestNotFAT(t *testing.T) {
	for _, b := range [][]byte{make([]byte, 100), make([]byte, 4096)} {
		if _, err := Open(bytes.NewReader(b), int64(len(b))); !errors.Is(err, ErrNotFAT) {
			t.Errorf("%d zero bytes: %v", len(b), err)
		}
	}
	img := mkfs(t, 16<<20, "-F", "16")
	b, _ := os.ReadFile(img)
	binary.LittleEndian.PutUint16(b[11:], 1000)
	_, err := Open(bytes.NewReader(b), int64(len(b)))
	var fe *FormatError
	if !errors.Is(err, ErrNotFAT) || !errors.As(err, &fe) || fe.Offset != 11 {
		t.Errorf("bytes per sector 1000: %v", err)
	}
}

func TestTimes(t *testing.T) {
	f := &FS{loc: time.UTC}
	got := f.fatTime(uint16(45<<9|12<<5|31), uint16(23<<11|59<<5|29), 199)
	if want := time.Date(2025, 12, 31, 23, 59, 59, 990_000_000, time.UTC); !got.Equal(want) {
		t.Errorf("%v, want %v", got, want)
	}
	if got := f.fatTime(0, 0, 0); !got.Equal(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("zero date: %v", got)
	}
}

// lfnEntries makes the long-name entries (in directory order) of name for
// the 8.3 name short.
func lfnEntries(name string, short [11]byte) []byte {
	return longNameEntries(utf16.Encode([]rune(name)), short)
}

func shortEntry(short string, attr, ntCase byte) []byte {
	b := make([]byte, 32)
	copy(b, short)
	b[11], b[12] = attr, ntCase
	return b
}

// TestLongNameSlots: long names with surrogate pairs, 13-character multiples
// (no NUL), orphaned and mismatched long-name entries, 0x05, NT case bits,
// deleted entries, names with "/".
func TestLongNameSlots(t *testing.T) {
	var dir []byte
	add := func(long, short string, attr, nt byte) {
		var s [11]byte
		copy(s[:], short)
		if long != "" {
			dir = append(dir, lfnEntries(long, s)...)
		}
		dir = append(dir, shortEntry(short, attr, nt)...)
	}
	add("😀 smile.txt", "_SMILE~1TXT", 0x20, 0)
	add("exactly13char", "EXACTL~1   ", 0x20, 0)
	add("wrong checksum name", "WRONG~1 TXT", 0x20, 0)
	dir[len(dir)-32] = 'X' // the 8.3 name no longer matches the checksum
	orphan := lfnEntries("orphan name", [11]byte{'O'})
	dir = append(dir, orphan...)
	add("", "BOOTX64 EFI", 0x20, 0x18)
	add("", "\x05ABC    TXT", 0x21, 0x00)
	dir = append(dir, shortEntry("\xe5DELETEDTXT", 0x20, 0)...)
	add("a/b", "AB~1       ", 0x20, 0)
	add("", "LABEL      ", AttrVolumeID, 0)
	add("", "Mixed   Ext", 0x20, 0x08)
	dir = append(dir, make([]byte, 32)...)
	dir = append(dir, shortEntry("AFTEREND   ", 0x20, 0)...)
	img := make([]byte, 64<<10)
	copy(img, dir)
	f := fuzzFS(img)
	kids, err := f.root.Entries()
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, k := range kids {
		got = append(got, k.Name)
	}
	want := []string{"😀 smile.txt", "exactly13char", "XRONG~1.TXT", "bootx64.efi", "σABC.TXT", "a_b", "mixed.Ext"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("names\n got %q\nwant %q", got, want)
	}
	if f.Label() != "LABEL" {
		t.Errorf("label %q", f.Label())
	}
	if e, _ := f.root.Child("Σabc.txt"); e == nil || e.Mode != 0o444 || e.Attr != 0x21 {
		t.Errorf("read-only file: %+v", e)
	}
}
