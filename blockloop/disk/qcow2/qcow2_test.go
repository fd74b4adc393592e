package qcow2_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/internal/testkit"
)

// The tests build images with the real qemu-img and qemu-io (Debian
// qemu-utils) and compare every byte this reader returns with what
// `qemu-img convert -O raw` writes for the same image, the virtual size
// with `qemu-img info`, and Map with `qemu-img map`.

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// sourceSize is not a multiple of 4 KiB, 64 KiB or 2 MiB clusters.
const sourceSize = 3<<20 + 4608

// makeSource writes a raw disk of sourceSize bytes: random data,
// compressible text, a hole, a region of written zeros, random bytes at
// odd offsets and a random tail.
func makeSource(t testing.TB, dir string) string {
	t.Helper()
	rng := rand.New(rand.NewPCG(1, 2))
	b := make([]byte, sourceSize)
	fill := func(from, to int) {
		for i := from; i < to; i++ {
			b[i] = byte(rng.Uint32())
		}
	}
	fill(0, 600<<10) // random
	var text bytes.Buffer
	for i := 0; text.Len() < 1<<20; i++ {
		fmt.Fprintf(&text, "line %d of some compressible text, %d\n", i, i*i%977)
	}
	copy(b[700<<10:], text.Bytes()[:1<<20]) // 700K..1724K text
	// 1724K..2300K: hole (zeros, left sparse below); 2300K..2500K written zeros.
	fill(2500<<10+333, 2500<<10+333+70000) // odd offset, odd length
	fill(2800<<10+1, 2800<<10+2)           // one byte
	fill(sourceSize-9000, sourceSize)      // tail
	p := filepath.Join(dir, "source.raw")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// openImage opens a qcow2 file with a Backing opener that resolves names
// relative to the overlay's directory and opens qcow2 or raw backings.
func openImage(t testing.TB, path string) *qcow2.Image {
	t.Helper()
	im, _, err := openChain(t, path, 0)
	if err != nil {
		t.Fatalf("open %s: %v", path, err)
	}
	return im
}

func openChain(t testing.TB, path string, depth int) (*qcow2.Image, int64, error) {
	f, size, err := disktest.OpenRaw(t, path)
	if err != nil {
		return nil, 0, err
	}
	im, err := qcow2.Open(f, size, qcow2.Options{Backing: backingOpener(t, filepath.Dir(path), depth+1)})
	if err != nil {
		return nil, 0, err
	}
	return im, im.Size(), nil
}

func backingOpener(t testing.TB, dir string, depth int) func(name, format string) (io.ReaderAt, int64, error) {
	return func(name, format string) (io.ReaderAt, int64, error) {
		if depth > 8 {
			return nil, 0, errors.New("backing chain too deep")
		}
		if !filepath.IsAbs(name) {
			name = filepath.Join(dir, name)
		}
		switch format {
		case "qcow2":
			return openChain(t, name, depth)
		case "raw":
			return disktest.OpenRaw(t, name)
		}
		return nil, 0, fmt.Errorf("backing format %q not handled by the test", format)
	}
}

type qemuInfo struct {
	VirtualSize    int64  `json:"virtual-size"`
	ClusterSize    int64  `json:"cluster-size"`
	BackingFile    string `json:"backing-filename"`
	BackingFormat  string `json:"backing-filename-format"`
	FormatSpecific struct {
		Data struct {
			Compat          string `json:"compat"`
			CompressionType string `json:"compression-type"`
			ExtendedL2      bool   `json:"extended-l2"`
		} `json:"data"`
	} `json:"format-specific"`
}

func infoOf(t testing.TB, img string) qemuInfo {
	t.Helper()
	var i qemuInfo
	if err := json.Unmarshal([]byte(testkit.Run(t, disktest.QemuImg(t), "info", "--output=json", img)), &i); err != nil {
		t.Fatal(err)
	}
	return i
}

type qemuMap struct {
	Start, Length int64
	Depth         int
	Present       bool
	Zero, Data    bool
	Offset        *int64
}

// checkImage compares the reader with qemu-img on one image: size and
// header facts with `info`, every byte with `convert -O raw` (whole-disk
// reads in 1 MiB pieces, reads of odd sizes at odd offsets, and reads
// across the end), and Map with `map`.
func checkImage(t *testing.T, img string) *qcow2.Image {
	t.Helper()
	im := openImage(t, img)
	qi := infoOf(t, img)
	info := im.Info()
	if im.Size() != qi.VirtualSize || info.VirtualSize != qi.VirtualSize || info.ClusterSize != qi.ClusterSize {
		t.Fatalf("size %d / %+v, qemu-img info %+v", im.Size(), info, qi)
	}
	if want := map[string]int{"0.10": 2, "1.1": 3}[qi.FormatSpecific.Data.Compat]; info.Version != want {
		t.Errorf("version %d, qemu-img says compat %s", info.Version, qi.FormatSpecific.Data.Compat)
	}
	if info.Version == 3 && (info.CompressionType != qi.FormatSpecific.Data.CompressionType || info.ExtendedL2 != qi.FormatSpecific.Data.ExtendedL2) {
		t.Errorf("info %+v, qemu-img %+v", info, qi.FormatSpecific.Data)
	}
	if info.BackingFile != qi.BackingFile || info.BackingFormat != qi.BackingFormat {
		t.Errorf("backing %q %q, qemu-img %q %q", info.BackingFile, info.BackingFormat, qi.BackingFile, qi.BackingFormat)
	}
	want := disktest.RawOf(t, img)
	if int64(len(want)) != im.Size() {
		t.Fatalf("qemu-img convert wrote %d bytes, Size is %d", len(want), im.Size())
	}
	got := make([]byte, len(want))
	for off := 0; off < len(got); off += 1 << 20 {
		end := min(off+1<<20, len(got))
		n, err := im.ReadAt(got[off:end], int64(off))
		if n != end-off || (err != nil && !(err == io.EOF && end == len(got))) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", end-off, off, n, err)
		}
	}
	compare(t, "whole disk", got, want, 0)
	rng := rand.New(rand.NewPCG(3, 4))
	buf := make([]byte, 300<<10)
	for i := 0; i < 200; i++ {
		n := 1 + rng.IntN(len(buf))
		if i%2 == 0 {
			n = 1 + rng.IntN(9000)
		}
		off := rng.Int64N(im.Size())
		m, err := im.ReadAt(buf[:n], off)
		wantN := min(int64(n), im.Size()-off)
		if int64(m) != wantN || (err != nil) != (wantN < int64(n)) || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", n, off, m, err)
		}
		compare(t, fmt.Sprintf("read of %d at %d", n, off), buf[:m], want[off:off+int64(m)], off)
	}
	if n, err := im.ReadAt(buf[:10], im.Size()); n != 0 || err != io.EOF {
		t.Errorf("read at Size: %d, %v", n, err)
	}
	if n, err := im.ReadAt(buf[:0], im.Size()+5); n != 0 || err != io.EOF {
		t.Errorf("read past Size: %d, %v", n, err)
	}
	checkMap(t, im, img)
	return im
}

