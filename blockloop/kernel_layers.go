package blockloop

import (
	"bytes"
	"os"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// KernelLayers says which drivers of the classic way to open a layer the
// running kernel has: device-mapper (cryptsetup open, vgchange -ay) and md
// (mdadm --assemble), built in, loaded, or a module it can load. Advice
// that needs one is given only where it can work.
type KernelLayers struct {
	DeviceMapper bool `json:"device_mapper"`
	MD           bool `json:"md"`
}

// KernelLayers reads /proc/misc, /proc/mdstat and the kernel's
// modules.dep. Needs no privilege.
func (h *Host) KernelLayers() KernelLayers {
	var k KernelLayers
	if b, err := kernfile.ReadFile(h.misc()); err == nil {
		for _, l := range bytes.Split(b, []byte("\n")) {
			if f := bytes.Fields(l); len(f) == 2 && string(f[1]) == "device-mapper" {
				k.DeviceMapper = true
			}
		}
	}
	if _, err := os.Stat(h.mdstat()); err == nil {
		k.MD = true
	}
	if !k.DeviceMapper || !k.MD {
		mods := h.loadableModules("dm-mod", "dm_mod", "md-mod", "md_mod")
		k.DeviceMapper = k.DeviceMapper || mods["dm-mod"] || mods["dm_mod"]
		k.MD = k.MD || mods["md-mod"] || mods["md_mod"]
	}
	return k
}
