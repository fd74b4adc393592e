package vdi

import (
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
)

// TestSpeed compares reading a 1 GiB disk (512 MiB of data) with
// `qemu-img convert -O raw` when LOOPS_SPEED=1.
func TestSpeed(t *testing.T) {
	disktest.Speed(t, "vdi", []disktest.Variant{{Name: "dynamic", Options: "static=off"}, {Name: "static=on", Options: "static=on"}}, openFile)
}
