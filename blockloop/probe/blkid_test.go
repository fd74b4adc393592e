package probe

import (
	"encoding/binary"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// blkidUdev runs `blkid -p -o udev` and returns its ID_FS_* values with
// the \xNN escapes of the _ENC forms decoded (TYPE, LABEL, UUID,
// VERSION), and whether blkid called the result ambivalent.
func blkidUdev(t *testing.T, path string) (map[string]string, bool) {
	t.Helper()
	bin := testkit.Tool(t, "blkid")
	out, err := testkit.Command(bin, "-p", "-o", "udev", path).CombinedOutput()
	var ee *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &ee) && ee.ExitCode() == 2:
		return map[string]string{}, false
	case errors.As(err, &ee) && ee.ExitCode() == 8:
		return map[string]string{}, true // ambivalent result
	default:
		t.Fatalf("blkid -p -o udev %s: %v\n%s", path, err, out)
	}
	raw := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			raw[k] = v
		}
	}
	m := map[string]string{
		"TYPE":       unescapeUdev(raw["ID_FS_TYPE"]),
		"LABEL":      unescapeUdev(raw["ID_FS_LABEL_ENC"]),
		"UUID":       unescapeUdev(raw["ID_FS_UUID_ENC"]),
		"VERSION":    unescapeUdev(raw["ID_FS_VERSION"]),
		"BLOCK_SIZE": raw["ID_FS_BLOCK_SIZE"],
	}
	return m, false
}

// unescapeUdev decodes blkid's \xNN escapes (blkid_encode_string).
func unescapeUdev(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+3 < len(s) && s[i+1] == 'x' {
			if v, err := strconv.ParseUint(s[i+2:i+4], 16, 8); err == nil {
				b.WriteByte(byte(v))
				i += 3
				continue
			}
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// imageCase makes one image in dir and returns its path.
type imageCase struct {
	name string
	make func(t *testing.T, dir string) string
	// kind is the Kind Probe must give (besides agreeing with blkid).
	kind Kind
}

func newFile(t *testing.T, dir, name string, size int64) string {
	t.Helper()
	p := filepath.Join(dir, name)
	truncateFile(t, p, size)
	return p
}

// patch writes pieces (offset, bytes) into the file at path.
func patch(t *testing.T, path string, parts ...any) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for i := 0; i+1 < len(parts); i += 2 {
		var b []byte
		switch v := parts[i+1].(type) {
		case string:
			b = []byte(v)
		case []byte:
			b = v
		}
		if _, err := f.WriteAt(b, parts[i].(int64)); err != nil {
			t.Fatal(err)
		}
	}
}

func mkfs(tool string, size int64, args ...string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		bin := testkit.Tool(t, tool)
		p := newFile(t, dir, "img", size)
		testkit.Run(t, bin, append(args, p)...)
		return p
	}
}

// endSector makes a 2 MiB image with data at sector s from the end.
func endSector(s int64, data string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, 2<<20-s*512, data)
		return p
	}
}

