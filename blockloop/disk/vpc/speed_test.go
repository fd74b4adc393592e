package vpc

import (
	"testing"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
)

// TestSpeed compares reading a 1 GiB disk (512 MiB of data) with
// `qemu-img convert -O raw` when LOOPS_SPEED=1.
func TestSpeed(t *testing.T) {
	disktest.Speed(t, "vpc", []disktest.Variant{{Name: "dynamic", Options: "subformat=dynamic"}, {Name: "fixed", Options: "subformat=fixed,force_size=on"}}, openFile)
}