func compare(t *testing.T, what string, got, want []byte, base int64) {
	t.Helper()
	if bytes.Equal(got, want) {
		return
	}
	i := 0
	for i < len(got) && got[i] == want[i] {
		i++
	}
	t.Fatalf("%s: differs from qemu-img convert -O raw at virtual offset %d: % x, want % x", what, base+int64(i),
		got[i:min(i+16, len(got))], want[i:min(i+16, len(want))])
}

// checkMap compares Map with `qemu-img map --output=json`: data at the same
// host offsets, compressed where qemu shows data without an offset, zeros,
// and the backing file where qemu reports a depth over 0.
func checkMap(t *testing.T, im *qcow2.Image, img string) {
	t.Helper()
	var qm []qemuMap
	if err := json.Unmarshal([]byte(testkit.Run(t, disktest.QemuImg(t), "map", "--output=json", img)), &qm); err != nil {
		t.Fatal(err)
	}
	ms, err := im.Map(0, im.Size())
	if err != nil {
		t.Fatal(err)
	}
	var pos int64
	for i, m := range ms {
		if m.Off != pos || m.Len <= 0 {
			t.Fatalf("mapping %d: %+v after %d", i, m, pos)
		}
		pos += m.Len
	}
	if pos != im.Size() {
		t.Fatalf("Map covers %d of %d bytes", pos, im.Size())
	}
	for _, q := range qm {
		for _, m := range ms {
			lo, hi := max(m.Off, q.Start), min(m.Off+m.Len, q.Start+q.Length)
			if lo >= hi {
				continue
			}
			var ok bool
			switch {
			case q.Depth > 0:
				ok = m.Kind == qcow2.Backing
			case q.Data && q.Offset != nil:
				ok = m.Kind == qcow2.Data && m.Host+(lo-m.Off) == *q.Offset+(lo-q.Start)
			case q.Data:
				ok = m.Kind == qcow2.Compressed
			case q.Zero:
				ok = m.Kind == qcow2.Zero
			}
			if !ok {
				t.Fatalf("virtual [%d, %d): Map says %+v (%v), qemu-img map %+v (offset %v)", lo, hi, m, m.Kind, q, deref(q.Offset))
			}
		}
	}
}

