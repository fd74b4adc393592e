package userfs_test

import (
	"encoding/binary"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// indexMount writes the EROFS index of img's filesystem and mounts it with
// the kernel's erofs over img (file-backed, device=IMAGE), as the index
// route does, at opts.Mountpoint or a new directory; unmounted at cleanup.
func indexMount(t *testing.T, img string, opts userfs.Options) string {
	t.Helper()
	f, err := os.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	index := filepath.Join(t.TempDir(), "index")
	w, err := os.Create(index)
	if err != nil {
		t.Fatal(err)
	}
	info, err := userfs.WriteIndex(w, f, opts, true)
	w.Close()
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("index: %d inodes, %d-byte blocks, %d bytes (%d flat, %d chunked, %d copied)",
		info.Inodes, info.BlockSize, info.Size, info.Flat, info.Chunked, info.Copied)
	mp := opts.Mountpoint
	if mp == "" {
		mp = mountDir(t)
	}
	blocklooptest.MountErofs(t, index, img, mp, syscall.MS_NOSUID|syscall.MS_NODEV)
	return mp
}

// kmsgCheck marks the kernel log and, at cleanup, fails on any erofs
// complaint logged after the mark (dmesg stays clean).
func kmsgCheck(t *testing.T) {
	t.Helper()
	mark := fmt.Sprintf("loops-test userfs %s %d", t.Name(), time.Now().UnixNano())
	if err := os.WriteFile("/dev/kmsg", []byte(mark+"\n"), 0); err != nil {
		t.Fatalf("/dev/kmsg: %v", err)
	}
	t.Cleanup(func() {
		buf := make([]byte, 1<<21)
		n, err := syscall.Klogctl(3, buf)
		if err != nil {
			t.Fatal(err)
		}
		log := string(buf[:n])
		i := strings.LastIndex(log, mark)
		if i < 0 {
			return // rotated away: nothing to say
		}
		for _, l := range strings.Split(log[i:], "\n") {
			if strings.Contains(l, "erofs") && !strings.Contains(l, "mounted with root inode") && !strings.Contains(l, "loops-test") {
				t.Errorf("kernel: %s", l)
			}
		}
	})
}

// bothRoutes serves img through FUSE and through an index with the same
// options and checks that every name shows the same: types, modes,
// owners, link counts, mtimes, sizes, targets, bytes. It returns the
// index mount.
func bothRoutes(t *testing.T, img string, opts userfs.Options) string {
	t.Helper()
	s, _ := serve(t, img, opts)
	mp := indexMount(t, img, opts)
	readkittest.Compare(t, readkittest.HostTree(t, s.Mountpoint), readkittest.HostTree(t, mp),
		readkittest.Fields{Perm: true, Owner: true, Nlink: true, ModTime: readkittest.SameSecond})
	return mp
}

// TestIndexISO: Rock Ridge (owners, modes, hard links, symlinks, a fifo,
// deep directories), Joliet and plain ISO 9660 images through the index,
// against their source and against the FUSE route.
func TestIndexISO(t *testing.T) {
	testkit.RequireRoot(t)
	kmsgCheck(t)
	rich := isotest.RichTree(t)
	joliet := isotest.JolietTree(t)
	for _, c := range []struct {
		name   string
		src    string
		args   []string
		fields readkittest.Fields
	}{
		{"rockridge", rich, []string{"-R", "-J", "-rr_reloc_dir", "rr_moved"}, readkittest.Fields{Perm: true, Owner: true, Nlink: true, ModTime: readkittest.SameSecond}},
		{"joliet", joliet, []string{"-J"}, readkittest.Fields{ModTime: readkittest.SameSecond}},
		{"plain", joliet, nil, readkittest.Fields{}},
	} {
		t.Run(c.name, func(t *testing.T) {
			iso := isotest.BuildISO(t, c.src, c.args...)
			opts := userfs.Options{SetOwner: true, UID: 1234, GID: 5678}
			if c.name == "plain" {
				opts.ISO9660.Tree = 3 // iso9660.TreePlain
			}
			mp := bothRoutes(t, iso, opts)
			if c.name != "plain" {
				readkittest.Compare(t, readkittest.HostTree(t, c.src), readkittest.HostTree(t, mp), c.fields)
			}
		})
	}
}

// TestIndexFAT: FAT12, FAT16, FAT32 (one with 512-byte clusters whose
// data area starts off a 2 KiB boundary) and exFAT through the index with
// uid=, gid= and umask=, against their source and the FUSE route.
func TestIndexFAT(t *testing.T) {
	testkit.RequireRoot(t)
	kmsgCheck(t)
	src := fatTree(t)
	images := map[string]string{}
	for _, bits := range []string{"12", "16", "32"} {
		images["vfat"+bits] = fatImage(t, src, bits)
	}
	images["exfat"] = exfatImage(t, src)
	sources := map[string]string{}
	odd := filepath.Join(t.TempDir(), "fat32-odd.img")
	oddSrc := t.TempDir()
	testkit.Run(t, "cp", "-a", src+"/.", oddSrc)
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "40M", odd)
	testkit.Run(t, testkit.Tool(t, "mkfs.vfat"), "-F", "32", "-s", "1", "-R", "33", "-n", "ODD", odd)
	ents, _ := os.ReadDir(oddSrc)
	args := []string{"-s", "-i", odd}
	for _, e := range ents {
		args = append(args, filepath.Join(oddSrc, e.Name()))
	}
	testkit.Run(t, testkit.Tool(t, "mcopy"), append(args, "::/")...)
	if b, err := os.ReadFile(odd); err != nil || dataStart(b)%2048 == 0 {
		t.Fatalf("the FAT32 data area starts at %d, on a 2 KiB boundary (%v)", dataStart(b), err)
	}
	fragment(t, odd, oddSrc)
	images["vfat32odd"], sources["vfat32odd"] = odd, oddSrc
	for name, img := range images {
		t.Run(name, func(t *testing.T) {
			typ := strings.TrimRight(strings.TrimSuffix(name, "odd"), "0123456789")
			opts := userfs.Options{Type: typ, SetOwner: true, UID: 4321, GID: 8765, Umask: 0o027}
			mp := bothRoutes(t, img, opts)
			want := src
			if s, ok := sources[name]; ok {
				want = s
			}
			readkittest.Compare(t, readkittest.HostTree(t, want), readkittest.HostTree(t, mp), readkittest.Fields{})
		})
	}
}

