package qcow2_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/codec"
	// The fast decoders, as loops' server links them: zstd images and
	// the benchmarks read as they are served.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/internal/testkit"
)

// withoutCodec runs f with name's registered decompressor removed (the
// standard library's for "deflate", none for "zstd"), as in a program
// that does not link blockloop/disk/codec/klauspost.
func withoutCodec(t *testing.T, name string, f func()) {
	t.Helper()
	fast, err := codec.Lookup(name)
	if err != nil {
		t.Fatal(err)
	}
	codec.Register(name, nil)
	defer codec.Register(name, fast)
	f()
}

// TestCodecs: zlib images read the same with compress/flate as with the
// fast decoder; a zstd image, with no zstd decompressor in the program,
// is refused at Open with an error that names zstd and matches
// codec.ErrMissing (blockloop then reads it through loops' server).
func TestCodecs(t *testing.T) {
	dir := t.TempDir()
	src := makeSource(t, dir)
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	zlib := filepath.Join(dir, "zlib.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", src, zlib)
	zstd := filepath.Join(dir, "zstd.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", src, zstd)

	withoutCodec(t, codec.Deflate, func() {
		disktest.Compare(t, openImage(t, zlib), want)
	})
	disktest.Compare(t, openImage(t, zstd), want)
	withoutCodec(t, codec.Zstd, func() {
		f, size, err := disktest.OpenRaw(t, zstd)
		if err != nil {
			t.Fatal(err)
		}
		_, err = qcow2.Open(f, size, qcow2.Options{})
		if !errors.Is(err, codec.ErrMissing) || !strings.Contains(err.Error(), "zstd") {
			t.Fatalf("Open of a zstd image without a zstd decompressor: %v, want codec.ErrMissing naming zstd", err)
		}
		// zlib images still read.
		disktest.Compare(t, openImage(t, zlib), want)
	})
}
