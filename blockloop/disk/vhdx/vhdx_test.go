package vhdx

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestQemuImages(t *testing.T) {
	qemu := disktest.QemuImg(t)
	qio := testkit.Tool(t, "qemu-io")
	dir, src := disktest.Source(t, 5<<20+12345)
	for _, c := range []struct {
		name    string
		opts    string
		variant string
		block   int64
	}{
		{"dynamic-default", "", "dynamic", 8 << 20},
		{"dynamic-1M", "block_size=1M", "dynamic", 1 << 20},
		{"dynamic-32M", "block_size=32M", "dynamic", 32 << 20},
		{"fixed", "subformat=fixed", "fixed", 8 << 20},
		{"fixed-1M", "subformat=fixed,block_size=1M", "fixed", 1 << 20},
		{"dynamic-log1M", "block_size=1M,log_size=1M", "dynamic", 1 << 20},
	} {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".vhdx")
			args := []string{"convert", "-f", "raw", "-O", "vhdx"}
			if c.opts != "" {
				args = append(args, "-o", c.opts)
			}
			testkit.Run(t, qemu, append(args, src, img)...)
			im := openFile(t, img)
			if info := im.Info(); info.Variant != c.variant || info.BlockSize != c.block || info.LogicalSectorSize != 512 {
				t.Errorf("Info %+v", info)
			}
			disktest.CompareQemu(t, im, img)
			testkit.Run(t, qio, "-f", "vhdx", "-c", "write -P 0xcd 1M 64k", "-c", "write -P 0xab 4194000 1000", "-c", "write -z 0 4096", img)
			disktest.Compare(t, openFile(t, img), disktest.RawOf(t, img))
		})
	}
}

func TestHostile(t *testing.T) {
	qemu := disktest.QemuImg(t)
	dir, src := disktest.Source(t, 5<<20+12345)
	img := filepath.Join(dir, "d.vhdx")
	testkit.Run(t, qemu, "convert", "-f", "raw", "-O", "vhdx", "-o", "block_size=1M", src, img)
	good, _ := os.ReadFile(img)
	open := func(b []byte) (*Image, error) { return Open(bytes.NewReader(b), int64(len(b)), Options{}) }
	for _, n := range []int{0, 7, 8, 100, 64 << 10, 70 << 10, 200 << 10, 300 << 10, 1 << 20, 2<<20 + 100, 3 << 20, len(good) / 2} {
		err := disktest.OpenRead(open, good[:n])
		if err == nil {
			t.Errorf("truncated to %d: no error", n)
		} else if !isFormat(err) && !errors.Is(err, ErrNotVHDX) {
			t.Errorf("truncated to %d: %v (not a FormatError)", n, err)
		}
	}
	le := binary.LittleEndian
	// fix recomputes the CRC-32C of the structure at off (n bytes).
	fix := func(b []byte, off, n int) {
		le.PutUint32(b[off+4:], 0)
		le.PutUint32(b[off+4:], crc32.Checksum(b[off:off+n], crc32.MakeTable(crc32.Castagnoli)))
	}
	mod := func(f func(b []byte)) []byte {
		b := append([]byte(nil), good...)
		f(b)
		return b
	}
	batOff := int(le.Uint64(good[regionOffset1+16+16:]))
	metaOff := int(le.Uint64(good[regionOffset1+16+32+16:]))
	if string(good[regionOffset1+16+32:][:4]) != string(guidMetadata[:4]) {
		batOff, metaOff = metaOff, batOff
	}
	both := func(f func(b []byte, off int)) []byte {
		return mod(func(b []byte) {
			for _, off := range []int{headerOffset1, headerOffset2} {
				f(b, off)
				fix(b, off, headerSize)
			}
		})
	}
	regions := func(f func(b []byte, off int)) []byte {
		return mod(func(b []byte) {
			for _, off := range []int{regionOffset1, regionOffset2} {
				f(b, off)
				fix(b, off, regionSize)
			}
		})
	}
	cases := map[string][]byte{
		"bad header CRCs":  mod(func(b []byte) { b[headerOffset1+100] ^= 1; b[headerOffset2+100] ^= 1 }),
		"bad region CRCs":  mod(func(b []byte) { b[regionOffset1+100] ^= 1; b[regionOffset2+100] ^= 1 }),
		"log to replay":    both(func(b []byte, off int) { b[off+48] = 1 }),
		"version 2":        both(func(b []byte, off int) { le.PutUint16(b[off+66:], 2) }),
		"region past end":  regions(func(b []byte, off int) { le.PutUint64(b[off+16+16:], 1<<40) }),
		"region unaligned": regions(func(b []byte, off int) { le.PutUint64(b[off+16+16:], 3<<20+512) }),
		"many regions":     regions(func(b []byte, off int) { le.PutUint32(b[off+8:], 5000) }),
		"unknown required": regions(func(b []byte, off int) { b[off+16] ^= 0xff; le.PutUint32(b[off+16+28:], 1) }),
		"bat past end":     mod(func(b []byte) { le.PutUint64(b[batOff:], 1<<40|blockFullyPresent) }),
		"bad state":        mod(func(b []byte) { le.PutUint64(b[batOff:], 5) }),
		"partial, no parent": mod(func(b []byte) {
			le.PutUint64(b[batOff:], le.Uint64(b[batOff:])&^7|blockPartiallyPresent)
		}),
		"meta signature":   mod(func(b []byte) { b[metaOff] = 'x' }),
		"meta item offset": mod(func(b []byte) { le.PutUint32(b[metaOff+32+16:], 1<<30) }),
		"meta entries":     mod(func(b []byte) { le.PutUint16(b[metaOff+10:], 9999) }),
	}
	for name, b := range cases {
		err := disktest.OpenRead(open, b)
		if err == nil || !(isFormat(err) || errors.Is(err, errors.ErrUnsupported)) {
			t.Errorf("%s: %v", name, err)
		}
	}
	// One damaged header: the other is used, with a warning.
	b := mod(func(b []byte) { b[headerOffset1+100] ^= 1 })
	im, err := open(b)
	if err != nil || len(im.Info().Warnings) == 0 {
		t.Errorf("one bad header: %v", err)
	}
	if _, err := open([]byte("hello world, not a disk")); !errors.Is(err, ErrNotVHDX) {
		t.Errorf("text: %v", err)
	}
}

func TestProbe(t *testing.T) {
	if !Probe([]byte("vhdxfile\x00")) || Probe([]byte("vhdxfil")) || Probe([]byte("conectix")) {
		t.Fatal("Probe")
	}
}