func deref(p *int64) any {
	if p == nil {
		return nil
	}
	return *p
}

// TestConvert: images qemu-img converts from a raw disk, in v2 and v3,
// every cluster size from 512 bytes to 2 MiB, compressed with zlib and
// zstd, with extended L2 entries.
func TestConvert(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := makeSource(t, dir)
	cases := []struct {
		name string
		args []string
	}{
		{"v2", []string{"-o", "compat=0.10"}},
		{"v2-512", []string{"-o", "compat=0.10,cluster_size=512"}},
		{"v3-512", []string{"-o", "cluster_size=512"}},
		{"v3-4k", []string{"-o", "cluster_size=4096"}},
		{"v3-64k", []string{"-o", "cluster_size=65536"}},
		{"v3-2M", []string{"-o", "cluster_size=2M"}},
		{"zlib", []string{"-c"}},
		{"zlib-v2", []string{"-c", "-o", "compat=0.10"}},
		{"zlib-512", []string{"-c", "-o", "cluster_size=512"}},
		{"zlib-2M", []string{"-c", "-o", "cluster_size=2M"}},
		{"zstd", []string{"-c", "-o", "compression_type=zstd"}},
		{"zstd-4k", []string{"-c", "-o", "compression_type=zstd,cluster_size=4096"}},
		{"zstd-2M", []string{"-c", "-o", "compression_type=zstd,cluster_size=2M"}},
		{"extl2-16k", []string{"-o", "extended_l2=on,cluster_size=16384"}},
		{"extl2-64k", []string{"-o", "extended_l2=on,cluster_size=65536"}},
		{"extl2-zstd", []string{"-c", "-o", "extended_l2=on,compression_type=zstd"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			img := filepath.Join(dir, c.name+".qcow2")
			args := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, c.args...)
			testkit.Run(t, disktest.QemuImg(t), append(args, src, img)...)
			im := checkImage(t, img)
			// The raw source is what qemu-img read, too.
			want, _ := os.ReadFile(src)
			got := make([]byte, len(want))
			if _, err := im.ReadAt(got, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
			compare(t, "against the raw source", got, want, 0)
			ms, _ := im.Map(0, im.Size())
			kinds := map[qcow2.Kind]bool{}
			for _, m := range ms {
				kinds[m.Kind] = true
			}
			if strings.Contains(strings.Join(c.args, " "), "-c") != kinds[qcow2.Compressed] {
				t.Errorf("kinds %v for %v", kinds, c.args)
			}
		})
	}
}

// qemuIO runs qemu-io commands on an image.
func qemuIO(t testing.TB, img string, cmds ...string) {
	t.Helper()
	args := []string{"-f", "qcow2"}
	for _, c := range cmds {
		args = append(args, "-c", c)
	}
	testkit.Run(t, testkit.Tool(t, "qemu-io"), append(args, img)...)
}

