package blockloop

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// KernelLayers reads device-mapper from /proc/misc and md from
// /proc/mdstat (files a test points elsewhere), and matches the running
// kernel's own files.
func TestKernelLayers(t *testing.T) {
	dir := t.TempDir()
	misc := filepath.Join(dir, "misc")
	os.WriteFile(misc, []byte(" 237 loop-control\n 236 device-mapper\n"), 0o644)
	mdstat := filepath.Join(dir, "mdstat")
	os.WriteFile(mdstat, []byte("Personalities :\n"), 0o644)
	h := &Host{Misc: misc, Mdstat: mdstat, Modules: dir}
	if k := h.KernelLayers(); !k.DeviceMapper || !k.MD {
		t.Fatalf("with device-mapper and md: %+v", k)
	}
	os.WriteFile(misc, []byte(" 237 loop-control\n 229 fuse\n"), 0o644)
	h.Mdstat = filepath.Join(dir, "none")
	if k := h.KernelLayers(); k.DeviceMapper || k.MD {
		t.Fatalf("with neither: %+v", k)
	}
	b, _ := os.ReadFile("/proc/misc")
	_, mdErr := os.Stat("/proc/mdstat")
	k := (&Host{}).KernelLayers()
	if inMisc := strings.Contains(string(b), " device-mapper\n"); inMisc && !k.DeviceMapper || mdErr == nil && !k.MD {
		t.Fatalf("this kernel: %+v; /proc/misc %q, /proc/mdstat %v", k, b, mdErr)
	}
}
