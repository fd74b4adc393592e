package probe

import (
	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"

	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"testing"
)

// synthGPT builds a small GPT disk in memory: 512-byte sectors, a
// protective MBR, nEnt entries of which the given partitions are used.
func synthGPT(size int, nEnt int, parts [][2]uint64) []byte {
	b := make([]byte, size)
	b[510], b[511] = 0x55, 0xAA
	b[446+4] = 0xEE
	binary.LittleEndian.PutUint32(b[446+8:], 1)
	binary.LittleEndian.PutUint32(b[446+12:], uint32(size/512-1))
	ents := make([]byte, nEnt*128)
	linux := []byte{0xaf, 0x3d, 0xc6, 0x0f, 0x83, 0x84, 0x72, 0x47, 0x8e, 0x79, 0x3d, 0x69, 0xd8, 0x47, 0x7d, 0xe4}
	for i, p := range parts {
		e := ents[i*128:]
		copy(e[0:16], linux)
		e[16] = byte(i + 1)
		binary.LittleEndian.PutUint64(e[32:], p[0])
		binary.LittleEndian.PutUint64(e[40:], p[1])
		copy(e[56:], []byte{'r', 0, 'o', 0, 'o', 0, 't', 0})
	}
	copy(b[1024:], ents)
	h := b[512:]
	copy(h, "EFI PART")
	binary.LittleEndian.PutUint32(h[8:], 0x00010000)
	binary.LittleEndian.PutUint32(h[12:], 92)
	binary.LittleEndian.PutUint64(h[24:], 1)
	binary.LittleEndian.PutUint64(h[72:], 2)
	binary.LittleEndian.PutUint32(h[80:], uint32(nEnt))
	binary.LittleEndian.PutUint32(h[84:], 128)
	binary.LittleEndian.PutUint32(h[88:], crc32.ChecksumIEEE(ents))
	binary.LittleEndian.PutUint32(h[16:], crc32.ChecksumIEEE(h[:92]))
	return b
}

// synthMBR builds an MBR with a primary partition and an extended one
// holding two logical partitions.
func synthMBR() []byte {
	b := make([]byte, 64<<10)
	put := func(sector int, slot int, typ byte, start, n uint32) {
		e := b[sector*512+446+16*slot:]
		e[4] = typ
		binary.LittleEndian.PutUint32(e[8:], start)
		binary.LittleEndian.PutUint32(e[12:], n)
		b[sector*512+510], b[sector*512+511] = 0x55, 0xAA
	}
	binary.LittleEndian.PutUint32(b[440:], 0xdeadbeef)
	put(0, 0, 0x83, 8, 16)
	put(0, 1, 0x05, 32, 64)
	put(32, 0, 0x83, 2, 8)   // logical 5 at 34
	put(32, 1, 0x05, 16, 32) // next EBR at 32+16
	put(48, 0, 0x82, 2, 8)   // logical 6 at 50
	return b
}

func TestSyntheticTables(t *testing.T) {
	pt, err := ReadPartitions(bytes.NewReader(synthGPT(64<<10, 4, [][2]uint64{{34, 63}, {64, 127}})), 64<<10)
	if err != nil || pt == nil || pt.Type != "gpt" || len(pt.Partitions) != 2 {
		t.Fatalf("GPT: %+v, %v", pt, err)
	}
	if p := pt.Partitions[1]; p.Number != 2 || p.Start != 64*512 || p.Size != 64*512 || p.Name != "root" || p.TypeName != "Linux filesystem" {
		t.Errorf("GPT partition 2 = %+v", p)
	}
	bad := synthGPT(64<<10, 4, [][2]uint64{{34, 63}})
	bad[1024+40] ^= 1 // an entry changed: the entries' CRC no longer matches
	if _, err := ReadPartitions(bytes.NewReader(bad), 64<<10); err == nil {
		t.Error("GPT with a bad entries CRC accepted")
	}
	pt, err = ReadPartitions(bytes.NewReader(synthMBR()), 64<<10)
	if err != nil || pt == nil || pt.Type != "dos" || pt.UUID != "deadbeef" {
		t.Fatalf("MBR: %+v, %v", pt, err)
	}
	var got []string
	for _, p := range pt.Partitions {
		got = append(got, fmt.Sprintf("%d@%d+%d", p.Number, p.Start/512, p.Size/512))
	}
	if want := "[1@8+16 2@32+64 5@34+8 6@50+8]"; fmt.Sprint(got) != want {
		t.Errorf("MBR partitions %v, want %s", got, want)
	}
}

func fuzzSeeds(f *testing.F) {
	f.Add([]byte{})
	f.Add(synthGPT(16<<10, 4, [][2]uint64{{34, 40}, {41, 31}}))
	f.Add(synthMBR()[:32<<10])
	btrfs := make([]byte, 0x11000)
	copy(btrfs[0x10040:], "_BHRfS_M")
	f.Add(btrfs)
	for _, s := range probeSeeds() {
		f.Add(s)
	}
}

