package qcow2_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/internal/testkit"
)

var be = binary.BigEndian

// smallImage makes a 1 MiB qcow2 image with qemu-img and qemu-io (data,
// zero clusters, holes) and returns its bytes.
func smallImage(t *testing.T, opts ...string) []byte {
	t.Helper()
	img := filepath.Join(t.TempDir(), "s.qcow2")
	args := []string{"create", "-f", "qcow2"}
	if len(opts) > 0 {
		args = append(args, "-o", strings.Join(opts, ","))
	}
	testkit.Run(t, disktest.QemuImg(t), append(args, img, "1M")...)
	qemuIO(t, img, "write -P 0x41 0 4k", "write -P 0x42 100k 3k", "write -z 200k 64k", "write -P 0x43 1020k 4k")
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// compressedImage converts a raw disk of compressible text with -c.
func compressedImage(t *testing.T, opts string) []byte {
	t.Helper()
	dir := t.TempDir()
	src := filepath.Join(dir, "s.raw")
	os.WriteFile(src, bytes.Repeat([]byte("compressible text, line after line\n"), 30000), 0o644)
	img := filepath.Join(dir, "c.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", opts, src, img)
	b, err := os.ReadFile(img)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// openAndRead opens b and reads the whole disk; it returns the first
// error.
func openAndRead(b []byte) (*qcow2.Image, error) {
	im, err := qcow2.Open(bytes.NewReader(b), int64(len(b)), qcow2.Options{})
	if err != nil {
		return nil, err
	}
	buf := make([]byte, 64<<10)
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
			return im, err
		}
	}
	if _, err := im.Map(0, im.Size()); err != nil {
		return im, err
	}
	return im, nil
}

func wantFormatError(t *testing.T, what string, err error) {
	t.Helper()
	var fe *qcow2.FormatError
	if !errors.As(err, &fe) {
		t.Errorf("%s: want a *FormatError, got %v", what, err)
		return
	}
	t.Logf("%s: %v", what, err)
}

func l1Entry0(b []byte) (pos int, l2 uint64) {
	l1 := be.Uint64(b[40:])
	return int(l1), be.Uint64(b[l1:]) & 0x00fffffffffffe00
}

// TestHostile: damaged real images give clear errors, never a panic or a
// hang.
func TestHostile(t *testing.T) {
	good := smallImage(t, "cluster_size=4096")
	if _, err := openAndRead(good); err != nil {
		t.Fatal(err)
	}
	mod := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cs := uint64(4096)
	l1pos, l2 := l1Entry0(good)

	// Not qcow2, and versions the reader does not read.
	_, err := openAndRead([]byte("QFI"))
	if !errors.Is(err, qcow2.ErrNotQcow2) {
		t.Errorf("3 bytes: %v", err)
	}
	_, err = openAndRead(make([]byte, 4096))
	if !errors.Is(err, qcow2.ErrNotQcow2) {
		t.Errorf("zeros: %v", err)
	}
	for _, v := range []uint32{1, 4} {
		_, err = openAndRead(mod(func(b []byte) []byte { be.PutUint32(b[4:], v); return b }))
		if !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("version %d: %v", v, err)
		}
	}

	for _, c := range []struct {
		name string
		b    []byte
	}{
		{"truncated to 50 bytes", good[:50]},
		{"truncated to 100 bytes (v3)", good[:100]},
		{"truncated to 5 clusters", good[:5*cs]},
		{"header_length 100 on v3", mod(func(b []byte) []byte { be.PutUint32(b[100:], 100); return b })},
		{"header_length over the cluster", mod(func(b []byte) []byte { be.PutUint32(b[100:], 8192); return b })},
		{"cluster_bits 30", mod(func(b []byte) []byte { be.PutUint32(b[20:], 30); return b })},
		{"cluster_bits 8", mod(func(b []byte) []byte { be.PutUint32(b[20:], 8); return b })},
		{"L1 offset past the end", mod(func(b []byte) []byte { be.PutUint64(b[40:], uint64(len(b))+cs*8); return b })},
		{"L1 offset unaligned", mod(func(b []byte) []byte { be.PutUint64(b[40:], be.Uint64(b[40:])+8); return b })},
		{"L1 table too small", mod(func(b []byte) []byte { be.PutUint32(b[36:], 0); return b })},
		{"L2 table offset unaligned", mod(func(b []byte) []byte { be.PutUint64(b[l1pos:], l2+512|1<<63); return b })},
		{"L2 table offset past the end", mod(func(b []byte) []byte { be.PutUint64(b[l1pos:], 1<<40|1<<63); return b })},
		{"data cluster unaligned", mod(func(b []byte) []byte { b[l2+6] ^= 0x02; return b })},
		{"data cluster past the end", mod(func(b []byte) []byte { be.PutUint64(b[l2:], 1<<45|1<<63); return b })},
		{"backing name past the cluster", mod(func(b []byte) []byte { be.PutUint64(b[8:], 4090); be.PutUint32(b[16:], 100); return b })},
		{"compression bit with zlib", mod(func(b []byte) []byte { b[79] |= 1 << 3; b[104] = 0; return b })},
		{"header extension too long", mod(func(b []byte) []byte { be.PutUint32(b[be.Uint32(b[100:])+4:], 100000); return b })},
	} {
		_, err := openAndRead(c.b)
		wantFormatError(t, c.name, err)
	}

	// A data cluster cut by the end of the file reads as zeros past it,
	// as qemu reads it.
	im, err := openAndRead(good[:len(good)-100])
	if err != nil {
		t.Errorf("truncated inside the last data cluster: %v", err)
	} else {
		buf := make([]byte, 4096)
		im.ReadAt(buf, 1020<<10)
		if buf[0] != 0x43 || buf[4095] != 0 {
			t.Errorf("truncated inside the last data cluster: %x %x", buf[0], buf[4095])
		}
	}

	// Feature bits.
	_, err = openAndRead(mod(func(b []byte) []byte { b[79] |= 1 << 5; b[72] = 0x80; return b }))
	var fe *qcow2.UnsupportedFeatureError
	if !errors.As(err, &fe) || fe.Bits != 1<<5|1<<63 || !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("unknown incompatible bits: %v", err)
	} else {
		t.Log(err)
	}
	_, err = openAndRead(mod(func(b []byte) []byte { b[79] |= 1 << 2; return b }))
	if !errors.As(err, &fe) || fe.Bits != 1<<2 || !strings.Contains(err.Error(), "data file") {
		t.Errorf("external data file: %v", err)
	} else {
		t.Log(err)
	}
	_, err = openAndRead(mod(func(b []byte) []byte { b[79] |= 1 << 3; b[104] = 7; return b }))
	if !errors.Is(err, errors.ErrUnsupported) {
		t.Errorf("compression type 7: %v", err)
	}
	im, err = openAndRead(mod(func(b []byte) []byte { b[79] |= 3; return b }))
	if err != nil || !im.Info().Dirty || !im.Info().Corrupt || len(im.Info().Warnings) != 2 {
		t.Errorf("dirty and corrupt: %v %+v", err, im)
	}
	// A virtual size whose L1 table is over MaxL1Entries.
	_, err = openAndRead(mod(func(b []byte) []byte { be.PutUint64(b[24:], 1<<50); be.PutUint32(b[36:], 1<<31); return b }))
	var le *qcow2.LimitError
	if !errors.As(err, &le) || le.Limit != "MaxL1Entries" {
		t.Errorf("huge L1: %v", err)
	}
	// Virtual size over 63 bits.
	_, err = openAndRead(mod(func(b []byte) []byte { be.PutUint64(b[24:], 1<<63); return b }))
	wantFormatError(t, "size over 63 bits", err)
}

