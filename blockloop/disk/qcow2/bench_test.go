package qcow2_test

import (
	"bytes"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// BenchmarkReadSequential reads a whole image in 1 MiB pieces, as a
// loop device or `qemu-img convert -O raw` would. The images are made
// from a 32 MiB disk of text, random bytes and zeros (plain, zlib, zstd);
// LOOPS_QCOW2_BENCH_IMAGE=path benchmarks a given image instead. Compare
// with `time qemu-img convert -O raw IMAGE out.raw`.
func BenchmarkReadSequential(b *testing.B) {
	images := map[string]string{}
	if p := os.Getenv("LOOPS_QCOW2_BENCH_IMAGE"); p != "" {
		images["given"] = p
	} else {
		dir := b.TempDir()
		src := filepath.Join(dir, "src.raw")
		var buf bytes.Buffer
		rng := rand.New(rand.NewPCG(5, 6))
		for i := 0; buf.Len() < 32<<20; i++ {
			switch i % 4 {
			case 0, 1:
				for j := 0; j < 4000; j++ {
					fmt.Fprintf(&buf, "%d some text that compresses %x\n", j, j*j)
				}
			case 2:
				r := make([]byte, 200<<10)
				for k := range r {
					r[k] = byte(rng.Uint32())
				}
				buf.Write(r)
			case 3:
				buf.Write(make([]byte, 300<<10))
			}
		}
		os.WriteFile(src, buf.Bytes()[:32<<20], 0o644)
		for name, args := range map[string][]string{
			"plain": nil,
			"zlib":  {"-c"},
			"zstd":  {"-c", "-o", "compression_type=zstd"},
		} {
			images[name] = filepath.Join(dir, name+".qcow2")
			a := append([]string{"convert", "-f", "raw", "-O", "qcow2"}, args...)
			testkit.Run(b, disktest.QemuImg(b), append(a, src, images[name])...)
		}
	}
	for _, name := range []string{"plain", "zlib", "zstd", "given"} {
		p, ok := images[name]
		if !ok {
			continue
		}
		b.Run(name, func(b *testing.B) {
			im := openImage(b, p)
			buf := make([]byte, 1<<20)
			b.SetBytes(im.Size())
			for b.Loop() {
				for off := int64(0); off < im.Size(); off += int64(len(buf)) {
					if _, err := im.ReadAt(buf, off); err != nil && err != io.EOF {
						b.Fatal(err)
					}
				}
			}
		})
	}
}
