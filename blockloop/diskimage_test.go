package blockloop

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/disk/codec"
	// The fast decompressors, zstd's among them: this package's tests read
	// zstd images in process, as the server does.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/internal/testkit"
)

// countingCloser counts its closes.
type countingCloser struct{ n int }

func (c *countingCloser) Close() error { c.n++; return nil }

// TestDiskImageMissingCodec: without a zstd decompressor (as in loops'
// CLI), a zstd qcow2 is read through Host.OpenVirtualDisk, probed exactly
// as in process, and the disk it gave is closed; without an opener, Err
// says which decompressor is missing; an image this program can
// decompress never goes to the opener.
func TestDiskImageMissingCodec(t *testing.T) {
	qemuImg := testkit.Tool(t, "qemu-img")
	dir := t.TempDir()
	part := blocklooptest.Ext4(t, filepath.Join(dir, "p2.img"), "ROOTFS", "", 8<<20)
	raw := blocklooptest.Disk(t, filepath.Join(dir, "raw.img"), "gpt", []int{4, 8}, []string{"", part})
	zstd := filepath.Join(dir, "zstd.qcow2")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", raw, zstd)
	zlib := filepath.Join(dir, "zlib.qcow2")
	testkit.Run(t, qemuImg, "convert", "-f", "raw", "-O", "qcow2", "-c", raw, zlib)
	virtual, err := os.ReadFile(raw)
	if err != nil {
		t.Fatal(err)
	}

	h := &Host{}
	want := h.openDiskImage(zstd, "qcow2", 0, 0) // in process, with zstd
	if want.Err != nil || want.Inner == nil || len(want.Inner.Partitions) != 2 {
		t.Fatalf("in process: %+v", want)
	}

	fast, err := codec.Lookup(codec.Zstd)
	if err != nil {
		t.Fatal(err)
	}
	codec.Register(codec.Zstd, nil)
	defer codec.Register(codec.Zstd, fast)

	got := h.openDiskImage(zstd, "qcow2", 0, 0)
	if !errors.Is(got.Err, ErrDiskImage) || !errors.Is(got.Err, disk.ErrMissingCodec) || !strings.Contains(got.Err.Error(), "zstd") {
		t.Fatalf("no opener: Err = %v, want ErrDiskImage and disk.ErrMissingCodec, naming zstd", got.Err)
	}

	var calls []string
	c := &countingCloser{}
	h.OpenVirtualDisk = func(abs string) (*disk.Disk, error) {
		calls = append(calls, abs)
		return disk.Remote(bytes.NewReader(virtual), int64(len(virtual)), want.Layers, c), nil
	}
	got = h.openDiskImage(zstd, "qcow2", 0, 0)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("through the opener: %+v\nin process: %+v", got, want)
	}
	if !reflect.DeepEqual(calls, []string{zstd}) || c.n != 1 {
		t.Fatalf("opener called for %q, its disk closed %d times", calls, c.n)
	}
	// --offset of partition 2, through the opener too.
	if got, want := h.openDiskImage(zstd, "qcow2", 5<<20, 0), h.openDiskImage(zlib, "qcow2", 5<<20, 0); got.Err != nil || got.Inner == nil || got.Inner.Type != "ext4" || !reflect.DeepEqual(got.Inner, want.Inner) {
		t.Fatalf("partition 2 through the opener: %+v, %v; zlib in process: %+v", got.Inner, got.Err, want.Inner)
	}

	calls = nil
	if di := h.openDiskImage(zlib, "qcow2", 0, 0); di.Err != nil || len(calls) != 0 {
		t.Fatalf("zlib: Err %v, opener called for %q", di.Err, calls)
	}

	h.OpenVirtualDisk = func(string) (*disk.Disk, error) { return nil, errors.New("the reader failed") }
	if di := h.openDiskImage(zstd, "qcow2", 0, 0); !errors.Is(di.Err, ErrDiskImage) || !strings.Contains(di.Err.Error(), "the reader failed") {
		t.Fatalf("opener failing: Err = %v", di.Err)
	}
}
