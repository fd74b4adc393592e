package fat

import (
	"bytes"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/internal/testkit"
)

// names are file names that exercise long names, Unicode (a surrogate pair
// long-name
// entries for surrogate pairs are in TestLongNameSlots: mtools cannot write
// them), names fitting 8.3 in lower case (NT case bits) and mixed case.
var names = []string{
	"hello.txt",
	"unicodé 日本語.txt",
	"README",
	"lower",
	"Mixed Case Name.TXT",
	"a very long file name that does not fit in eight dot three.data",
	"empty",
	"UPPER.TXT",
}

// richTree makes a source tree: the names above, nested directories with an
// EFI-style layout, a 300-entry directory spanning clusters and a file of
// random data.
func richTree(t testing.TB) string {
	t.Helper()
	src := t.TempDir()
	write := func(rel string, data []byte) { fattest.WriteFile(t, src, rel, data) }
	for i, n := range names {
		data := []byte(strings.Repeat(n+"\n", i*7))
		write(n, data)
	}
	write("EFI/BOOT/bootx64.efi", bytes.Repeat([]byte("MZ efi "), 3000))
	write("deep/a/b/c/d/deep.txt", []byte("deep\n"))
	write("Dir With Spaces/inner file.txt", []byte("inner\n"))
	for i := 0; i < 320; i++ {
		write(filepath.Join("many", "file number "+strings.Repeat("x", i%5)+string(rune('a'+i%26))+"-"+itoa(i)+".txt"), []byte(itoa(i)))
	}
	rnd := make([]byte, 300<<10+123)
	rand.New(rand.NewSource(1)).Read(rnd)
	write("random.bin", rnd)
	os.Chtimes(filepath.Join(src, "hello.txt"), fattest.OldTime, fattest.OldTime)
	os.Chtimes(filepath.Join(src, "EFI/BOOT/bootx64.efi"), fattest.OldTime, fattest.OldTime)
	return src
}

func itoa(i int) string {
	if i == 0 {
		return "0"
	}
	var b []byte
	for ; i > 0; i /= 10 {
		b = append([]byte{byte('0' + i%10)}, b...)
	}
	return string(b)
}

// mkfs makes an image of size bytes with mkfs.vfat args (e.g. "-F", "16").
func mkfs(t testing.TB, size int64, args ...string) string {
	t.Helper()
	return fattest.Mkfs(t, "mkfs.vfat", size, args...)
}

// fill copies the contents of src into the image's root, mtimes kept.
func fill(t testing.TB, img, src string) {
	t.Helper()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	args := []string{"-s", "-m", "-i", img}
	for _, e := range ents {
		args = append(args, filepath.Join(src, e.Name()))
	}
	testkit.Run(t, testkit.Tool(t, "mcopy"), append(args, "::/")...)
}

// walkFS lists the reader's tree through its fs.FS, reading every file.
func walkFS(t testing.TB, f *FS) readkittest.Tree {
	t.Helper()
	return readkittest.FSTree(t, f.FS())
}

func openImage(t testing.TB, img string) *FS {
	t.Helper()
	return fattest.OpenImage(t, img, Open)
}
