package blockloop

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
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
}

// FuzzProbe: Probe never panics on any bytes, never reports a partition
// with a negative start or size, and a result is always a known kind.
// Seeds: testdata/fuzz/FuzzProbe (heads of real mkfs images).
func FuzzProbe(f *testing.F) {
	fuzzSeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := Probe(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			t.Fatalf("Probe of in-memory data: %v", err)
		}
		for _, part := range p.Partitions {
			if part.Start < 0 || part.Size < 0 {
				t.Fatalf("partition %+v", part)
			}
		}
		_ = Decide(PlanInput{Probe: p, Kernel: map[string]bool{"ext4": true}})
	})
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
// LOOPS_WRITE_SEEDS=1: the first bytes of each real image.
func TestWriteFuzzSeeds(t *testing.T) {
	if os.Getenv("LOOPS_WRITE_SEEDS") != "1" {
		t.Skip("set LOOPS_WRITE_SEEDS=1 to regenerate testdata/fuzz")
	}
	fx := fixtures(t)
	heads := map[string]int{"ext4": 2048, "ext2": 2048, "ext3": 2048, "squashfs": 96, "erofs": 1152, "xfs": 512,
		"vfat": 512, "exfat": 512, "swap": 4096, "mbr": 512, "iso9660": 0x8000 + 3*2048}
	for _, target := range []string{"FuzzProbe", "FuzzReadPartitions"} {
		dir := filepath.Join("testdata", "fuzz", target)
		os.MkdirAll(dir, 0o755)
		for name, n := range heads {
			if target == "FuzzReadPartitions" && name != "mbr" && name != "vfat" && name != "exfat" {
				continue
			}
			b, err := os.ReadFile(fx.images[name])
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
