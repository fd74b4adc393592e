package userfs_test

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/testkit"
)

// benchImage is an image with a 64 MiB file and a 10,000-file tree.
func benchImage(b *testing.B) string {
	b.Helper()
	src := filepath.Join(b.TempDir(), "src")
	os.MkdirAll(filepath.Join(src, "tree"), 0o755)
	data := make([]byte, 64<<20)
	x := uint64(88172645463325252)
	for i := 0; i+8 <= len(data); i += 8 {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		data[i], data[i+1], data[i+2], data[i+3] = byte(x), byte(x>>8), byte(x>>16), byte(x>>24)
		data[i+4], data[i+5], data[i+6], data[i+7] = byte(x>>32), byte(x>>40), byte(x>>48), byte(x>>56)
	}
	os.WriteFile(filepath.Join(src, "big64.bin"), data, 0o644)
	for i := 0; i < 100; i++ {
		d := filepath.Join(src, "tree", fmt.Sprint("d", i))
		os.Mkdir(d, 0o755)
		for j := 0; j < 100; j++ {
			os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%d.txt", j)), []byte(fmt.Sprint(i, j)), 0o644)
		}
	}
	return isotest.BuildISO(b, src, "-R", "-J")
}

func readAll(b *testing.B, path string, buf []byte) int64 {
	f, err := os.Open(path)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	// Drop the kernel's pages of the FUSE file: every byte goes to the server.
	unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED)
	var n int64
	for {
		m, err := f.Read(buf)
		n += int64(m)
		if err == io.EOF {
			return n
		}
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRead64MiB reads a 64 MiB file through the mount (splice and
// pread servers, the kernel's cache of the FUSE file dropped each time) and
// the same bytes straight from the image (the limit).
func BenchmarkRead64MiB(b *testing.B) {
	testkit.RequireRoot(b)
	iso := benchImage(b)
	buf := make([]byte, 1<<20)
	for _, mode := range []struct {
		name     string
		noSplice bool
	}{{"isofs-splice", false}, {"isofs-pread", true}} {
		b.Run(mode.name, func(b *testing.B) {
			mp := benchMount(b, iso, userfs.Options{NoSplice: mode.noSplice})
			b.SetBytes(64 << 20)
			for i := 0; i < b.N; i++ {
				if n := readAll(b, filepath.Join(mp, "big64.bin"), buf); n != 64<<20 {
					b.Fatal(n)
				}
			}
		})
	}
	b.Run("raw", func(b *testing.B) {
		f, _ := os.Open(iso)
		defer f.Close()
		st, _ := f.Stat()
		img, err := iso9660.Open(f, st.Size())
		if err != nil {
			b.Fatal(err)
		}
		e, _ := img.Lookup("big64.bin")
		off := e.Extents[0].Offset
		b.SetBytes(64 << 20)
		for i := 0; i < b.N; i++ {
			for p := int64(0); p < 64<<20; p += int64(len(buf)) {
				if _, err := f.ReadAt(buf, off+p); err != nil {
					b.Fatal(err)
				}
			}
		}
	})
}

// BenchmarkWalk10k stats every entry of a 10,000-file tree on a fresh
// mount each time (nothing cached by the kernel).
func BenchmarkWalk10k(b *testing.B) {
	testkit.RequireRoot(b)
	iso := benchImage(b)
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		mp := mountDirB(b)
		ctx, cancel := context.WithCancel(context.Background())
		s, err := userfs.Serve(ctx, iso, mp, userfs.Options{})
		if err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
		n := 0
		filepath.WalkDir(filepath.Join(mp, "tree"), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if _, err := d.Info(); err != nil {
				return err
			}
			n++
			return nil
		})
		b.StopTimer()
		if n != 10101 {
			b.Fatalf("walked %d entries", n)
		}
		cancel()
		<-s.Done()
		b.StartTimer()
	}
}

func benchMount(b *testing.B, iso string, opts userfs.Options) string {
	mp := mountDirB(b)
	ctx, cancel := context.WithCancel(context.Background())
	s, err := userfs.Serve(ctx, iso, mp, opts)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { cancel(); <-s.Done() })
	return mp
}

func mountDirB(b *testing.B) string {
	d, err := os.MkdirTemp("", marker+"*")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { os.Remove(d) })
	return d
}

// BenchmarkWriteIndex5k writes the EROFS index of a 5,000-file ISO (Rock
// Ridge and Joliet, 50 directories), as loops-serve __write-index does
// for root's loops mount; LOOPS_BENCH_ISO names another image to index.
func BenchmarkWriteIndex5k(b *testing.B) {
	iso := os.Getenv("LOOPS_BENCH_ISO")
	if iso == "" {
		src := filepath.Join(b.TempDir(), "src")
		for i := range 5000 {
			d := filepath.Join(src, fmt.Sprintf("d%03d", i/100))
			if i%100 == 0 {
				os.MkdirAll(d, 0o755)
			}
			os.WriteFile(filepath.Join(d, fmt.Sprintf("file-%05d.bin", i)), []byte(fmt.Sprint(i)), 0o644)
		}
		iso = isotest.BuildISO(b, src, "-R", "-J")
	}
	f, err := os.Open(iso)
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := userfs.WriteIndex(io.Discard, f, userfs.Options{}, true); err != nil {
			b.Fatal(err)
		}
	}
}
