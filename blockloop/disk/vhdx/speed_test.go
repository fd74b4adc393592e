package vhdx

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestSpeed compares reading a 1 GiB disk (512 MiB of data) with
// `qemu-img convert -O raw` when LOOPS_SPEED=1.
func TestSpeed(t *testing.T) {
	if os.Getenv("LOOPS_SPEED") == "" {
		t.Skip("set LOOPS_SPEED=1 to compare with qemu-img")
	}
	dir := t.TempDir()
	src := speedSource(t, dir)
	for _, sub := range []string{"dynamic", "fixed"} {
		img := filepath.Join(dir, sub+".vhdx")
		testkit.Run(t, qemuImg(t), "convert", "-f", "raw", "-O", "vhdx", "-o", "subformat="+sub, src, img)
		measureSpeed(t, img)
	}
}