// probeSeeds are small crafted headers of the types the prober knows
// beyond the mkfs images in testdata/fuzz: volumes, RAID members,
// encrypted containers, and filesystems with labels in directories.
func probeSeeds() [][]byte {
	mk := func(size int, parts ...any) []byte {
		b := make([]byte, size)
		for i := 0; i+1 < len(parts); i += 2 {
			switch v := parts[i+1].(type) {
			case string:
				copy(b[parts[i].(int):], v)
			case []byte:
				copy(b[parts[i].(int):], v)
			}
		}
		return b
	}
	le16 := func(v uint16) []byte { return binary.LittleEndian.AppendUint16(nil, v) }
	le32 := func(v uint32) []byte { return binary.LittleEndian.AppendUint32(nil, v) }
	le64 := func(v uint64) []byte { return binary.LittleEndian.AppendUint64(nil, v) }
	be32 := func(v uint32) []byte { return binary.BigEndian.AppendUint32(nil, v) }
	lvm := mk(1024, 512, "LABELONE", 512+8, le64(1), 512+20, le32(32), 512+24, "LVM2 001", 512+32, "0123456789abcdefghijklmnopqrstuv")
	copy(lvm[512+16:], le32(lvm2CRC(lvm[512+20:1024])))
	udf := mk(257*512+512, 0x8001, "BEA01", 0x8801, "NSR02", 0x9001, "TEA01",
		256*512, le16(2), 256*512+12, le32(256), 256*512+16, le32(2*512), 256*512+20, le32(257),
		257*512, le16(6), 257*512+12, le32(257), 257*512+21, "OSTA Compressed Unicode",
		257*512+84, "\x08label", 257*512+84+127, "\x06")
	return [][]byte{
		lvm,
		udf,
		mk(4096+256, 4096, le32(0xa92b4efc), 4096+4, le32(1), 4096+144, le64(8), 4096+32, "host:md0"),
		mk(4096, 0, "LUKS\xba\xbe\x00\x02", 24, "label", 168, "0b5e5f8a-1c5e-4e4d-9f4e-0d1c2b3a4f5e"),
		mk(4096, 0, "\xeb\x58\x90-FVE-FS-", 176, le64(1024), 1024, "-FVE-FS-", 1034, le16(2)),
		mk(4096, 24, le16(1), 32, "NXSB", 36, le32(4096)),
		mk(8192, 0xff6, "S1SUSPEND", 1024, le32(1), 1028, le32(9)),
		mk(8192, 4096+24, bcacheMagic, 4096+8, le64(8)),
		mk(2048, 1024, "BD", 1024+20, be32(512), 1024+36, "\x03Mac"),
		mk(2048, 1024, "H+", 1024+40, be32(4096)),
		mk(4096, 1024, "\x10\x20\xF5\xF2\x01\x00\x0f\x00", 1024+0x7C, "l\x00a\x00b\x00"),
		mk(2048, 0, "-rom1fs-", 16, "romlab"),
		mk(2048, 0, "\x45\x3d\xcd\x28", 48, "cramlab"),
		// FAT12 with the label in the root directory (not only the boot
		// sector), and exFAT with its label entry.
		mk(10240, 0, "\xeb\x3c\x90mkfs.fat", 11, le16(512), 13, "\x01", 14, le16(1), 16, "\x02", 17, le16(16),
			19, le16(2880), 21, "\xf8", 22, le16(9), 0x26, "\x29\x01\x02\x03\x04BOOTLBL    FAT12   ", 510, "\x55\xaa",
			19*512, "ROOTLBL    \x08"),
		mk(16384+64, 3, "EXFAT   ", 80, le32(24), 88, le32(32), 96, le32(2), 108, "\x09\x00",
			32*512, "\x83\x03l\x00b\x00l\x00"),
		mk(32768+256, 32768, "JFS1", 32768+16, le32(4096), 32768+20, le16(12), 32768+22, le16(3), 32768+24, le32(512), 32768+28, le16(9), 32768+152, "jfslab"),
		mk(2048, 1024+16, le16(0x137F), 1024, le16(32), 1024+4, le16(1), 1024+6, le16(1), 1024+2, le16(64)),
		// The rarer types (others.go) and their containers: magics and the
		// fields their probers read, checksums left wrong where they have
		// one (the fuzzer finds its way past them or not at all).
		mk(4096, 0, "\xce\xfa\xad\x1b"),
		mk(0x2400, 0, "\xeb\x3c\x90", 38, "\x28\x01\x02\x03\x04OS2        HPFS    ", 510, "\x55\xaa",
			0x2000, "\x49\xe8\x95\xf9\x00\x00\x00\x00\x02", 0x2200, "\x49\x18\x91\xf9"),
		mk(2048, 1024, "\xf5\xfc\x01\xa5", 1028, le32(4)),
		mk(8192+8, 8192, "\xa5\x01\xfc\xf5", 8196, be32(6)),
		mk(4096, 0, "SFOZ", 8, "zone"),
		mk(4096+364, 4096, "SPB5", 4096+8, le16(5)),
		mk(4096, 0, "dmvdo001", 40, "0123456789abcdef"),
		mk(4096, 0, "bluestore block device\n"),
		mk(0x1000+8, 0, "$DRBDmgr=q 0123456789abcdef0123456789abcdef\n", 0x1000, "\x1a\xdb\x98\xa2\x00\x00\x00\x01"),
		mk(4096, 0, "mpoolDev", 8, "mp1"),
		mk(4096, 0, "UBI#\x01"),
		mk(4096, 0, "\x31\x18\x10\x06"),
		mk(4096, 8, le16(1), 10, le16(0x10), 88, "CS", 90, le32(1), 168, le32(16), 172, le32(2)),
		mk(64<<10+4096, 64<<10+4, "\x8b\x42\x3c\x10", 64<<10+48, le64(1)),
		mk(2048+232+32, 512, "vol", 512+32, le32(befsMagic1), 512+36, le32(befsEndian), 512+40, le32(2048), 512+44, le32(11),
			512+68, le32(befsMagic2), 512+112, le32(befsMagic3), 512+116, "\x00\x00\x00\x00\x01\x00\x01\x00",
			2048, le32(befsInodeMagic), 2048+64, le32(256)),
		mk(12288, 8192+60, "\x83\x74\x02\x6d", 8192+80, be32(4096)), // DRBD 9 metadata in the last 4 KiB
		mk(0x4000+512, 0x4000, "SKUL\xba\xbe\x00\x02", 0x4000+256, "\x00\x00\x00\x00\x00\x00\x40\x00"),
	}
}

