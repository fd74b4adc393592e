package server

import (
	"bytes"
	"os"
	"runtime"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// The heap __write-index reserves for huge pages: at the start, about
// what a 25,000-file tree takes, and once a tree passes
// userfs.LargeTreeNodes names, what a 250,000-file one takes (the
// reservation is a forced collection and ~0.1 ms per 4 MiB, so a small
// tree does not pay for a large one).
const (
	smallHeapBytes = 32 << 20
	largeHeapBytes = 256 << 20
)

// hugeHeap maps n bytes of heap marked for transparent huge pages
// (MADV_HUGEPAGE, which THP "madvise", the common default, waits for) and
// frees them, untouched, for the allocations to come. A short-lived
// process that builds a large tree then takes one 2 MiB page fault where
// it would take 512 of 4 KiB: on a virtual machine a first touch of a page
// can cost 10 µs, and a 100,000-file index took 25,000 of them (0.3 s of
// its 0.5 s; 1,900 with this). Nothing is touched here: memory the tree
// does not use is never backed. Skipped where the kernel counts every mapping against a
// strict commit limit (vm.overcommit_memory=2) or GODEBUG disables THP.
func hugeHeap(n int) {
	if strings.Contains(os.Getenv("GODEBUG"), "disablethp=1") {
		return
	}
	if b, err := kernfile.ReadFile("/proc/sys/vm/overcommit_memory"); err != nil || string(bytes.TrimSpace(b)) == "2" {
		return
	}
	const huge = 2 << 20
	b := make([]byte, n)
	base := uintptr(unsafe.Pointer(&b[0]))
	start := int((base+huge-1)&^(huge-1) - base)
	end := int((base+uintptr(n))&^(huge-1) - base)
	if end > start {
		unix.Madvise(b[start:end], unix.MADV_HUGEPAGE)
	}
	runtime.KeepAlive(b)
	b = nil
	runtime.GC()
}
