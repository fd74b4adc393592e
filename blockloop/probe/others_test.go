package probe

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// Images of the rarer types blkid names: made by the real tool where
// Debian has one (mkfs.bfs, mkfs.ubifs, ubinize, drbdmeta), crafted from
// libblkid's magics and offsets otherwise; checked against `blkid -p` by
// TestProbeTypesAgreeWithBlkid.
var rareCases = []imageCase{
	{"bfs", mkfs("mkfs.bfs", 4<<20, "-V", "vol1", "-F", "fsn"), KindFilesystem},
	{"ubifs", func(t *testing.T, dir string) string { return ubifsImage(t, dir) }, KindFilesystem},
	{"ubi", func(t *testing.T, dir string) string {
		fs := ubifsImage(t, dir)
		ini := filepath.Join(dir, "ubi.ini")
		os.WriteFile(ini, []byte("[vol]\nmode=ubi\nimage="+fs+"\nvol_id=0\nvol_size=4MiB\nvol_type=dynamic\nvol_name=root\n"), 0o644)
		p := filepath.Join(dir, "ubi.img")
		testkit.Run(t, testkit.Tool(t, "ubinize"), "-o", p, "-m", "2048", "-p", "128KiB", ini)
		return p
	}, KindVolume},
	{"drbd-v09", drbdImage("v09"), KindVolume},
	{"drbd-v08", drbdImage("v08"), KindVolume},
	{"hpfs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), "\xeb\x3c\x90IBM 10.2", int64(38), "\x28\x44\x33\x22\x11OS2 VOL    HPFS    ", int64(510), "\x55\xaa",
			int64(0x2000), "\x49\xe8\x95\xf9\x3b\x2f\x16\xfa\x02", int64(0x2200), "\x49\x18\x91\xf9\x40\x28\x2b\xfa")
		return p
	}, KindFilesystem},
	{"vxfs-le", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(1024), "\xf5\xfc\x01\xa5", int64(1028), le32b(4))
		return p
	}, KindFilesystem},
	{"vxfs-be", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(8192), "\xa5\x01\xfc\xf5", int64(8196), be32b(6))
		return p
	}, KindFilesystem},
	{"zonefs", func(t *testing.T, dir string) string {
		b := make([]byte, 4096)
		copy(b, "SFOZ")
		copy(b[8:], "zone label")
		copy(b[40:], "\x5a\x4f\x46\x53\x01\x02\x43\x04\x85\x06\x07\x08\x09\x0a\x0b\x0c")
		binary.LittleEndian.PutUint32(b[4:], ^crc32.ChecksumIEEE(b))
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), b)
		return p
	}, KindFilesystem},
	{"nss", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(4096), "SPB5", int64(4096+8), le16b(5), int64(4096+10), le16b(3),
			int64(4096+348), "\x10\x20\x30\x40\x50\x60\x47\x80\x90\xa0\xb0\xc0\xd0\xe0\xf0\x01")
		return p
	}, KindFilesystem},
	{"befs", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		const sb, root = 512, 8 << 11
		patch(t, p, int64(sb), "Haiku Vol", int64(sb+32), le32b(befsMagic1), int64(sb+36), le32b(befsEndian),
			int64(sb+40), le32b(2048), int64(sb+44), le32b(11), int64(sb+64), le32b(2048), int64(sb+68), le32b(befsMagic2),
			int64(sb+76), le32b(13), int64(sb+112), le32b(befsMagic3), int64(sb+116), "\x00\x00\x00\x00\x08\x00\x01\x00",
			int64(root), le32b(befsInodeMagic), int64(root+64), le32b(2048),
			int64(root+232), le32b(befsUint64Type), int64(root+236), le16b(12), int64(root+238), le16b(8),
			int64(root+240), befsKey, int64(root+255), le64b(0x0123456789abcdef))
		return p
	}, KindFilesystem},
	{"vdo", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), "dmvdo001", int64(40), "\x11\x22\x33\x44\x55\x66\x47\x88\x99\xaa\xbb\xcc\xdd\xee\xff\x00")
		return p
	}, KindVolume},
	{"ceph_bluestore", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), "bluestore block device\n6b3c7d18-6e2a-4b8e-9e4e-6f1b2c3d4e5f\n")
		return p
	}, KindVolume},
	{"drbdmanage", func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), "$DRBDmgr=q 0123456789abcdef0123456789abcdef\n", int64(0x1000), "\x1a\xdb\x98\xa2\x00\x00\x00\x01")
		return p
	}, KindVolume},
	{"mpool", func(t *testing.T, dir string) string {
		b := make([]byte, 66)
		copy(b, "mpoolDev")
		copy(b[8:], "mp1")
		copy(b[40:], "\xa1\xb2\xc3\xd4\xe5\xf6\x47\x18\x89\x9a\xab\xbc\xcd\xde\xef\xf0")
		binary.LittleEndian.PutUint32(b[62:], crc32.Checksum(b[:62], castagnoli()))
		p := newFile(t, dir, "img", 2<<20)
		patch(t, p, int64(0), b)
		return p
	}, KindVolume},
	{"luks2-secondary-alone", func(t *testing.T, dir string) string {
		// The primary header wiped: the secondary one (at 16 KiB) alone.
		p := cryptsetupFormat(t, dir, "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
		patch(t, p, int64(0), make([]byte, 4096))
		return p
	}, KindCrypto},
	{"vfat-cp1252", func(t *testing.T, dir string) string {
		// A label written in code page 1252: blkid gives its bytes as
		// they are, and so does Image (not decoded as code page 437).
		p := vfatImage(t, dir, 8<<20)
		rc := filepath.Join(dir, "mtoolsrc")
		os.WriteFile(rc, []byte("default_codepage=1252\n"), 0o644)
		cmd := testkit.Command(testkit.Tool(t, "mlabel"), "-i", p, "::ÉTÉ ØÑ")
		cmd.Env = append(cmd.Env, "MTOOLSRC="+rc)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("mlabel: %v\n%s", err, out)
		}
		return p
	}, KindFilesystem},
}