// sparseImage is data at the start and again at the end of a large,
// otherwise zero image: it takes the probers that need a big device
// (ZFS, GFS2, OCFS2, JFS, the xfs log) and the end-of-disk ones (RAID
// metadata, NILFS2's backup) through fuzzed bytes.
type sparseImage struct {
	data []byte
	size int64
}

func (s sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	if int64(n) > s.size-off {
		n = int(s.size - off)
	}
	clear(p[:n])
	copy(p[:n], s.data[min(off, int64(len(s.data))):])
	tail := s.size - int64(len(s.data))
	for i := 0; i < n; {
		o := off + int64(i)
		if o >= tail {
			i += copy(p[i:n], s.data[o-tail:])
			continue
		}
		i += int(min(int64(n-i), tail-o))
	}
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// FuzzReadPartitions: the MBR/GPT reader never panics, bounds every
// read by the data, and never returns a negative partition.
func FuzzReadPartitions(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		pt, _ := ReadPartitions(bytes.NewReader(data), int64(len(data)))
		if pt == nil {
			return
		}
		if len(pt.Partitions) > 4+128+1<<20/128 {
			t.Fatalf("%d partitions", len(pt.Partitions))
		}
		for _, p := range pt.Partitions {
			if p.Start < 0 || p.Size < 0 || p.Number < 1 {
				t.Fatalf("partition %+v", p)
			}
		}
	})
}

// TestWriteFuzzSeeds regenerates testdata/fuzz from the fixtures when
// LOOPS_WRITE_FUZZ_SEEDS=1: the first bytes of each real image.
func TestWriteFuzzSeeds(t *testing.T) {
	testkit.SkipUnlessWritingSeeds(t)
	fx := blocklooptest.Fixtures(t)
	heads := map[string]int{"ext4": 2048, "ext2": 2048, "ext3": 2048, "squashfs": 96, "erofs": 1152, "xfs": 512,
		"vfat": 512, "exfat": 512, "swap": 4096, "mbr": 512, "iso9660": 0x8000 + 3*2048}
	// Heads of the images of the types TestProbeTypesAgreeWithBlkid makes
	// with tools, where the head holds what the prober reads.
	// A negative size is a tail: FuzzProbe's sparse image puts the seed at
	// the end of a large image as well as at its start.
	newHeads := map[string]int{"f2fs": 0x400 + 0x7C + 1024, "nilfs2": 2048, "ntfs": 20 << 10, "minix3": 2048,
		"luks2": 1024, "cramfs": 1024, "romfs": 1024, "bfs": 512, "ubifs": 4096, "ubi": 4096, "drbd-v09": -4096, "drbd-v08": -4096}
	for _, c := range append(probeCases, rareCases...) {
		n, ok := newHeads[c.name]
		if !ok {
			continue
		}
		b, err := os.ReadFile(c.make(t, t.TempDir()))
		if err != nil {
			t.Fatal(err)
		}
		if n < 0 {
			b = b[max(0, len(b)+n):]
		} else {
			b = b[:min(n, len(b))]
		}
		seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b)
		if err := os.WriteFile(filepath.Join("testdata", "fuzz", "FuzzProbe", c.name), []byte(seed), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	for _, target := range []string{"FuzzProbe", "FuzzReadPartitions"} {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		for name, n := range heads {
			if target == "FuzzReadPartitions" && name != "mbr" && name != "vfat" && name != "exfat" {
				continue
			}
			b, err := os.ReadFile(fx.Images[name])
			if err != nil {
				t.Fatal(err)
			}
			if n > len(b) {
				n = len(b)
			}
			seed := fmt.Sprintf("go test fuzz v1\n[]byte(%q)\n", b[:n])
			if err := os.WriteFile(filepath.Join(dir, name), []byte(seed), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
}
