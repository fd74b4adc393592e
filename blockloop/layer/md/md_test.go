package md

import (
	"bytes"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/layer/md/mdtest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// examine runs `mdadm --examine` on the member (mdadm reads a file's
// superblock without the md driver) and returns its fields.
func examine(t *testing.T, member []byte) map[string]string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "member.img")
	os.WriteFile(p, member, 0o600)
	out := testkit.Run(t, testkit.Tool(t, "mdadm"), "--examine", p)
	f := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		k, v, ok := strings.Cut(l, " : ")
		if ok {
			f[strings.TrimSpace(k)] = strings.TrimSpace(v)
		}
	}
	return f
}

// fsImage is an ext4 image of size bytes holding a few files, as mkfs
// makes it.
func fsImage(t *testing.T, size int64) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "src")
	os.MkdirAll(src, 0o755)
	big := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{9}).Read(big)
	os.WriteFile(filepath.Join(src, "big.bin"), big, 0o644)
	os.WriteFile(filepath.Join(src, "hello.txt"), []byte("hello from md\n"), 0o644)
	img := filepath.Join(dir, "fs.img")
	blocklooptest.Ext4(t, img, "mdroot", src, size)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func readAll(t *testing.T, d *Data) []byte {
	t.Helper()
	b := make([]byte, d.Size())
	if n, err := d.ReadAt(b, 0); n != len(b) || (err != nil && err != io.EOF) {
		t.Fatalf("ReadAt: %d, %v", n, err)
	}
	if _, err := d.ReadAt(make([]byte, 1), d.Size()); err != io.EOF {
		t.Fatalf("past the end: %v", err)
	}
	return b
}

