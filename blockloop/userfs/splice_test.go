package userfs_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestReadsWhole: a file whose data starts mid-page in the image (a FAT
// volume with 2 KiB clusters, the file after a 3000-byte one) reads back
// whole with 1 MiB reads, spliced or not, and keeps its size: a short
// reply would be taken by the kernel for the end of the file. (Splicing it
// from the image once came back 1896 bytes short.)
func TestReadsWhole(t *testing.T) {
	testkit.RequireRoot(t)
	src := t.TempDir()
	small := make([]byte, 3000)
	big := make([]byte, 126824)
	rand.New(rand.NewSource(1)).Read(small)
	rand.New(rand.NewSource(2)).Read(big)
	os.WriteFile(filepath.Join(src, "a.txt"), small, 0o644)
	os.WriteFile(filepath.Join(src, "b.bin"), big, 0o644)
	img := filepath.Join(t.TempDir(), "fat.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "16M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-s", "4", img)
	testkit.Run(t, testkit.Tool(t, "mcopy"), "-i", img, filepath.Join(src, "a.txt"), filepath.Join(src, "b.bin"), "::/")
	for _, noSplice := range []bool{false, true} {
		t.Run(fmt.Sprintf("nosplice=%v", noSplice), func(t *testing.T) {
			s, _ := serve(t, img, userfs.Options{Type: "vfat", NoSplice: noSplice})
			for name, data := range map[string][]byte{"a.txt": small, "b.bin": big} {
				f, err := os.Open(filepath.Join(s.Mountpoint, name))
				if err != nil {
					t.Fatal(err)
				}
				var got bytes.Buffer
				buf := make([]byte, 1<<20)
				for {
					n, err := f.Read(buf)
					got.Write(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						t.Fatal(err)
					}
				}
				fi, _ := f.Stat()
				f.Close()
				if !bytes.Equal(got.Bytes(), data) || fi.Size() != int64(len(data)) {
					t.Errorf("%s: read %d bytes (equal: %v), size now %d; want %d", name, got.Len(), bytes.Equal(got.Bytes(), data), fi.Size(), len(data))
				}
			}
		})
	}
}
