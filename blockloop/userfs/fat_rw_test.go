package userfs_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
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
func checkImage(t *testing.T, s *userfs.Server, img, host string, off, size int64) {
	t.Helper()
	if err := s.Unmount(); err != nil {
		t.Fatal(err)
	}
	fattest.FsckClean(t, img, off, size)
	want := readkittest.HostTree(t, host)
	readkittest.Compare(t, want, fattest.MtoolsTree(t, img, off), readkittest.Fields{})
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
			checkImage(t, s, img, b.host, 0, 0)
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

// The test binary re-executed with FATRW_TEST_SERVE=1 IMAGE MOUNTPOINT
// serves the image read-write until killed (TestMountFATReadWriteKilled).
func init() {
	if os.Getenv("FATRW_TEST_SERVE") == "" {
		return
	}
	img, mp := os.Args[len(os.Args)-2], os.Args[len(os.Args)-1]
	s, err := userfs.Serve(context.Background(), img, mp, userfs.Options{Type: "vfat", ReadWrite: true})
	if err != nil {
		fmt.Println("serve:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	s.Wait()
	os.Exit(0)
}

// killedOK are what fsck.fat -n may find after the server was killed:
// the dirty mark (FAT32's backup boot sector does not carry it, as with
// Linux's vfat), clusters taken but not yet in a file, the free count.
var killedOK = regexp.MustCompile(`Dirty bit is set|differences between boot sector and its backup|mostly harmless|^\s*65:01/00$|Not automatically fixing this|Fs was not properly unmounted|Automatically removing dirty bit|Free cluster summary wrong|^\s*Auto-correcting\.$|Reclaimed \d+ unused clusters|unused clusters|Leaving filesystem unchanged|Correct\?|^\s*\d\) |Perform changes\?|^\s*$`)

// TestMountFATReadWriteKilled: the server is killed (SIGKILL) in the
// middle of a copy, after checkpoints happened during it. fsck.fat -n finds
// at most lost clusters, a wrong free count and the dirty mark; a file
// fsync'd before reads back whole, and the one being copied as a prefix of
// what was written.
func TestMountFATReadWriteKilled(t *testing.T) {
	testkit.RequireRoot(t)
	img := emptyFAT(t, "32", "64M")
	mp := mountDir(t)
	self, _ := os.Executable()
	cmd := exec.Command(self, "-test.run=^$", img, mp)
	cmd.Env = append(os.Environ(), "FATRW_TEST_SERVE=1")
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make([]byte, 6)
	if _, err := io.ReadFull(out, line); err != nil || string(line) != "ready\n" {
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatalf("server: %q %v", line, err)
	}
	defer syscall.Unmount(mp, syscall.MNT_DETACH)
	synced := make([]byte, 3<<20+17)
	rand.New(rand.NewSource(5)).Read(synced)
	f, err := os.Create(filepath.Join(mp, "Synced File.bin"))
	if err != nil {
		t.Fatal(err)
	}
	f.Write(synced)
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
	// Still open: the kill comes before close.
	big, err := os.Create(filepath.Join(mp, "big copy.bin"))
	if err != nil {
		t.Fatal(err)
	}
	chunk := bytes.Repeat([]byte{0x5A}, 1<<20)
	for i := 0; i < 8; i++ {
		if _, err := big.Write(chunk); err != nil {
			t.Fatal(err)
		}
	}
	// Small writes, paced, so that checkpoints (every second) happen
	// during the copy and the kill comes after some.
	done := make(chan struct{})
	go func() {
		defer close(done)
		for i := 0; i < 2000; i++ {
			if _, err := big.Write(chunk[:64<<10]); err != nil {
				return
			}
			time.Sleep(time.Millisecond)
		}
	}()
	time.Sleep(1500 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	<-done
	big.Close()
	f.Close()
	if err := syscall.Unmount(mp, syscall.MNT_DETACH); err != nil {
		t.Fatal(err)
	}
	lines, _ := fattest.Fsck(t, img, 0, 0)
	for _, l := range lines {
		if !killedOK.MatchString(l) {
			t.Errorf("fsck.fat -n after the kill: %q", l)
		}
	}
	t.Logf("fsck.fat -n after the kill:\n%s", strings.Join(lines, "\n"))
	got := fattest.MtoolsTree(t, img, 0)
	if g := got["Synced File.bin"]; g.Size != int64(len(synced)) || g.SHA256 != readkittest.Sum(synced) {
		t.Errorf("the fsync'd file after the kill: %+v, want %d bytes", g, len(synced))
	}
	// The file being copied is there as the last checkpoint left it: some
	// whole prefix of what was written.
	if g := got["big copy.bin"]; g.Size < 8<<20 || g.SHA256 != readkittest.Sum(bytes.Repeat([]byte{0x5A}, int(g.Size))) {
		t.Errorf("the file being copied after the kill: %d bytes, not a prefix of at least 8 MiB of what was written", g.Size)
	} else {
		t.Logf("the file being copied: %d bytes after the kill", g.Size)
	}
}

// TestMountFATReadWriteSDCard: a Raspberry-Pi-like SD card image (MBR,
// FAT32 from sector 8192, ext4 after it) edited as a user would, then
// 1,000 small files with long mixed-case and UTF-8 names and one 64 MiB
// file copied in and moved across directories: fsck.fat finds the
// partition clean, mtools reads back every byte, and no byte outside the
// FAT partition changed.
func TestMountFATReadWriteSDCard(t *testing.T) {
	testkit.RequireRoot(t)
	const fatStart, fatSize = 8192 * 512, 262144 * 512
	img := filepath.Join(t.TempDir(), "sd.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "148M", img)
	sfdisk := testkit.Command(testkit.Tool(t, "sfdisk"), "-q", img)
	sfdisk.Stdin = strings.NewReader("label: dos\nstart=8192, size=262144, type=c\nstart=270336, size=32768, type=83\n")
	if out, err := sfdisk.CombinedOutput(); err != nil {
		t.Fatalf("sfdisk: %v\n%s", err, out)
	}
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", "32", "-n", "BOOTFS", "--offset", "8192", img, "131072")
	testkit.Run(t, testkit.Tool(t, "mkfs.ext4"), "-q", "-F", "-E", "offset=138412032", img, "16M")
	host := t.TempDir()
	os.WriteFile(filepath.Join(host, "cmdline.txt"), []byte("console=serial0,115200 root=PARTUUID=1-02 rootwait\n"), 0o644)
	os.WriteFile(filepath.Join(host, "config.txt"), bytes.Repeat([]byte("dtparam=audio=on\n"), 200), 0o644)
	os.WriteFile(filepath.Join(host, "issue.txt"), []byte("Raspberry Pi reference\n"), 0o644)
	testkit.Run(t, testkit.Tool(t, "mcopy"), "-i", img+"@@"+fmt.Sprint(fatStart), filepath.Join(host, "cmdline.txt"), filepath.Join(host, "config.txt"), filepath.Join(host, "issue.txt"), "::/")
	outside := func() string {
		b, _ := os.ReadFile(img)
		return readkittest.Sum(b[:fatStart]) + readkittest.Sum(b[fatStart+fatSize:])
	}
	before := outside()

	s, _ := serve(t, img, userfs.Options{Type: "vfat", Offset: fatStart, SizeLimit: fatSize, ReadWrite: true})
	b := both{t: t, mp: s.Mountpoint, host: host}
	b.do("touch ssh", writeFile("ssh", nil))
	b.do("userconf.txt", writeFile("userconf.txt", []byte("pi:$6$salt$hash\n")))
	b.do("append to cmdline.txt", appendFile("cmdline.txt", []byte(" quiet\n")))
	b.do("a shorter config.txt", writeFile("config.txt", []byte("arm_64bit=1\n")))
	b.do("remove issue.txt", func(r string) error { return os.Remove(filepath.Join(r, "issue.txt")) })
	b.do("mkdir", func(r string) error {
		return errors.Join(os.Mkdir(filepath.Join(r, "Small Files"), 0o755), os.Mkdir(filepath.Join(r, "Other Dir"), 0o755))
	})
	rnd := rand.New(rand.NewSource(11))
	for i := 0; i < 1000; i++ {
		name := fmt.Sprintf("Small Files/Fichier Numéro %04d — Mixed Case ünïcode 日本.TxT", i)
		data := make([]byte, rnd.Intn(3000))
		rnd.Read(data)
		b.do("write", writeFile(name, data))
	}
	large := make([]byte, 64<<20)
	rnd.Read(large[:1<<20])
	for off := 1 << 20; off < len(large); off *= 2 {
		copy(large[off:], large[:off])
	}
	b.do("64 MiB", writeFile("Large File.bin", large))
	b.do("rename across", func(r string) error {
		return os.Rename(filepath.Join(r, "Small Files/Fichier Numéro 0007 — Mixed Case ünïcode 日本.TxT"), filepath.Join(r, "Other Dir/moved.txt"))
	})
	checkImage(t, s, img, host, fatStart, fatSize)
	if outside() != before {
		t.Error("bytes outside the FAT partition changed")
	}
}

// TestMountFATReadWriteHostFull: the filesystem holding the image fills
// up under a copy (the image is sparse): the copy fails with ENOSPC, the
// files written before read back whole, and fsck.fat finds the volume
// clean after unmount.
func TestMountFATReadWriteHostFull(t *testing.T) {
	testkit.RequireRoot(t)
	host := filepath.Join(t.TempDir(), "host.img")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "20M", host)
	testkit.Run(t, testkit.Tool(t, "mkfs.ext4"), "-q", "-F", host)
	dir := mountDir(t)
	testkit.Run(t, testkit.Tool(t, "mount"), "-o", "loop", host, dir)
	defer func() {
		if err := syscall.Unmount(dir, 0); err != nil {
			t.Errorf("unmount the host filesystem: %v", err)
		}
	}()
	img := filepath.Join(dir, "sparse.img")
	testkit.Run(t, "truncate", "-s", "64M", img)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", "32", img)
	s, _ := serve(t, img, userfs.Options{Type: "vfat", ReadWrite: true})
	b := both{t: t, mp: s.Mountpoint, host: t.TempDir()}
	for i := 0; i < 20; i++ {
		b.do("small file", writeFile(fmt.Sprintf("before full %d.txt", i), bytes.Repeat([]byte{byte(i)}, 5000)))
	}
	err := os.WriteFile(filepath.Join(s.Mountpoint, "too big.bin"), bytes.Repeat([]byte{1}, 40<<20), 0o644)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Errorf("a copy larger than the host's free space: %v, want ENOSPC", err)
	}
	os.Remove(filepath.Join(s.Mountpoint, "too big.bin"))
	checkImage(t, s, img, b.host, 0, 0)
}
