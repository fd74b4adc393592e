// Package disktest is what the tests of the disk image readers (qcow2,
// vmdk, vhdx, vdi, vpc) and of package disk share: raw source disks, images and
// their raw view made with the real qemu-img, a reader's virtual disk
// compared byte for byte with `qemu-img convert -O raw`, the fuzz targets'
// reads and the LOOPS_SPEED comparison with qemu-img. It imports none of
// the readers: a reader's image is anything with ReadAt and Size.
package disktest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// Image is a reader's virtual disk.
type Image interface {
	io.ReaderAt
	Size() int64
}

// Opener is a reader's Options.Open: it opens another file an image
// refers to by name.
type Opener = func(name string) (io.ReaderAt, int64, error)

// QemuImg is the path of qemu-img (the test skips, or fails under CI=true,
// without it).
func QemuImg(t testing.TB) string { return testkit.Tool(t, "qemu-img") }

// Source makes a temporary directory holding src.raw, a raw disk of size
// bytes (random data, holes and zero runs: see writeSource), and returns
// both paths.
func Source(t testing.TB, size int) (dir, src string) {
	t.Helper()
	dir = t.TempDir()
	src = filepath.Join(dir, "src.raw")
	writeSource(t, src, size)
	return dir, src
}

// writeSource writes a raw disk of random data, holes and zero runs whose
// size is not a multiple of a grain (nor of a sector).
func writeSource(t testing.TB, path string, size int) {
	t.Helper()
	b := make([]byte, size)
	r := rand.New(rand.NewSource(1))
	for _, x := range [][2]int{{0, 300000}, {1 << 20, 200000}, {(1 << 20) + 262144, 65536}, {3 << 20, 700000}, {5 << 20, size}} {
		if x[0] < size {
			r.Read(b[x[0]:min(x[0]+x[1], size)])
		}
	}
	// a run of zeros inside data
	clear(b[min(3<<20+100000, size):min(3<<20+300000, size)])
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// virtualSize asks qemu-img info for the virtual size.
func virtualSize(t testing.TB, img string) int64 {
	t.Helper()
	out := testkit.Run(t, QemuImg(t), "info", "--output=json", img)
	var v struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return v.VirtualSize
}

// RawOf converts img to raw with qemu-img (to img+".raw", removed again)
// and returns the bytes.
func RawOf(t testing.TB, img string) []byte {
	t.Helper()
	out := img + ".raw"
	testkit.Run(t, QemuImg(t), "convert", "-O", "raw", img, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(out)
	return b
}

// CompareQemu checks im, the reader's view of img, against qemu-img's:
// the virtual size `qemu-img info` reports, then every byte of `qemu-img
// convert -O raw` (see Compare).
func CompareQemu(t testing.TB, im Image, img string) {
	t.Helper()
	if vs := virtualSize(t, img); im.Size() != vs {
		t.Fatalf("Size %d, qemu-img info says %d", im.Size(), vs)
	}
	Compare(t, im, RawOf(t, img))
}

// OpenRaw opens a file read-only, closed at t's cleanup, with its size.
func OpenRaw(t testing.TB, path string) (io.ReaderAt, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, err
	}
	t.Cleanup(func() { f.Close() })
	st, err := f.Stat()
	if err != nil {
		return nil, 0, err
	}
	return f, st.Size(), nil
}

// DirOpener opens names relative to dir (see OpenRaw).
func DirOpener(t testing.TB, dir string) Opener {
	return func(name string) (io.ReaderAt, int64, error) {
		return OpenRaw(t, filepath.Join(dir, name))
	}
}

// OpenFile opens the image at path with a reader's Open, given the file,
// its size and a DirOpener for the files it refers to (relative to its
// directory). It fails the test when the image does not open.
func OpenFile[I any](t testing.TB, path string, open func(r io.ReaderAt, size int64, other Opener) (I, error)) I {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	im, err := open(f, st.Size(), DirOpener(t, filepath.Dir(path)))
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return im
}

// Compare reads the whole image (in odd-sized chunks, then random ranges
// from several goroutines) and compares with want.
func Compare(t testing.TB, im Image, want []byte) {
	t.Helper()
	if im.Size() != int64(len(want)) {
		t.Fatalf("Size %d, qemu-img raw is %d bytes", im.Size(), len(want))
	}
	got := make([]byte, len(want))
	for off, chunk := 0, 1<<20+4096; off < len(got); off += chunk {
		end := min(off+chunk, len(got))
		n, err := im.ReadAt(got[off:end], int64(off))
		if n != end-off || (err != nil && err != io.EOF) {
			t.Fatalf("ReadAt(%d bytes at %d) = %d, %v", end-off, off, n, err)
		}
	}
	if i := FirstDiff(got, want); i >= 0 {
		t.Fatalf("virtual disk differs from qemu-img's raw at byte %d", i)
	}
	var wg sync.WaitGroup
	for g := 0; g < 4; g++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			r := rand.New(rand.NewSource(seed))
			for i := 0; i < 200; i++ {
				off := r.Int63n(int64(len(want)))
				n := r.Intn(200000)
				buf := make([]byte, n)
				m, err := im.ReadAt(buf, off)
				exp := min(int64(n), int64(len(want))-off)
				if int64(m) != exp || (err != nil && err != io.EOF) || (int64(n) > exp && err != io.EOF) {
					t.Errorf("ReadAt(%d at %d) = %d, %v", n, off, m, err)
					return
				}
				if !bytes.Equal(buf[:m], want[off:off+int64(m)]) {
					t.Errorf("ReadAt(%d at %d): wrong bytes", n, off)
					return
				}
			}
		}(int64(g))
	}
	wg.Wait()
	if n, err := im.ReadAt(make([]byte, 10), im.Size()); n != 0 || err != io.EOF {
		t.Fatalf("read at Size: %d, %v", n, err)
	}
}

