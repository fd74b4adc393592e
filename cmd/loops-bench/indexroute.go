package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// indexRoute tells whether root's plain `loops mount` of img takes the
// kernel erofs index route here (a kernel with erofs and without driver,
// the kernel's own driver for the image's filesystem): one untimed mount
// at mnt whose mountinfo type must be erofs. The sentence is for the
// report: both routes measured, or why only --fuse is.
func (h *harness) indexRoute(img, mnt, driver string) (bool, string) {
	fsys, _ := os.ReadFile("/proc/filesystems")
	switch {
	case !strings.Contains(string(fsys), "\terofs\n"):
		return false, "This kernel has no erofs: only `--fuse` is measured."
	case strings.Contains(string(fsys), "\t"+driver+"\n"):
		return false, fmt.Sprintf("This kernel has %s, which plain `loops mount` would use: only `--fuse` is measured.", driver)
	}
	if err := quiet(h.loops, "mount", img, mnt); err != nil {
		return false, fmt.Sprintf("Plain `loops mount` failed here (%v): only `--fuse` is measured.", err)
	}
	typ := mountAt(mnt).FSType
	h.cleanMnt(mnt)
	if typ != "erofs" {
		return false, fmt.Sprintf("Plain `loops mount` mounted it as %q, not through the erofs index: only `--fuse` is measured.", typ)
	}
	return true, "Both are measured (an untimed mount first checked that plain `loops mount` takes the erofs index: mountinfo says erofs)."
}

// routes are the sides (or their names) of a comparison of loops by both
// routes with others: the erofs index's first where index (indexRoute),
// then --fuse's, then the others'.
func routes[S any](index bool, idx, fuse S, others ...S) []S {
	if !index {
		return append([]S{fuse}, others...)
	}
	return append([]S{idx, fuse}, others...)
}

// mountAt is the mount at mp (mountinfo); the zero Mount when there is
// none.
func mountAt(mp string) kernfile.Mount {
	ms, _ := kernfile.Mountinfo("/proc/self/mountinfo")
	for _, m := range ms {
		if m.Mountpoint == mp {
			return m
		}
	}
	return kernfile.Mount{}
}