func ubifsImage(t *testing.T, dir string) string {
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	os.WriteFile(filepath.Join(src, "a"), []byte("a"), 0o644)
	p := filepath.Join(dir, "ubifs.img")
	testkit.Run(t, testkit.Tool(t, "mkfs.ubifs"), "-r", src, "-m", "2048", "-e", "129024", "-c", "64", "-o", p)
	return p
}

// drbdImage: DRBD internal metadata of the given version written by
// drbdmeta at the end of a 4 MiB file (floppy-sized images carry no RAID,
// as blkid).
func drbdImage(version string) func(t *testing.T, dir string) string {
	return func(t *testing.T, dir string) string {
		p := newFile(t, dir, "img", 4<<20)
		testkit.Run(t, testkit.Tool(t, "drbdmeta"), "--force", "0", version, p, "internal", "create-md", "1")
		return p
	}
}

// TestProbeTypesBlkidHereLacks: the types this blkid (util-linux 2.38) does
// not know yet, crafted from libblkid's later sources (cs_fvault2.c,
// scoutfs.c), with the values blkid derives from them.
func TestProbeTypesBlkidHereLacks(t *testing.T) {
	fvault := make([]byte, 512)
	copy(fvault[8:], le16b(1))
	copy(fvault[10:], le16b(0x10))
	copy(fvault[88:], "CS")
	copy(fvault[90:], le32b(1))
	copy(fvault[168:], le32b(16))
	copy(fvault[172:], le32b(2))
	copy(fvault[304:], "\x01\x23\x45\x67\x89\xab\x4d\xef\x80\x11\x22\x33\x44\x55\x66\x77")
	copy(fvault[4:], le32b(0xffffffff))
	copy(fvault[0:], le32b(^crc32.Update(0, castagnoli(), fvault[8:])))
	scout := func(meta bool) []byte {
		b := make([]byte, 4096)
		copy(b[4:], "\x8b\x42\x3c\x10")
		copy(b[40:], le64b(2))
		if meta {
			copy(b[48:], le64b(1))
		}
		copy(b[56:], "\xfe\xdc\xba\x98\x76\x54\x42\x10\x8f\xed\xcb\xa9\x87\x65\x43\x21")
		copy(b, le32b(^crc32.Checksum(b[4:], castagnoli())))
		return b
	}
	place := func(at int, b []byte) []byte {
		img := make([]byte, 2<<20)
		copy(img[at:], b)
		return img
	}
	broken := scout(true)
	broken[100] ^= 1
	tests := []struct {
		name                      string
		img                       []byte
		kind                      Kind
		typ, uuid, version, label string
	}{
		{"cs_fvault2", place(0, fvault), KindCrypto, "cs_fvault2", "01234567-89ab-4def-8011-223344556677", "1", ""},
		{"scoutfs_meta", place(64<<10, scout(true)), KindFilesystem, "scoutfs_meta", "fedcba98-7654-4210-8fed-cba987654321", "2", ""},
		{"scoutfs_data", place(64<<10, scout(false)), KindFilesystem, "scoutfs_data", "fedcba98-7654-4210-8fed-cba987654321", "2", ""},
		{"scoutfs bad crc", place(64<<10, broken), KindUnknown, "", "", "", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Image(strings.NewReader(string(tt.img)), int64(len(tt.img)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tt.kind || p.Type != tt.typ || p.UUID != tt.uuid || p.Version != tt.version || p.Label != tt.label {
				t.Errorf("Image = %s %q uuid %q version %q label %q; want %s %q %q %q %q",
					p.Kind, p.Type, p.UUID, p.Version, p.Label, tt.kind, tt.typ, tt.uuid, tt.version, tt.label)
			}
		})
	}
}

// TestProbeErofsNotMinix: an erofs image of 4,991 inodes carries 0x137F,
// the minix v1 magic, where minix keeps it (erofs's inode count at 1 KiB +
// 16), and the rest passes minix's checks. blkid 2.42 (util-linux commit
// cf479ca5f) and Image say erofs; the blkid 2.38 here still says minix.
func TestProbeErofsNotMinix(t *testing.T) {
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.Mkdir(src, 0o755)
	for i := range 4990 {
		os.WriteFile(filepath.Join(src, fmt.Sprintf("f%04d", i)), nil, 0o644)
	}
	p := filepath.Join(dir, "e.img")
	testkit.Run(t, testkit.Tool(t, "mkfs.erofs"), "--quiet", p, src)
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if binary.LittleEndian.Uint16(b[1024+16:]) != 0x137F {
		t.Fatalf("the image does not carry the minix magic (inodes %d): the test proves nothing", binary.LittleEndian.Uint64(b[1024+16:]))
	}
	r, err := File(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "erofs" || len(r.Ambiguous) != 0 {
		t.Errorf("Image = %q ambiguous %v, want erofs alone", r.Type, r.Ambiguous)
	}
	if want, _ := blkidUdev(t, p); want["TYPE"] != "erofs" {
		t.Logf("blkid here says %q (it predates util-linux's fix)", want["TYPE"])
	}
}

// TestProbeLUKS2SecondaryInSwap: a LUKS2 secondary header left inside a
// swap area (mkswap over an old LUKS2 volume whose primary header alone was
// wiped) does not outrank the swap signature in its primary place: blkid
// since util-linux commit 3e60c1fe1 says swap, and so does Image (the blkid
// 2.38 here still says crypto_LUKS). Alone, the secondary header is still
// named (rareCases' luks2-secondary-alone).
func TestProbeLUKS2SecondaryInSwap(t *testing.T) {
	dir := t.TempDir()
	luks := cryptsetupFormat(t, dir, "--type", "luks2", "--pbkdf", "pbkdf2", "--pbkdf-force-iterations", "1000")
	l, err := os.ReadFile(luks)
	if err != nil {
		t.Fatal(err)
	}
	if string(l[0x4000:0x4006]) != "SKUL\xba\xbe" {
		t.Fatal("no LUKS2 secondary header at 16 KiB")
	}
	p := newFile(t, dir, "swap", 1<<20)
	testkit.Run(t, testkit.Tool(t, "mkswap"), "-q", "-L", "swp", p)
	patch(t, p, int64(0x4000), l[0x4000:0x5000])
	r, err := File(p, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if r.Type != "swap" || r.Kind != KindSwap || r.Label != "swp" || len(r.Ambiguous) != 0 {
		t.Errorf("Image = %s %q label %q ambiguous %v, want swap \"swp\" alone", r.Kind, r.Type, r.Label, r.Ambiguous)
	}
	// A LUKS2 header claiming another offset than where it lies is none
	// (libblkid's luks_valid, util-linux commit e49de00f4).
	shifted := make([]byte, 1<<20)
	copy(shifted[0x8000:], l[0x4000:0x5000]) // at 32 KiB, claiming 16 KiB
	if r, _ := Image(strings.NewReader(string(shifted)), int64(len(shifted)), Options{}); r.Type != "" {
		t.Errorf("a LUKS2 header at 32 KiB claiming 16 KiB: Image = %q, want nothing", r.Type)
	}
}
