package probe

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

func truncateFile(t testing.TB, p string, n int64) {
	t.Helper()
	f, err := os.Create(p)
	if err != nil {
		t.Fatal(err)
	}
	f.Truncate(n)
	f.Close()
}

func blkid(t *testing.T, path string) map[string]string {
	t.Helper()
	bin := blocklooptest.Tool(t, "blkid")
	out, err := testkit.Command(bin, "-p", "-o", "export", path).Output()
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 2 {
			return map[string]string{} // nothing found
		}
		t.Fatalf("blkid -p %s: %v", path, err)
	}
	m := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		if k, v, ok := strings.Cut(line, "="); ok {
			m[k] = unshell(v)
		}
	}
	return m
}

// TestProbeAgreesWithBlkid: on every fixture, Probe's TYPE, LABEL, UUID,
// PTTYPE and PTUUID equal those of `blkid -p`.
func TestProbeAgreesWithBlkid(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	for name, path := range fx.Images {
		t.Run(name, func(t *testing.T) {
			p, err := File(path, Options{})
			if err != nil {
				t.Fatal(err)
			}
			b := blkid(t, path)
			got := map[string]string{"TYPE": p.Type, "LABEL": p.Label, "UUID": p.UUID, "PTTYPE": p.PTType, "PTUUID": p.PTUUID, "VERSION": p.Version}
			keys := []string{"TYPE", "UUID", "PTTYPE", "PTUUID", "LABEL", "VERSION"}
			for _, k := range keys {
				if name == "exfat" && k == "PTTYPE" {
					// blkid also calls an exfat boot sector a "dos"
					// partition table, which it is not.
					continue
				}
				if got[k] != b[k] {
					t.Errorf("Probe(%s).%s = %q, blkid -p says %q", name, k, got[k], b[k])
				}
			}
			if p.Truncated() {
				t.Errorf("Probe(%s) says truncated: FSSize %d > Size %d", name, p.FSSize, p.Size)
			}
		})
	}
}

// TestProbePartitions: the MBR and GPT fixtures list both partitions at
// 1 MiB and 5 MiB, and find ext4 (with its label and UUID) in partition 2,
// as blkid does when probing the partition's bytes.
func TestProbePartitions(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	ext4 := blkid(t, fx.Images["ext4"])
	for _, name := range []string{"mbr", "gpt"} {
		path, ok := fx.Images[name]
		if !ok {
			testkit.Skip(t, "%s fixture missing (sfdisk missing)", name)
		}
		p, err := File(path, Options{})
		if err != nil {
			t.Fatal(err)
		}
		if p.Kind != KindPartitionTable || len(p.Partitions) != 2 {
			t.Fatalf("%s: Kind %s, %d partitions; want partition-table with 2", name, p.Kind, len(p.Partitions))
		}
		p1, p2 := p.Partitions[0], p.Partitions[1]
		if p1.Number != 1 || p1.Start != 1<<20 || p1.Size != 4<<20 || p2.Number != 2 || p2.Start != 5<<20 || p2.Size != 10<<20 {
			t.Errorf("%s: partitions %+v %+v", name, p1, p2)
		}
		if p1.FS == nil || p1.FS.Kind != KindUnknown {
			t.Errorf("%s: partition 1 should hold nothing, got %+v", name, p1.FS)
		}
		if p2.FS == nil || p2.FS.Type != "ext4" || p2.FS.Label != blocklooptest.Ext4Label || p2.FS.UUID != ext4["UUID"] {
			t.Errorf("%s: partition 2 = %+v, want ext4 %q %s", name, p2.FS, blocklooptest.Ext4Label, ext4["UUID"])
		}
		if name == "gpt" && (p2.TypeName != "Linux filesystem" || p2.UUID == "") {
			t.Errorf("gpt partition 2: type %q uuid %q", p2.TypeName, p2.UUID)
		}
	}
}

