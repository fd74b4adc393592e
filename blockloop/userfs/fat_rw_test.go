package userfs_test

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// both runs op on the mount and on the host tree, which must agree.
type both struct {
	t        *testing.T
	mp, host string
}

func (b both) do(what string, op func(root string) error) {
	b.t.Helper()
	if err := op(b.mp); err != nil {
		b.t.Fatalf("%s on the mount: %v", what, err)
	}
	if err := op(b.host); err != nil {
		b.t.Fatalf("%s on the host: %v", what, err)
	}
}

func writeFile(rel string, data []byte) func(string) error {
	return func(root string) error { return os.WriteFile(filepath.Join(root, rel), data, 0o644) }
}

func appendFile(rel string, data []byte) func(string) error {
	return func(root string) error {
		f, err := os.OpenFile(filepath.Join(root, rel), os.O_APPEND|os.O_WRONLY, 0)
		if err != nil {
			return err
		}
		_, err = f.Write(data)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
}

// emptyFAT makes an empty FAT image of type bits and size bytes.
func emptyFAT(t *testing.T, bits string, size string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "fat"+bits+".img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", size, img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", bits, "-n", "LOOPSRW", img)
	return img
}

// checkImage unmounts s and checks the image: fsck.fat -n clean, and
// mtools reads the host tree back byte for byte.
func checkImage(t *testing.T, s *userfs.Server, img, host string) {
	t.Helper()
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}
	fattest.FsckClean(t, img, 0, 0)
	want := fattest.WalkDir(t, host)
	fattest.Compare(t, want, fattest.MtoolsTree(t, img, 0), false)
	t.Logf("%d paths compared", len(want))
}

// TestMountFATReadWrite: FAT12, 16 and 32 images mounted read-write and
// edited through the kernel as a user would, in parallel with a host
// tree; after unmount fsck.fat finds them clean and mtools reads back the
// host tree byte for byte. A second read-write server is refused while
// the first runs; the mount is rw in mountinfo.
func TestMountFATReadWrite(t *testing.T) {
	testkit.RequireRoot(t)
	for _, c := range []struct{ bits, size string }{{"12", "4M"}, {"16", "24M"}, {"32", "64M"}} {
		t.Run("fat"+c.bits, func(t *testing.T) {
			img := emptyFAT(t, c.bits, c.size)
			s, _ := serve(t, img, userfs.Options{Type: "vfat", ReadWrite: true})
			if m := mountOf(s.Mountpoint); m == nil || !strings.HasPrefix(m.Options, "rw") {
				t.Errorf("mountinfo: %+v, want rw", m)
			}
			if _, err := userfs.Serve(t.Context(), img, mountDir(t), userfs.Options{Type: "vfat", ReadWrite: true}); !errors.Is(err, userfs.ErrImageLocked) {
				t.Errorf("second read-write server: %v, want ErrImageLocked", err)
			}
			b := both{t: t, mp: s.Mountpoint, host: t.TempDir()}
			b.do("touch ssh", writeFile("ssh", nil))
			b.do("write cmdline.txt", writeFile("cmdline.txt", []byte("console=serial0,115200 root=PARTUUID=1-02 rootwait\n")))
			b.do("append", appendFile("cmdline.txt", []byte("quiet splash\n")))
			b.do("write config.txt", writeFile("config.txt", bytes.Repeat([]byte("dtoverlay=vc4-kms-v3d\n"), 500)))
			b.do("shorter config.txt", writeFile("config.txt", []byte("arm_64bit=1\n")))
			b.do("mkdir", func(r string) error { return os.MkdirAll(filepath.Join(r, "overlays", "Sub Dir ü"), 0o755) })
			rnd := rand.New(rand.NewSource(3))
			for i := 0; i < 120; i++ {
				name := fmt.Sprintf("overlays/Überlay Number %d of Mixed Case.dtbo", i)
				if i%3 == 0 {
					name = fmt.Sprintf("overlays/f%d.txt", i)
				}
				data := make([]byte, rnd.Intn(9000))
				rnd.Read(data)
				b.do("write "+name, writeFile(name, data))
			}
			b.do("remove", func(r string) error { return os.Remove(filepath.Join(r, "overlays/f3.txt")) })
			b.do("rename across", func(r string) error {
				return os.Rename(filepath.Join(r, "overlays/f6.txt"), filepath.Join(r, "overlays/Sub Dir ü/moved.txt"))
			})
			b.do("rename replacing", func(r string) error {
				return os.Rename(filepath.Join(r, "overlays/f9.txt"), filepath.Join(r, "cmdline.txt"))
			})
			b.do("rename dir", func(r string) error {
				return os.Rename(filepath.Join(r, "overlays/Sub Dir ü"), filepath.Join(r, "Top Dir"))
			})
			b.do("truncate", func(r string) error { return os.Truncate(filepath.Join(r, "overlays/f12.txt"), 3) })
			b.do("rmdir", func(r string) error {
				os.Mkdir(filepath.Join(r, "empty"), 0o755)
				return os.Remove(filepath.Join(r, "empty"))
			})
			when := time.Date(2020, 5, 6, 7, 8, 10, 0, time.Local)
			if err := os.Chtimes(filepath.Join(s.Mountpoint, "ssh"), when, when); err != nil {
				t.Error(err)
			}
			if fi, err := os.Stat(filepath.Join(s.Mountpoint, "ssh")); err != nil || !fi.ModTime().Equal(when) {
				t.Errorf("utimens: %v %v, want %v", fi.ModTime(), err, when)
			}
			// Writers to different files at once.
			var wg sync.WaitGroup
			for w := 0; w < 4; w++ {
				data := bytes.Repeat([]byte{byte('a' + w)}, 200<<10+w)
				name := fmt.Sprintf("writer %d.bin", w)
				os.WriteFile(filepath.Join(b.host, name), data, 0o644)
				wg.Add(1)
				go func() {
					defer wg.Done()
					f, err := os.Create(filepath.Join(s.Mountpoint, name))
					if err != nil {
						t.Error(err)
						return
					}
					for off := 0; off < len(data); off += 4096 {
						f.Write(data[off:min(off+4096, len(data))])
					}
					if err := f.Close(); err != nil {
						t.Error(err)
					}
				}()
			}
			wg.Wait()
			checkImage(t, s, img, b.host)
		})
	}
}

// TestMountFATReadWriteFull: a FAT12 volume filled until ENOSPC; after
// unmount fsck.fat finds it clean.
func TestMountFATReadWriteFull(t *testing.T) {
	testkit.RequireRoot(t)
	img := emptyFAT(t, "12", "2M")
	s, _ := serve(t, img, userfs.Options{Type: "vfat", ReadWrite: true})
	f, err := os.Create(filepath.Join(s.Mountpoint, "big"))
	if err != nil {
		t.Fatal(err)
	}
	buf := bytes.Repeat([]byte{9}, 64<<10)
	for err == nil {
		_, err = f.Write(buf)
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("write to a full volume: %v, want ENOSPC", err)
	}
	f.Close()
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}
	fattest.FsckClean(t, img, 0, 0)
}