func le32b(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
func be32b(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
func le64b(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
func le16b(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
func be16b(v uint16) []byte { return binary.BigEndian.AppendUint16(nil, v) }

func vfatImage(t *testing.T, dir string, size int64, args ...string) string {
	bin := testkit.Tool(t, "mkfs.vfat")
	p := newFile(t, dir, "img", size)
	testkit.Run(t, bin, append(args, p)...)
	return p
}

func cryptsetupFormat(t *testing.T, dir string, args ...string) string {
	bin := testkit.Tool(t, "cryptsetup")
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("secret"), 0o600); err != nil {
		t.Fatal(err)
	}
	p := newFile(t, dir, "img", 20<<20)
	testkit.Run(t, bin, append([]string{"luksFormat", "--batch-mode", "--key-file", key}, append(args, p)...)...)
	return p
}

// withLoop attaches path to a loop device (root), runs fn on the device,
// and detaches it.
func withLoop(t *testing.T, path string, fn func(dev string)) {
	t.Helper()
	testkit.RequireRoot(t)
	losetup := testkit.Tool(t, "losetup")
	out, err := testkit.Command(losetup, "-f", "--show", path).Output()
	if err != nil {
		t.Fatalf("losetup: %v", err)
	}
	dev := strings.TrimSpace(string(out))
	defer func() {
		if out, err := testkit.Command(losetup, "-d", dev).CombinedOutput(); err != nil {
			t.Errorf("losetup -d %s: %v\n%s", dev, err, out)
		}
	}()
	fn(dev)
}

// mdSuper1 builds an md 1.x superblock for offset off (bytes).
func mdSuper1(off int64, uuid, name string) []byte {
	b := make([]byte, 256)
	copy(b, le32b(0xa92b4efc))
	copy(b[4:], le32b(1))
	copy(b[16:], uuid)
	copy(b[32:], name)
	copy(b[144:], le64b(uint64(off>>9)))
	return b
}

var probeCases = []imageCase{
	// Tools.
	{"f2fs", mkfs("mkfs.f2fs", 64<<20, "-q", "-f", "-l", "F2 Läbel"), KindFilesystem},
	{"jfs", mkfs("mkfs.jfs", 16<<20, "-q", "-L", "jfs label"), KindFilesystem},
	{"reiserfs", mkfs("mkfs.reiserfs", 40<<20, "-q", "-f", "-l", "reiser"), KindFilesystem},
	{"nilfs2", mkfs("mkfs.nilfs2", 8<<20, "-q", "-L", "nilfs lab", "-b", "1024", "-B", "16"), KindFilesystem},
	{"ntfs", mkfs("mkntfs", 8<<20, "-q", "-F", "-Q", "-L", "Ünïcødé NTFS"), KindFilesystem},
	{"exfat", mkfs("mkfs.exfat", 8<<20, "-L", "ExLäbel 😀"), KindFilesystem},
	{"minix1", mkfs("mkfs.minix", 4<<20, "-1"), KindFilesystem},
	{"minix2", mkfs("mkfs.minix", 4<<20, "-2"), KindFilesystem},
	{"minix3", mkfs("mkfs.minix", 4<<20, "-3"), KindFilesystem},
	{"vfat-mkfs", func(t *testing.T, dir string) string { return vfatImage(t, dir, 8<<20, "-n", "FATLBL") }, KindFilesystem},
	{"vfat-fatlabel", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 8<<20, "-n", "FATLBL")
		testkit.Run(t, testkit.Tool(t, "fatlabel"), p, "NEWLBL")
		return p
	}, KindFilesystem},
	{"vfat-mlabel-after-fatlabel", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 8<<20, "-n", "FATLBL")
		testkit.Run(t, testkit.Tool(t, "fatlabel"), p, "NEWLBL")
		testkit.Run(t, testkit.Tool(t, "mlabel"), "-i", p, "::MLBL")
		return p
	}, KindFilesystem},
	{"vfat-fatlabel-after-mlabel", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 8<<20)
		testkit.Run(t, testkit.Tool(t, "mlabel"), "-i", p, "::MLBL")
		testkit.Run(t, testkit.Tool(t, "fatlabel"), p, "FLBL")
		return p
	}, KindFilesystem},
	{"vfat-mlabel-cleared", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 8<<20, "-n", "FATLBL")
		testkit.Run(t, testkit.Tool(t, "mlabel"), "-i", p, "-c", "::")
		return p
	}, KindFilesystem},
	{"vfat-cp437", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 8<<20)
		testkit.Run(t, testkit.Tool(t, "mlabel"), "-i", p, "::ÉTÉ")
		return p
	}, KindFilesystem},
	{"vfat-no-name", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 16<<20, "-F", "16")
		testkit.Run(t, testkit.Tool(t, "fatlabel"), p, "NO NAME")
		return p
	}, KindFilesystem},
	{"vfat-deleted-label", func(t *testing.T, dir string) string {
		// The label entry deleted (0xE5): blkid passes over it and
		// reports no LABEL, though the boot sector still has one.
		p := vfatImage(t, dir, 8<<20, "-n", "FATLBL")
		b, _ := os.ReadFile(p)
		root := (int64(binary.LittleEndian.Uint16(b[14:])) + int64(b[16])*int64(binary.LittleEndian.Uint16(b[22:]))) * 512
		patch(t, p, root, "\xe5")
		return p
	}, KindFilesystem},
	{"vfat32", func(t *testing.T, dir string) string { return vfatImage(t, dir, 64<<20, "-F", "32", "-n", "BIG32") }, KindFilesystem},
	{"vfat16-no-chs", func(t *testing.T, dir string) string {
		p := vfatImage(t, dir, 16<<20, "-F", "16", "-n", "NOCHS")
		patch(t, p, int64(24), "\x00\x00\x00\x00") // no sectors per track, no heads
		return p
	}, KindFilesystem},
	{"luks1", func(t *testing.T, dir string) string {
		return cryptsetupFormat(t, dir, "--type", "luks1", "--iter-time", "1")
	}, KindCrypto},
	{"luks2", func(t *testing.T, dir string) string {
		return cryptsetupFormat(t, dir, "--type", "luks2", "--label", "Crypt Läbel", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
	}, KindCrypto},
	{"bcache", mkfs("make-bcache", 16<<20, "-B"), KindVolume},
	{"udf-512", mkfs("mkudffs", 8<<20, "-b", "512", "--media-type=hd", "--label=Ünïcødé 🎉 UDF", "--vid=VolID"), KindFilesystem},
	{"udf-2048", mkfs("mkudffs", 8<<20, "-b", "2048", "--lvid=LV 🎉 id", "--vid=vid2"), KindFilesystem},
	{"udf-1024", mkfs("mkudffs", 8<<20, "-b", "1024", "--media-type=hd", "--label=One K"), KindFilesystem},
	{"udf-4096", mkfs("mkudffs", 16<<20, "-b", "4096", "--media-type=hd", "--label=Four K"), KindFilesystem},
	{"iso-joliet-long", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "img")
		src := filepath.Join(dir, "src")
		os.Mkdir(src, 0o755)
		os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
		testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-J", "-V", "Naïve and very lOOOOOOOONG LABE", "-o", p, src)
		// The primary label as Windows and xorriso write it: upper case,
		// '_' for what ASCII cannot hold; blkid merges it with Joliet's.
		patch(t, p, int64(0x8000+40), "NA_VE AND VERY LOOOOOOOONG LABEL")
		return p
	}, KindFilesystem},
	{"udf-bridge", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "img")
		src := filepath.Join(dir, "src")
		os.Mkdir(src, 0o755)
		os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
		testkit.Run(t, testkit.Tool(t, "genisoimage"), "-quiet", "-input-charset", "utf-8", "-J", "-udf", "-V", "Bridge Disc", "-o", p, src)
		return p
	}, KindFilesystem},
	{"cramfs", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "img")
		src := filepath.Join(dir, "src")
		os.Mkdir(src, 0o755)
		os.WriteFile(filepath.Join(src, "a"), make([]byte, 4096), 0o644)
		testkit.Run(t, testkit.Tool(t, "mkfs.cramfs"), "-n", "cram lab", src, p)
		return p
	}, KindFilesystem},
	{"romfs", func(t *testing.T, dir string) string {
		p := filepath.Join(dir, "img")
		src := filepath.Join(dir, "src")
		os.Mkdir(src, 0o755)
		os.WriteFile(filepath.Join(src, "a"), make([]byte, 4096), 0o644)
		testkit.Run(t, testkit.Tool(t, "genromfs"), "-V", "rom lab", "-d", src, "-f", p)
		return p
	}, KindFilesystem},
	{"lvm2", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 16<<20)
		withLoop(t, p, func(dev string) {
			cmd := testkit.Command(testkit.Tool(t, "pvcreate"), "-q", "-y", dev)
			cmd.Env = append(cmd.Env, "LVM_SUPPRESS_FD_WARNINGS=1")
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("pvcreate: %v\n%s", err, out)
			}
		})
		return p
	}, KindVolume},

	// Crafted: headers blkid itself recognizes, where no Debian tool
	// makes the thing.
	{"bitlocker", func(t *testing.T, dir string) string {
		// A Windows 7 BitLocker boot sector over a valid FAT16 BPB: blkid
		// (and loops) check BitLocker first.
		p := vfatImage(t, dir, 16<<20, "-F", "16")
		patch(t, p, int64(0), "\xeb\x58\x90-FVE-FS-", int64(176), le64b(0x10000),
			int64(0x10000), "-FVE-FS-", int64(0x10000+8), le16b(64), int64(0x10000+10), le16b(2))
		return p
	}, KindCrypto},
	{"swsuspend", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		patch(t, p, int64(0xff6), "S1SUSPEND", int64(1024), le32b(1), int64(1028), le32b(255),
			int64(1036), "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", int64(1052), "hiber")
		return p
	}, KindSwap},
	{"tuxonice", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		patch(t, p, int64(0), toiMagic, int64(0xff6), "SWAPSPACE2", int64(1024), le32b(1), int64(1028), le32b(255))
		return p
	}, KindSwap},
	{"apfs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		patch(t, p, int64(24), le16b(1), int64(32), "NXSB", int64(36), le32b(4096),
			int64(72), "\xa1\xb2\xc3\xd4\x01\x02\x43\x04\x85\x06\x07\x08\x09\x0a\x0b\x0c")
		return p
	}, KindVolume},
	{"zfs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 64<<20)
		var parts []any
		for i := int64(0); i < 4; i++ {
			parts = append(parts, 128<<10+i*1024, le64b(zfsUberMagic), 128<<10+i*1024+8, le64b(5000))
		}
		// The XDR nvlist: header, then (size, decoded size, name, value)
		// pairs, then two zero words.
		nv := []byte{1, 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1}
		pair := func(name string, val []byte) {
			n := (len(name) + 3) &^ 3
			e := be32b(uint32(12 + n + len(val)))
			e = append(e, be32b(0)...)
			e = append(e, be32b(uint32(len(name)))...)
			e = append(e, []byte(name)...)
			e = append(e, make([]byte, n-len(name))...)
			nv = append(nv, append(e, val...)...)
		}
		u64 := func(v uint64) []byte {
			return append(append(be32b(8), be32b(1)...), binary.BigEndian.AppendUint64(nil, v)...)
		}
		pair("version", u64(5000))
		pair("name", append(append(append(be32b(9), be32b(1)...), be32b(4)...), "tank"...))
		pair("pool_guid", u64(1234567890123456789))
		nv = append(nv, make([]byte, 8)...)
		parts = append(parts, int64(16<<10), nv)
		patch(t, p, parts...)
		return p
	}, KindVolume},
	{"vmfs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 4<<20)
		patch(t, p, int64(2<<20), "\x5e\xf1\xab\x2f", int64(2<<20+8), "\x05",
			int64(2<<20+9), "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10", int64(2<<20+29), "datastore1")
		return p
	}, KindVolume},
	{"vmfs-volume", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 4<<20)
		patch(t, p, int64(1<<20), "\x0d\xd0\x01\xc0", int64(1<<20+4), le32b(5),
			int64(1<<20+532), "4c8a2b1e-0a1b2c3d-4e5f-001122334455")
		return p
	}, KindVolume},
	// On a floppy-sized image (1.44 MB or less) blkid looks for no RAID.
	{"isw", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(2<<20-1024), "Intel Raid ISM Cfg Sig. 1.3.00")
		return p
	}, KindVolume},
	{"ddf", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(2<<20-512), be32b(0xDE11DE11), int64(2<<20-512+8), "LinuxMD-DDF-0123456789ab", int64(2<<20-512+32), "01.02.00")
		return p
	}, KindVolume},
	{"lsi", endSector(1, "$XIDE$"), KindVolume},
	{"via", func(t *testing.T, dir string) string {
		b := make([]byte, 51)
		copy(b, "\x55\xaa\x02")
		for _, c := range b[:50] {
			b[50] += c
		}
		return endSector(1, string(b))(t, dir)
	}, KindVolume},
	{"silicon", func(t *testing.T, dir string) string {
		b := make([]byte, 512)
		copy(b[0x60:], le32b(0x2F000000))
		copy(b[0x108:], le16b(1))
		copy(b[0x10A:], le16b(2))
		var sum int
		for i := 0; i < 0x13E; i += 2 {
			sum += int(binary.LittleEndian.Uint16(b[i:]))
		}
		copy(b[0x13E:], le16b(uint16(-sum)))
		return endSector(1, string(b))(t, dir)
	}, KindVolume},
	{"nvidia", endSector(2, "NVIDIA  \x00\x00\x00\x00\x00\x00\x00\x00\x64\x00"), KindVolume},
	{"promise", endSector(399, "Promise Technology, Inc."), KindVolume},
	{"hpt45x", endSector(11, "\xf3\x16\x78\x5a"), KindVolume},
	{"hpt37x", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(4608+32), "\xf0\x16\x78\x5a")
		return p
	}, KindVolume},
	{"adaptec", func(t *testing.T, dir string) string {
		b := make([]byte, 512)
		copy(b, "\x37\xfc\x4d\x1e")
		copy(b[256:], "DPTM")
		b[63] = 3
		return endSector(1, string(b))(t, dir)
	}, KindVolume},
	{"jmicron", endSector(1, "JM\x01\x02"), KindVolume},
	{"hfs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		patch(t, p, int64(1024), "BD", int64(1024+20), be32b(512), int64(1024+36), "\x0aMac Volume",
			int64(1024+116), "\x11\x22\x33\x44\x55\x66\x77\x88")
		return p
	}, KindFilesystem},
	{"hfsplus", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		const bs = 4096
		name := []byte{}
		for _, r := range "Mäc HD" {
			name = append(name, be16b(uint16(r))...)
		}
		patch(t, p, int64(1024), "H+", int64(1024+2), be16b(4), int64(1024+40), be32b(bs),
			int64(1024+104), "\x99\x88\x77\x66\x55\x44\x33\x22",
			int64(1024+288), be32b(16), int64(1024+292), be32b(2), // catalog: blocks 16-17
			// B-tree header node: 1 leaf record, first leaf node 1, 4 KiB nodes.
			int64(16*bs+14+6), be32b(1), int64(16*bs+14+10), be32b(1), int64(16*bs+14+18), be16b(bs),
			// The leaf: kind -1, 1 record: the root's thread, parent 1.
			int64(17*bs+8), "\xff", int64(17*bs+10), be16b(1),
			int64(17*bs+14+2), be32b(1), int64(17*bs+14+6), be16b(uint16(len(name)/2)), int64(17*bs+14+8), name)
		return p
	}, KindFilesystem},
	{"ufs2", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 1<<20)
		patch(t, p, int64(64<<10+1372), le32b(0x19540119), int64(64<<10+680), "ufs label",
			int64(64<<10+144), le32b(0x5f3e2d1c), int64(64<<10+148), le32b(0x0a0b0c0d))
		return p
	}, KindFilesystem},
	{"gfs2", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 40<<20)
		patch(t, p, int64(64<<10), be32b(0x01161970), int64(64<<10+24), be32b(1801), int64(64<<10+28), be32b(1900),
			int64(64<<10+160), "cluster:gfs", int64(64<<10+256), "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10")
		return p
	}, KindFilesystem},
	{"ocfs2", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 16<<20)
		patch(t, p, int64(8<<10), "OCFSV2", int64(8<<10+192), le16b(0), int64(8<<10+194), le16b(90),
			int64(8<<10+272), "ocfs label", int64(8<<10+336), "\x01\x02\x03\x04\x05\x06\x07\x08\x09\x0a\x0b\x0c\x0d\x0e\x0f\x10")
		return p
	}, KindFilesystem},
	{"xfs-log", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 12<<20)
		patch(t, p, int64(512), be32b(0xFEEDBABE), int64(512+8), be32b(2), int64(512+12), be32b(512), int64(512+300), be32b(1))
		return p
	}, KindFilesystem},
	{"md-0.90", func(t *testing.T, dir string) string {
		const size = 32 << 20
		p := newFile(t, dir, "img", size)
		off := int64(size&^(mdReserved-1) - mdReserved)
		patch(t, p, off, le32b(0xa92b4efc), off+8, le32b(90), off+20, le32b(0x11223344), off+32, le32b(1024),
			off+52, le32b(0x55667788), off+56, le32b(0x99aabbcc), off+60, le32b(0xddeeff00))
		return p
	}, KindVolume},
	{"md-1.0-over-vfat", func(t *testing.T, dir string) string {
		// A RAID 1 member (superblock at the end) whose data is a FAT
		// filesystem: the RAID member wins, as in blkid.
		p := vfatImage(t, dir, 8<<20, "-n", "INSIDE")
		off := int64(8<<20&^0xFFF - 0x2000)
		patch(t, p, off, mdSuper1(off, "0123456789abcdef", "host:end"))
		return p
	}, KindVolume},
	{"md-1.1", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 8<<20)
		patch(t, p, int64(0), mdSuper1(0, "fedcba9876543210", "host:start"))
		return p
	}, KindVolume},
	{"md-1.2", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 8<<20)
		patch(t, p, int64(4096), mdSuper1(4096, "FEDCBA9876543210", "any:md0"))
		return p
	}, KindVolume},
}