// TestHostileCompressed: compressed data cut off by the end of the file,
// or pointing past it, and garbage instead of deflate or zstd data.
func TestHostileCompressed(t *testing.T) {
	for _, typ := range []string{"zlib", "zstd"} {
		good := compressedImage(t, "cluster_size=4096,compression_type="+typ)
		if _, err := openAndRead(good); err != nil {
			t.Fatal(err)
		}
		_, l2 := l1Entry0(good)
		e := be.Uint64(good[l2:])
		if e&(1<<62) == 0 {
			t.Fatalf("%s: first cluster not compressed: %#x", typ, e)
		}
		coff := e & (1<<58 - 1) // 62 - (12 - 8) bits of offset
		// The last compressed cluster cut in half by the end of the file.
		last := uint64(0)
		for i := uint64(0); i < 4096/8; i++ {
			if x := be.Uint64(good[l2+8*i:]); x&(1<<62) != 0 {
				last = max(last, x&(1<<58-1))
			}
		}
		wantFormatError(t, typ+": compressed data cut by the end of the file", second(openAndRead(good[:last+10])))
		b := bytes.Clone(good)
		be.PutUint64(b[l2:], e&^(1<<58-1)|uint64(len(b))-3)
		wantFormatError(t, typ+": compressed length past the end", second(openAndRead(b)))
		b = bytes.Clone(good)
		be.PutUint64(b[l2:], e&^(1<<58-1)|uint64(len(b))+4096)
		wantFormatError(t, typ+": compressed offset past the end", second(openAndRead(b)))
		b = bytes.Clone(good)
		for i := range 64 {
			b[coff+uint64(i)] ^= 0x5a
		}
		wantFormatError(t, typ+": garbage compressed data", second(openAndRead(b)))
	}
}

// TestHostileExtendedL2: a subcluster both allocated and zero, and
// subclusters allocated in an unallocated cluster.
func TestHostileExtendedL2(t *testing.T) {
	good := smallImage(t, "cluster_size=16384", "extended_l2=on")
	if _, err := openAndRead(good); err != nil {
		t.Fatal(err)
	}
	_, l2 := l1Entry0(good)
	b := bytes.Clone(good)
	be.PutUint64(b[l2+8:], 1|1<<32)
	wantFormatError(t, "allocated and zero", second(openAndRead(b)))
	b = bytes.Clone(good)
	be.PutUint64(b[l2+16*20:], 0)
	be.PutUint64(b[l2+16*20+8:], 1)
	wantFormatError(t, "allocated subcluster without a cluster", second(openAndRead(b)))
}

func second[T any](_ T, err error) error { return err }