// FirstDiff is the first offset at which a and b differ (the shorter
// one's length when one is a prefix of the other), or -1.
func FirstDiff(a, b []byte) int {
	for i := 0; i < len(a) && i < len(b); i += 4096 {
		e := min(i+4096, len(a), len(b))
		if !bytes.Equal(a[i:e], b[i:e]) {
			for j := i; j < e; j++ {
				if a[j] != b[j] {
					return j
				}
			}
		}
	}
	if len(a) != len(b) {
		return min(len(a), len(b))
	}
	return -1
}

// ReadAll reads the whole virtual disk, returning the first error.
func ReadAll(im Image) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// OpenRead opens b with a reader's open and reads the whole virtual disk
// (ReadAll), and returns the error of either: nil when both work.
func OpenRead[I Image](open func(b []byte) (I, error), b []byte) error {
	im, err := open(b)
	if err != nil {
		return err
	}
	return ReadAll(im)
}

// ReadSome is a fuzz target's read of an opened image: the start, the
// end, and a few ranges in between. It fails t when ReadAt returns a count
// out of range, or a short read without an error.
func ReadSome(t testing.TB, im Image) {
	buf := make([]byte, 70000)
	size := im.Size()
	for _, off := range []int64{0, 4096, size / 3, size / 2, size - 65536, size - 1, size} {
		if off < 0 {
			continue
		}
		n, err := im.ReadAt(buf, off)
		if n < 0 || n > len(buf) {
			t.Fatalf("ReadAt returned %d", n)
		}
		if err == nil && n != len(buf) {
			t.Fatalf("ReadAt(%d at %d) = %d, nil", len(buf), off, n)
		}
	}
}

// Variant is an image a speed test makes: its name (the file is
// name+"."+format) and the qemu-img convert -o options that make it.
type Variant struct{ Name, Options string }

// Speed compares reading a 1 GiB disk (512 MiB of data) with `qemu-img
// convert -O raw`, when LOOPS_SPEED=1 (else it skips): for each variant,
// qemu-img converts the disk to format, open opens it and MeasureSpeed
// times both.
func Speed[I Image](t *testing.T, format string, variants []Variant, open func(testing.TB, string) I) {
	t.Helper()
	if os.Getenv("LOOPS_SPEED") == "" {
		t.Skip("set LOOPS_SPEED=1 to compare with qemu-img")
	}
	dir := t.TempDir()
	src := speedSource(t, dir)
	for _, v := range variants {
		img := filepath.Join(dir, v.Name+"."+format)
		testkit.Run(t, QemuImg(t), "convert", "-f", "raw", "-O", format, "-o", v.Options, src, img)
		MeasureSpeed(t, img, open(t, img))
	}
}

// speedSource writes (once per test) a 1 GiB raw disk with 512 MiB of
// random data in 8 MiB runs, every other run a hole.
func speedSource(t testing.TB, dir string) string {
	src := filepath.Join(dir, "speed.raw")
	f, err := os.Create(src)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r := rand.New(rand.NewSource(2))
	buf := make([]byte, 8<<20)
	for off := int64(0); off < 1<<30; off += 16 << 20 {
		r.Read(buf)
		if _, err := f.WriteAt(buf, off); err != nil {
			t.Fatal(err)
		}
	}
	f.Truncate(1 << 30)
	return src
}