// TestProbeTypesAgreeWithBlkid: for every type with a Debian tool an image
// made by that tool, and a crafted header for the others, Probe's type,
// label, UUID and version equal those of `blkid -p -o udev` (the label
// from ID_FS_LABEL_ENC, decoded: raw bytes where blkid gives them raw,
// as for a FAT label in any code page).
func TestProbeTypesAgreeWithBlkid(t *testing.T) {
	for _, c := range append(probeCases, rareCases...) {
		t.Run(c.name, func(t *testing.T) {
			path := c.make(t, t.TempDir())
			want, ambivalent := blkidUdev(t, path)
			if ambivalent {
				t.Fatalf("blkid calls %s ambivalent", c.name)
			}
			p, err := File(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Type != want["TYPE"] || want["TYPE"] == "" {
				t.Fatalf("Probe type %q, blkid %q", p.Type, want["TYPE"])
			}
			if p.Kind != c.kind {
				t.Errorf("Probe kind %s, want %s", p.Kind, c.kind)
			}
			got := map[string]string{"LABEL": p.Label, "UUID": p.UUID, "VERSION": p.Version}
			for _, k := range []string{"LABEL", "UUID", "VERSION"} {
				if got[k] != want[k] {
					t.Errorf("Probe %s %q, blkid %q", k, got[k], want[k])
				}
			}
			if strings.HasPrefix(c.name, "udf") && p.BlockSize == 0 {
				t.Errorf("Probe gives no block size, blkid %q", want["BLOCK_SIZE"])
			}
			if p.BlockSize != 0 && strconv.FormatInt(p.BlockSize, 10) != want["BLOCK_SIZE"] {
				t.Errorf("Probe block size %d, blkid %q", p.BlockSize, want["BLOCK_SIZE"])
			}
			if len(p.Ambiguous) > 0 {
				t.Errorf("Probe ambiguous %v, blkid not", p.Ambiguous)
			}
			if c.name == "udf-bridge" && (len(p.Also) != 1 || p.Also[0] != "iso9660") {
				t.Errorf("UDF bridge: Also %v, want [iso9660]", p.Also)
			}
		})
	}
}

// TestProbeAmbiguousLikeBlkid: an exFAT image with a swap signature
// written over it: blkid calls it ambivalent, Probe lists the second
// signature.
func TestProbeAmbiguousLikeBlkid(t *testing.T) {
	p := mkfs("mkfs.exfat", 8<<20)(t, t.TempDir())
	patch(t, p, int64(0xff6), "SWAPSPACE2", int64(1024), le32b(1), int64(1028), le32b(100))
	if _, ambivalent := blkidUdev(t, p); !ambivalent {
		t.Fatal("blkid does not call the image ambivalent")
	}
	pr, err := File(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if pr.Type != "swap" || len(pr.Ambiguous) != 1 || pr.Ambiguous[0] != "exfat" {
		t.Fatalf("Probe = %q ambiguous %v, want swap and [exfat]", pr.Type, pr.Ambiguous)
	}
	// blockloop's TestDecide refuses such a result (ErrAmbiguous).
}

// TestProbeRAIDInPartition: an md 0.90 superblock at the end of the last
// partition is also near the end of the disk; blkid (and Probe) give it to
// the partition, and still read the disk's partition table.
func TestProbeRAIDInPartition(t *testing.T) {
	const size = 8 << 20
	p := newFile(t, t.TempDir(), "img", size)
	off := int64(size&^(mdReserved-1) - mdReserved)
	patch(t, p, int64(446+4), "\x83", int64(446+8), le32b(2048), int64(446+12), le32b(size/512-2048), int64(510), "\x55\xaa",
		off, le32b(0xa92b4efc), off+8, le32b(90), off+20, le32b(0x11223344), off+32, le32b(1024))
	want, _ := blkidUdev(t, p)
	pr, err := File(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if want["TYPE"] != "" || pr.Type != "" || pr.PTType != "dos" || len(pr.Partitions) != 1 {
		t.Fatalf("whole image: Probe %q %q %d partitions, blkid %q", pr.Type, pr.PTType, len(pr.Partitions), want["TYPE"])
	}
	if fs := pr.Partitions[0].FS; fs == nil || fs.Type != "linux_raid_member" || fs.Version != "0.90.0" {
		t.Errorf("partition 1: %+v", fs)
	}
}
