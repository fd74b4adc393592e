package vhdx

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"math/rand"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// writeSource writes a raw disk of random data, holes and zero runs whose
// size is not a multiple of a grain (nor of a sector).
func writeSource(t *testing.T, path string, size int) {
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

func qemuImg(t *testing.T) string { return testkit.Tool(t, "qemu-img") }

// virtualSize asks qemu-img info for the virtual size.
func virtualSize(t *testing.T, img string) int64 {
	t.Helper()
	out := testkit.Run(t, qemuImg(t), "info", "--output=json", img)
	var v struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	return v.VirtualSize
}

// rawOf converts img to raw with qemu-img and returns the bytes.
func rawOf(t *testing.T, img string) []byte {
	t.Helper()
	out := img + ".raw"
	testkit.Run(t, qemuImg(t), "convert", "-O", "raw", img, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(out)
	return b
}

// dirOpener opens names relative to dir.
func dirOpener(t *testing.T, dir string) func(string) (io.ReaderAt, int64, error) {
	return func(name string) (io.ReaderAt, int64, error) {
		f, err := os.Open(filepath.Join(dir, name))
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
}

func openFile(t *testing.T, path string) *Image {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	im, err := Open(f, st.Size(), Options{Open: dirOpener(t, filepath.Dir(path))})
	if err != nil {
		t.Fatalf("Open %s: %v", path, err)
	}
	return im
}

// compare reads the whole image (in odd-sized chunks, then random ranges
// from several goroutines) and compares with want.
func compare(t *testing.T, im *Image, want []byte) {
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
	if i := firstDiff(got, want); i >= 0 {
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

func firstDiff(a, b []byte) int {
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

func isFormat(err error) bool {
	var fe *FormatError
	var le *LimitError
	return errors.As(err, &fe) || errors.As(err, &le)
}

// readAll reads the whole virtual disk, returning the first error.
func readAll(im *Image) error {
	buf := make([]byte, 1<<20)
	for off := int64(0); off < im.Size(); off += int64(len(buf)) {
		if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
			return err
		}
	}
	return nil
}

// speedSource writes (once per test) a 1 GiB raw disk with 512 MiB of
// random data in 8 MiB runs, every other run a hole.
func speedSource(t *testing.T, dir string) string {
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

// measureSpeed reads the whole of img with this package and times
// `qemu-img convert -O raw` of it (to a file in the same directory).
func measureSpeed(t *testing.T, img string) {
	t.Helper()
	im := openFile(t, img)
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
	testkit.Run(t, qemuImg(t), "convert", "-O", "raw", img, out)
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
