package vmdk

import (
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/codec"
	// The fast deflate, as loops' server links it: the tests and the
	// benchmarks read grains as they are served.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// TestStdlibInflate: a streamOptimized image reads the same with the
// standard library's compress/flate (the default, in loops' CLI) as with
// the fast decoder.
func TestStdlibInflate(t *testing.T) {
	dir, src := disktest.Source(t, 5<<20+12345)
	img := filepath.Join(dir, "stream.vmdk")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "vmdk", "-o", "subformat=streamOptimized", src, img)
	fast, err := codec.Lookup(codec.Deflate)
	if err != nil {
		t.Fatal(err)
	}
	codec.Register(codec.Deflate, nil)
	defer codec.Register(codec.Deflate, fast)
	disktest.CompareQemu(t, openFile(t, img), img)
}