// TestIndexUDF: UDF at 2 KiB (a bridge disc by genisoimage) and 4 KiB
// blocks (mkudffs, files written by udfclient, small ones embedded in
// their ICB and copied into the index).
func TestIndexUDF(t *testing.T) {
	testkit.RequireRoot(t)
	kmsgCheck(t)
	src := fatTree(t)
	bridge := filepath.Join(t.TempDir(), "bridge.iso")
	testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-udf", "-V", "UDFTEST", "-o", bridge, src)
	mp := bothRoutes(t, bridge, userfs.Options{Type: "udf"})
	readkittest.Compare(t, readkittest.HostTree(t, src), readkittest.HostTree(t, mp), readkittest.Fields{})

	ascii := t.TempDir() + "/t" // udfclient writes names in 8 bits: ASCII only
	for p, c := range map[string]string{
		"hello.txt": "hello\n", "empty": "", "sub/x/deep.txt": "deep\n", "sub/small.bin": strings.Repeat("\x00\x01", 50),
		"big.bin": strings.Repeat("0123456789abcdefghijklmnopqrstu\n", 100000),
	} {
		os.MkdirAll(filepath.Dir(filepath.Join(ascii, p)), 0o755)
		if err := os.WriteFile(filepath.Join(ascii, p), []byte(c), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, bs := range []string{"2048", "4096"} {
		t.Run("mkudffs-"+bs, func(t *testing.T) {
			img := udfImage(t, ascii, bs)
			mp := bothRoutes(t, img, userfs.Options{Type: "udf"})
			readkittest.Compare(t, readkittest.HostTree(t, ascii), readkittest.HostTree(t, filepath.Join(mp, "t")), readkittest.Fields{})
		})
	}
}

// udfImage makes a UDF image of bs-byte blocks with mkudffs and copies src
// into it with udfclient (as a directory named like src).
func udfImage(t *testing.T, src, bs string) string {
	t.Helper()
	img := filepath.Join(t.TempDir(), "image.udf")
	testkit.Run(t, testkit.Tool(t, "truncate"), "-s", "256M", img)
	const uuid, label = "0123456789abcdef", "L"
	testkit.Run(t, testkit.Tool(t, "mkudffs"), "--uuid="+uuid, "--label="+label, "--blocksize="+bs, "--media-type=hd", img)
	cmd := exec.Command(testkit.Tool(t, "udfclient"), "-b", bs, "-W", img)
	cmd.Dir = filepath.Dir(src)
	cmd.Stdin = strings.NewReader("cd " + uuid + "LinuxUDF:" + label + ":" + label + ":LinuxUDF\nmput " + filepath.Base(src) + "\nsync\nquit\n")
	if out, err := cmd.CombinedOutput(); err != nil || strings.Contains(string(out), "rror") {
		t.Fatalf("udfclient: %v\n%s", err, out)
	}
	return img
}

// dataStart is where a FAT32 volume's data area starts.
func dataStart(boot []byte) int64 {
	le := binary.LittleEndian
	return (int64(le.Uint16(boot[14:])) + int64(boot[16])*int64(le.Uint32(boot[36:]))) * int64(le.Uint16(boot[11:]))
}

// fragment writes a file into the holes other files left in a FAT image
// (small files, every other one deleted, the free space at the end taken
// by a filler removed afterwards): its clusters are not contiguous, and
// the index maps it in chunks. The files kept are added to src too.
func fragment(t *testing.T, img, src string) {
	t.Helper()
	mcopy := testkit.Tool(t, "mcopy")
	var names []string
	for i := range 20 {
		n := fmt.Sprintf("small-%02d", i)
		if err := os.WriteFile(filepath.Join(src, n), []byte(strings.Repeat(n, 150)), 0o644); err != nil {
			t.Fatal(err)
		}
		names = append(names, filepath.Join(src, n))
	}
	testkit.Run(t, mcopy, append(append([]string{"-i", img}, names...), "::/")...)
	for i := 0; i < 20; i += 2 {
		testkit.Run(t, testkit.Tool(t, "mdel"), "-i", img, fmt.Sprintf("::/small-%02d", i))
		os.Remove(names[i])
	}
	var free int64
	out := testkit.Run(t, testkit.Tool(t, "mdir"), "-i", img, "::/")
	if i := strings.Index(out, " bytes free"); i > 0 { // "41 245 696 bytes free"
		line := out[strings.LastIndexByte(out[:i], '\n')+1 : i]
		free, _ = strconv.ParseInt(strings.NewReplacer(" ", "", ",", "", "\u00a0", "").Replace(line), 10, 64)
	}
	if free < 8192 {
		t.Fatalf("mdir: no free space found in %q", out)
	}
	filler := filepath.Join(t.TempDir(), "filler")
	if err := os.Truncate(filler, free-65536); err != nil {
		os.WriteFile(filler, nil, 0o644)
		os.Truncate(filler, free-65536)
	}
	testkit.Run(t, mcopy, "-i", img, filler, "::/filler")
	big := filepath.Join(src, "fragmented.txt")
	if err := os.WriteFile(big, []byte(strings.Repeat("fragmented ", 5400)), 0o644); err != nil {
		t.Fatal(err)
	}
	testkit.Run(t, mcopy, "-i", img, big, "::/fragmented.txt")
	testkit.Run(t, testkit.Tool(t, "mdel"), "-i", img, "::/filler")
}
