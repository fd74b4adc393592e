package userfs_test

import (
	"bytes"
	"errors"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestServeTruncated: images made by the real tools (genisoimage for ISO
// 9660 and a UDF bridge, mkfs.vfat and mcopy, mkfs.exfat and exfat-fuse),
// cut short as a download cut short is: the server serves what is there;
// the small file reads whole, the big one whose data lies past the end
// fails with EIO (never a short read the kernel would take for its end),
// and the log names it, once.
func TestServeTruncated(t *testing.T) {
	testkit.RequireRoot(t)
	src := t.TempDir()
	small := []byte("what lies before the end reads\n")
	big := make([]byte, 3<<20)
	rand.New(rand.NewSource(28)).Read(big)
	os.WriteFile(filepath.Join(src, "a.txt"), small, 0o644)
	os.WriteFile(filepath.Join(src, "z-big.bin"), big, 0o644)
	iso := filepath.Join(t.TempDir(), "cut.iso")
	testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-R", "-o", iso, src)
	bridge := filepath.Join(t.TempDir(), "bridge.iso")
	testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-udf", "-o", bridge, src)
	fat := fatImage(t, src, "16")
	exfat := exfatImage(t, src)
	size := func(p string) int64 { st, _ := os.Stat(p); return st.Size() }
	for _, tc := range []struct {
		name, typ, img string
		cut            int64
	}{
		{"iso9660", "iso9660", iso, size(iso) - 1<<20},
		{"udf", "udf", bridge, size(bridge) - 1<<20},
		{"vfat", "vfat", fat, 2 << 20},
		{"exfat", "exfat", exfat, 3 << 20},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if err := os.Truncate(tc.img, tc.cut); err != nil {
				t.Fatal(err)
			}
			var mu sync.Mutex
			var log []string
			s, _ := serve(t, tc.img, userfs.Options{Type: tc.typ, Log: func(m string) {
				mu.Lock()
				log = append(log, m)
				mu.Unlock()
			}})
			if b, err := os.ReadFile(filepath.Join(s.Mountpoint, "a.txt")); err != nil || !bytes.Equal(b, small) {
				t.Errorf("a.txt: %q %v", b, err)
			}
			for range 2 {
				b, err := os.ReadFile(filepath.Join(s.Mountpoint, "z-big.bin"))
				if !errors.Is(err, syscall.EIO) {
					t.Errorf("z-big.bin: %d bytes, %v; want EIO", len(b), err)
				}
				if !bytes.Equal(b, big[:len(b)]) {
					t.Errorf("z-big.bin: the %d bytes read differ from the source", len(b))
				}
			}
			mu.Lock()
			defer mu.Unlock()
			if len(log) != 1 || !strings.HasPrefix(log[0], "read /z-big.bin: input/output error: ") {
				t.Errorf("log %q, want one line naming /z-big.bin", log)
			}
		})
	}
}