// A RAID1 member of each superblock version, holding an ext4 image:
// mdadm --examine agrees with Info, and Data reads the ext4 image.
func TestRAID1Versions(t *testing.T) {
	const fsSize = 8 << 20
	fs := fsImage(t, fsSize)
	memberSize := int64(fsSize + 2<<20)
	cases := []struct {
		ver     string
		superAt int64
		dataOff int64
	}{
		{"1.2", 4096, 1 << 20},
		{"1.1", 0, 1 << 20},
		{"1.0", mdtest.Super1EndOffset(memberSize), 0},
		{"0.90", mdtest.Super0Offset(memberSize), 0},
	}
	for _, c := range cases {
		t.Run(c.ver, func(t *testing.T) {
			m := make([]byte, memberSize)
			if c.ver == "0.90" {
				mdtest.Super0(m, 1, 2, fsSize/1024, false)
			} else {
				mdtest.Super1(m, mdtest.Spec{Level: 1, Disks: 2, Name: "box:root", SuperAt: c.superAt, DataOff: c.dataOff, Used: fsSize, DataSize: fsSize, Role: 0})
			}
			copy(m[c.dataOff:], fs)
			mem, err := Open(bytes.NewReader(m), memberSize)
			if err != nil {
				t.Fatal(err)
			}
			in := mem.Info()
			if in.Version != c.ver || in.Level != 1 || in.LevelName != "raid1" || in.RaidDisks != 2 || in.Role != 0 || in.DataOffset != c.dataOff || in.ArraySize != fsSize || in.SuperAt != c.superAt {
				t.Fatalf("Info: %+v", in)
			}
			ex := examine(t, m)
			uuidKey, wantName := "Array UUID", "box:root"
			if c.ver == "0.90" {
				uuidKey, wantName = "UUID", ""
			}
			if !strings.HasPrefix(ex["Version"], c.ver) || ex["Raid Level"] != "raid1" || ex[uuidKey] != in.UUID || in.Name != wantName ||
				(wantName != "" && !strings.HasPrefix(ex["Name"], wantName)) || !strings.HasPrefix(ex["Array Size"], "8192 ") ||
				ex["Raid Devices"] != "2" || !strings.HasSuffix(ex["Checksum"], "- correct") {
				t.Fatalf("mdadm --examine: %v\nInfo: %+v", ex, in)
			}
			if c.dataOff != 0 && ex["Data Offset"] != itoa(c.dataOff/512)+" sectors" {
				t.Fatalf("mdadm says data offset %q, want %d sectors", ex["Data Offset"], c.dataOff/512)
			}
			d, err := mem.Data()
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(readAll(t, d), fs) {
				t.Fatal("the array's data is not the ext4 image")
			}
		})
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }

// Other levels are read for Info and refused for Data, naming the level;
// a spare or recovering RAID1 member is refused too.
func TestRefused(t *testing.T) {
	const size = 4 << 20
	for _, lv := range []struct {
		level int32
		name  string
	}{{5, "raid5"}, {0, "raid0"}, {-1, "linear"}, {6, "raid6"}, {10, "raid10"}} {
		m := make([]byte, size)
		s := mdtest.Spec{Level: lv.level, Disks: 4, SuperAt: 4096, DataOff: 1 << 20, Used: 2 << 20, DataSize: 3 << 20}
		if lv.level == 10 {
			s.Layout = 0x102 // near=2, as mdadm's default (mdadm --examine divides by the copies)
		}
		mdtest.Super1(m, s)
		mem, err := Open(bytes.NewReader(m), size)
		if err != nil {
			t.Fatal(err)
		}
		_, err = mem.Data()
		var le *LevelError
		if !errors.As(err, &le) || le.Name != lv.name || !errors.Is(err, errors.ErrUnsupported) || !strings.Contains(err.Error(), lv.name) {
			t.Fatalf("%s: %v", lv.name, err)
		}
		if ex := examine(t, m); ex["Raid Level"] != lv.name {
			t.Fatalf("mdadm says %q, we %q", ex["Raid Level"], lv.name)
		}
	}
	for name, s := range map[string]mdtest.Spec{
		"spare":      {Level: 1, Disks: 2, SuperAt: 4096, DataOff: 1 << 20, Used: 2 << 20, Role: mdtest.RoleSpare},
		"recovering": {Level: 1, Disks: 2, SuperAt: 4096, DataOff: 1 << 20, Used: 2 << 20, Features: mdtest.FeatureRecoveryOffset},
	} {
		m := make([]byte, size)
		mdtest.Super1(m, s)
		mem, err := Open(bytes.NewReader(m), size)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := mem.Data(); !errors.Is(err, ErrUnsupported) {
			t.Fatalf("%s: %v", name, err)
		}
	}
	m := make([]byte, size)
	mdtest.Super0(m, 1, 2, 1024, true)
	mem, err := Open(bytes.NewReader(m), size)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mem.Data(); !errors.Is(err, ErrUnsupported) || mem.Info().Role != -1 {
		t.Fatalf("0.90 spare: %v %+v", err, mem.Info())
	}
}

// Damaged superblocks: a clear error, no panic.
func TestHostile(t *testing.T) {
	const size = 4 << 20
	good := func() []byte {
		m := make([]byte, size)
		mdtest.Super1(m, mdtest.Spec{Level: 1, Disks: 2, SuperAt: 4096, DataOff: 1 << 20, Used: 2 << 20})
		return m
	}
	reseal := func(m []byte) []byte {
		sb := m[4096 : 4096+super1Size+2*int(le32(m[4096+220:]))]
		putLE32(sb[216:], super1Checksum(sb))
		return m
	}
	cases := map[string]func([]byte) []byte{
		"checksum":           func(m []byte) []byte { m[4096+100] ^= 1; return m },
		"data past the end":  func(m []byte) []byte { putLE64(m[4096+80:], 1<<40); return reseal(m) },
		"huge max_dev":       func(m []byte) []byte { putLE32(m[4096+220:], 1<<30); return m },
		"moved superblock":   func(m []byte) []byte { putLE64(m[4096+144:], 0); return reseal(m) },
		"data on superblock": func(m []byte) []byte { putLE64(m[4096+128:], 8); return reseal(m) },
		"device past roles":  func(m []byte) []byte { putLE32(m[4096+160:], 400); return reseal(m) },
	}
	for name, f := range cases {
		_, err := Open(bytes.NewReader(f(good())), size)
		var fe *FormatError
		var ce *ChecksumError
		if !errors.As(err, &fe) && !errors.As(err, &ce) {
			t.Errorf("%s: %v", name, err)
		}
		t.Logf("%s: %v", name, err)
	}
	if _, err := Open(bytes.NewReader(make([]byte, size)), size); !errors.Is(err, ErrNotMember) {
		t.Fatalf("zeros: %v", err)
	}
	if _, err := Open(bytes.NewReader(make([]byte, 100)), 100); !errors.Is(err, ErrNotMember) {
		t.Fatalf("tiny: %v", err)
	}
}

func putLE32(b []byte, v uint32) {
	b[0], b[1], b[2], b[3] = byte(v), byte(v>>8), byte(v>>16), byte(v>>24)
}
func putLE64(b []byte, v uint64) { putLE32(b, uint32(v)); putLE32(b[4:], uint32(v>>32)) }