// MeasureSpeed reads the whole of im, the reader's view of img, and times
// `qemu-img convert -O raw` of img (to a file in the same directory).
func MeasureSpeed(t testing.TB, img string, im Image) {
	t.Helper()
	buf := make([]byte, 1<<20)
	start := time.Now()
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
			t.Fatal(err)
		}
	}
	ours := time.Since(start)
	out := img + ".out"
	start = time.Now()
	testkit.Run(t, QemuImg(t), "convert", "-O", "raw", img, out)
	theirs := time.Since(start)
	// The same bytes as qemu's.
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer os.Remove(out)
	defer f.Close()
	want := make([]byte, len(buf))
	nonzero := 0
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		n, _ := im.ReadAt(buf, off)
		m, _ := f.ReadAt(want, off)
		if n != m || !bytes.Equal(buf[:n], want[:m]) {
			t.Fatalf("%s: differs from qemu-img's raw in the MiB at %d", img, off)
		}
		if !bytes.Equal(buf[:n], make([]byte, n)) {
			nonzero++
		}
	}
	t.Logf("%d MiB hold data", nonzero)
	t.Logf("%s: read all %d bytes in %v; qemu-img convert -O raw: %v", filepath.Base(img), im.Size(), ours.Round(time.Millisecond), theirs.Round(time.Millisecond))
}

// ReadConcurrently reads im sequentially from several goroutines at once
// (each its own stream in pieces of its own size, and two goroutines
// sharing one stream), so that a reader's decompression ahead runs against
// the reads, and checks every byte against want.
func ReadConcurrently(t testing.TB, im Image, want []byte) {
	t.Helper()
	pieces := []int{16 << 10, 512 << 10, 5000, 4096, 64 << 10, 1 << 20}
	errs := make(chan error, len(pieces)+2)
	read := func(piece int, next func() int64) {
		buf := make([]byte, piece)
		for {
			off := next()
			if off >= im.Size() {
				errs <- nil
				return
			}
			n, err := im.ReadAt(buf, off)
			if err != nil && n != int(im.Size()-off) {
				errs <- fmt.Errorf("read of %d at %d: %v", piece, off, err)
				return
			}
			if !bytes.Equal(buf[:n], want[off:off+int64(n)]) {
				errs <- fmt.Errorf("read of %d at %d differs", piece, off)
				return
			}
		}
	}
	for _, piece := range pieces {
		off := int64(-piece)
		go read(piece, func() int64 { off += int64(piece); return off })
	}
	next := make(chan int64, 1)
	next <- 0
	shared := func() int64 {
		o := <-next
		next <- o + 16<<10
		return o
	}
	go read(16<<10, shared)
	go read(16<<10, shared)
	for range len(pieces) + 2 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
}

// NoGoroutinesLeft fails t when, within 10 s, more goroutines run than
// before did (a reader's work ahead must stop with the reads).
func NoGoroutinesLeft(t testing.TB, before int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > before && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > before {
		t.Errorf("%d goroutines left running (%d before)", n, before)
	}
}

// BenchPieces reads the image at path (opened afresh by open for every
// pass: cold caches) sequentially in 16 KiB pieces (what a loop device asks
// for in a file walk), 512 KiB pieces (the largest FUSE read), and 512 KiB
// pieces with a 1 ms pause after each (a consumer that takes its time),
// and reports the CPU used: cpus (CPU seconds per wall second) and
// cpu-s/op (CPU seconds per read of the whole image).
func BenchPieces[I Image](b *testing.B, name, path string, open func(testing.TB, string) I) {
	for _, c := range []struct {
		piece int
		wait  time.Duration
	}{{16 << 10, 0}, {512 << 10, 0}, {512 << 10, time.Millisecond}} {
		piece := c.piece
		label := fmt.Sprintf("%s/%dK", name, piece>>10)
		if c.wait > 0 {
			label += "+wait" + c.wait.String()
		}
		b.Run(label, func(b *testing.B) {
			b.SetBytes(open(b, path).Size())
			cpu0, t0 := cpuTime(), time.Now()
			for b.Loop() {
				im := open(b, path)
				buf := make([]byte, piece)
				for off := int64(0); off < im.Size(); off += int64(len(buf)) {
					if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
					if c.wait > 0 {
						time.Sleep(c.wait)
					}
				}
			}
			cpu, wall := cpuTime()-cpu0, time.Since(t0)
			b.ReportMetric(cpu.Seconds()/wall.Seconds(), "cpus")
			b.ReportMetric(cpu.Seconds()/float64(b.N), "cpu-s/op")
		})
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
