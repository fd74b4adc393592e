package exfat

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

// TestSmallVolume: mkfs.exfat makes a volume of 2,047 sectors on an image
// of 1 MiB less 512 bytes (4 KiB clusters and alignment), under the
// specification's 1 MiB minimum; exfat-fuse, fsck.exfat and blkid read it,
// and so does the reader, the tree as exfat-fuse showed it. Needs root (the
// exfat-fuse mount that fills it).
func TestSmallVolume(t *testing.T) {
	img := mkfsExfat(t, 1<<20-512, "-b", "4096", "-c", "4096", "-L", "SMALL")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	if n := binary.LittleEndian.Uint64(b[72:]); n != 2047 {
		t.Fatalf("mkfs.exfat wrote a volume length of %d sectors, want 2047", n)
	}
	src := t.TempDir()
	fattest.WriteFile(t, src, "hello.txt", []byte("hello\n"))
	fattest.WriteFile(t, src, "dir/data.bin", []byte(strings.Repeat("0123456789abcdef", 10000)))
	mounted := fillMounted(t, img, src, nil)
	f := openImage(t, img)
	if f.Label() != "SMALL" {
		t.Errorf("label %q", f.Label())
	}
	got := walkFS(t, f)
	readkittest.Compare(t, mounted, got, fattest.Fields)
	readkittest.Compare(t, readkittest.HostTree(t, src), got, fattest.Fields)

	// What is still refused: a volume shorter than its boot regions, and
	// clusters past the volume's end (both patched in).
	for _, tc := range []struct {
		off  int
		v    uint64
		want string
	}{
		{72, 23, "volume length 23 sectors"},
		{72, 100, "past the volume's 100 sectors"},
	} {
		p := append([]byte(nil), b...)
		binary.LittleEndian.PutUint64(p[tc.off:], tc.v)
		if _, err := parseBootSector(p[:512], 0); !errors.Is(err, ErrNotExFAT) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("volume length %d: %v, want %q", tc.v, err, tc.want)
		}
	}
}
