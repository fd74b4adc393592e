package vmdk

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// BenchmarkReadPieces reads a whole image sequentially in 16 KiB pieces
// (what a loop device asks for in a file walk) and 512 KiB pieces (the
// largest FUSE read), and in 512 KiB pieces with a 1 ms pause after each
// (a consumer that takes its time, as the kernel and a file walk on a loop
// device do: the reader is idle between requests), with a fresh Image
// each time (cold caches), and
// reports the CPU used (cpus: CPU seconds per wall second; cpu-s/op: CPU
// seconds per read of the whole image). The image is
// LOOPS_VMDK_BENCH_IMAGE (e.g. `qemu-img convert -O vmdk -o
// subformat=streamOptimized` of an ext4 made with `mkfs.ext4 -d
// /usr/share`), or a streamOptimized image of a 32 MiB disk. Compare with
// `time qemu-img convert -O raw IMAGE out.raw`.
func BenchmarkReadPieces(b *testing.B) {
	images := map[string]string{}
	if p := os.Getenv("LOOPS_VMDK_BENCH_IMAGE"); p != "" {
		images["given"] = p
	} else {
		dir, src := disktest.Source(b, 32<<20)
		images["stream"] = filepath.Join(dir, "stream.vmdk")
		testkit.Run(b, disktest.QemuImg(b), "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, images["stream"])
	}
	for _, name := range []string{"stream", "given"} {
		p, ok := images[name]
		if !ok {
			continue
		}
		disktest.BenchPieces(b, name, p, openFile)
	}
}