// TestProbeSynthetic covers what no mkfs here makes: disk images, LUKS,
// and truncated or ambiguous images.
func TestProbeSynthetic(t *testing.T) {
	mk := func(size int, parts ...any) []byte {
		b := make([]byte, size)
		for i := 0; i+1 < len(parts); i += 2 {
			copy(b[parts[i].(int):], parts[i+1].(string))
		}
		return b
	}
	tests := []struct {
		name     string
		data     []byte
		kind     Kind
		typ      string
		ambig    int
		truncate bool
	}{
		{"empty", make([]byte, 4096), KindUnknown, "", 0, false},
		{"tiny", []byte("x"), KindUnknown, "", 0, false},
		{"qcow2", mk(4096, 0, "QFI\xfb\x00\x00\x00\x03"), KindDiskImage, "qcow2", 0, false},
		{"vmdk", mk(4096, 0, "KDMV"), KindDiskImage, "vmdk", 0, false},
		{"vhdx", mk(4096, 0, "vhdxfile"), KindDiskImage, "vhdx", 0, false},
		{"vpc", mk(4096, 0, "conectix"), KindDiskImage, "vpc", 0, false},
		{"luks", mk(4096, 0, "LUKS\xba\xbe\x00\x02", 168, "0b5e5f8a-1c5e-4e4d-9f4e-0d1c2b3a4f5e"), KindCrypto, "crypto_LUKS", 0, false},
		{"xfs+squashfs", mk(8192, 0, "XFSB"), KindFilesystem, "xfs", 0, false},
		{"squashfs truncated", mk(4096, 0, "hsqs", 28, "\x04\x00", 40, "\x00\x00\x10\x00"), KindFilesystem, "squashfs", 0, true},
		{"bcachefs", mk(8192, 4096+16, "\x1c\x04", 4096+24, bcachefsMagic, 4096+104, "\x08", 4096+122, "\x00\x01"), KindFilesystem, "bcachefs", 0, false},
		{"bitlocker over FAT", mk(4096, 0, "\xeb\x52\x90-FVE-FS-", 11, "\x00\x02\x08\x01\x00\x02\x00\x02\x00\x00\xf8", 510, "\x55\xaa"), KindCrypto, "BitLocker", 0, false},
		{"ext+xfs ambiguous", mk(4096, 0, "XFSB", 1024+0x38, "\x53\xef"), KindFilesystem, "xfs", 1, false}, // blkid's order: xfs first
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p, err := Image(strings.NewReader(string(tt.data)), int64(len(tt.data)), Options{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Kind != tt.kind || p.Type != tt.typ || len(p.Ambiguous) != tt.ambig || p.Truncated() != tt.truncate {
				t.Errorf("Probe = kind %s type %q ambiguous %v truncated %v; want %s %q %d %v",
					p.Kind, p.Type, p.Ambiguous, p.Truncated(), tt.kind, tt.typ, tt.ambig, tt.truncate)
			}
		})
	}
}

// TestProbeTruncatedFixture: cutting the ext4 fixture in half makes Probe
// report the superblock's size beyond the file, and Decide refuse it.
func TestProbeTruncatedFixture(t *testing.T) {
	fx := blocklooptest.Fixtures(t)
	b, err := os.ReadFile(fx.Images["ext4"])
	if err != nil {
		t.Fatal(err)
	}
	half := b[:len(b)/2]
	p, err := Image(strings.NewReader(string(half)), int64(len(half)), Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !p.Truncated() || p.FSSize != int64(len(b)) {
		t.Fatalf("FSSize %d Size %d, want %d > %d", p.FSSize, p.Size, len(b), len(half))
	}
}

func TestMain(m *testing.M) { os.Exit(blocklooptest.Main(m)) }

// unshell undoes blkid's export escaping (a backslash before specials).
func unshell(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '\\' && i+1 < len(s) {
			i++
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// BenchmarkProbe: probing an ext4 image and a GPT disk (both partitions).
func BenchmarkProbe(b *testing.B) {
	dir := blocklooptest.Dir(b)
	src, _ := blocklooptest.Tree(b, dir)
	e := blocklooptest.Ext4(b, filepath.Join(dir, "e.img"), "bench", src, 8<<20)
	g := blocklooptest.Disk(b, filepath.Join(dir, "g.img"), "gpt", []int{4, 10}, []string{"", e})
	for _, img := range []string{e, g} {
		b.Run(filepath.Base(img), func(b *testing.B) {
			for b.Loop() {
				if _, err := File(img, Options{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