// TestOverlay: an overlay on a compressed qcow2 base, larger than the base
// (zeros past its end), with data and zero writes, and an overlay on that
// overlay; then the same opened without its backing file.
func TestOverlay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := makeSource(t, dir)
	base := filepath.Join(dir, "base.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=4096", src, base)
	ov := filepath.Join(dir, "ov.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "create", "-f", "qcow2", "-b", "base.qcow2", "-F", "qcow2", ov, "5M")
	qemuIO(t, ov, "write -P 0xab 4k 8k", "write -z 1M 64k", "write -P 0x11 3M 100k", "write -P 0x22 4M 5k",
		"write -z 2500k 4k", "write -P 0x33 0x2a0000 512",
		// A zero cluster that keeps its host cluster (zero flag with an offset).
		"write -P 0x44 4160k 64k", "write -z 4160k 64k")
	checkImage(t, ov)

	ov2 := filepath.Join(dir, "ov2.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "create", "-f", "qcow2", "-o", "cluster_size=512", "-b", "ov.qcow2", "-F", "qcow2", ov2, "5M")
	qemuIO(t, ov2, "write -P 0xcd 6k 1k", "write -z 4M 512")
	checkImage(t, ov2)

	// Without Options.Backing: the overlay's own clusters read, the rest
	// fails with ErrNoBacking.
	f, err := os.Open(ov)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	st, _ := f.Stat()
	im, err := qcow2.Open(f, st.Size(), qcow2.Options{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8<<10)
	if _, err := im.ReadAt(buf, 4<<10); err != nil || buf[0] != 0xab || buf[len(buf)-1] != 0xab {
		t.Errorf("overlay cluster without backing: %v %x", err, buf[0])
	}
	if _, err := im.ReadAt(buf, 1<<20); err != nil || bytes.ContainsFunc(buf, func(r rune) bool { return r != 0 }) {
		t.Errorf("zero cluster without backing: %v", err)
	}
	if _, err := im.ReadAt(buf, 100<<10); !errors.Is(err, qcow2.ErrNoBacking) {
		t.Errorf("unallocated cluster without backing: %v", err)
	}
	ms, err := im.Map(0, im.Size())
	if err != nil || len(ms) < 2 || ms[1].Kind != qcow2.Backing {
		t.Errorf("Map without backing: %v %+v", err, ms)
	}
}

// TestExtendedL2Overlay: subcluster-sized writes on an overlay with
// extended L2 entries (32 subclusters of 2 KiB in a 64 KiB cluster):
// allocated, zero and unallocated subclusters of one cluster, the last
// read from a raw backing file.
func TestExtendedL2Overlay(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	makeSource(t, dir)
	ov := filepath.Join(dir, "ov.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "create", "-f", "qcow2", "-o", "extended_l2=on,cluster_size=65536",
		"-b", "source.raw", "-F", "raw", ov, "4M")
	qemuIO(t, ov, "write -P 0xab 4k 2k", "write -P 0xac 10k 6k", "write -z 20k 2k", "write -z 64k 64k",
		"write -P 0xad 130k 1k", "write -P 0xae 200k 64k", "write -z 3276k 4k", "write -P 0xaf 3900k 3k")
	im := checkImage(t, ov)
	if !im.Info().ExtendedL2 {
		t.Error("ExtendedL2 not reported")
	}
	ms, _ := im.Map(0, 64<<10)
	var kinds []string
	for _, m := range ms {
		kinds = append(kinds, fmt.Sprintf("%d+%d:%v", m.Off, m.Len, m.Kind))
	}
	if want := "0+4096:backing 4096+2048:data 6144+4096:backing 10240+6144:data 16384+4096:backing 20480+2048:zero 22528+43008:backing"; strings.Join(kinds, " ") != want {
		t.Errorf("first cluster: %s\nwant %s", strings.Join(kinds, " "), want)
	}
}

// TestConcurrent reads a compressed image from several goroutines at
// once, through small caches.
func TestConcurrent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	src := makeSource(t, dir)
	img := filepath.Join(dir, "c.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "cluster_size=4096", src, img)
	want, _ := os.ReadFile(src)
	f, _ := os.Open(img)
	defer f.Close()
	st, _ := f.Stat()
	im, err := qcow2.Open(f, st.Size(), qcow2.Options{Limits: qcow2.Limits{MaxCacheBytes: 8192, MaxClusterCacheBytes: 8192}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 8)
	for g := range 8 {
		go func() {
			rng := rand.New(rand.NewPCG(uint64(g), 9))
			buf := make([]byte, 20000)
			for range 300 {
				n := 1 + rng.IntN(len(buf))
				off := rng.Int64N(im.Size() - int64(n))
				if _, err := im.ReadAt(buf[:n], off); err != nil {
					errs <- err
					return
				}
				if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
					errs <- fmt.Errorf("read of %d at %d differs", n, off)
					return
				}
			}
			errs <- nil
		}()
	}
	for range 8 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}
