package server

import (
	"encoding/json"
	"errors"
	"os"
	"runtime/debug"

	"github.com/loops-cli/loops/blockloop/erofs"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/serveproto"
)

// WriteIndex runs `loops-serve __write-index`: the EROFS index of the
// image's filesystem into fd serveproto.IndexFD, and one
// serveproto.IndexAnswer line on stdout. It returns the exit code: 0
// written, 1 not (said in the answer). The CLI runs it as a child, as
// root, for the kernel erofs route of loops mount.
func WriteIndex(req *serveproto.WriteIndex) int {
	if os.Getenv("GOGC") == "" {
		// A short-lived process that builds one tree and exits: collect
		// its garbage rarely (a 100,000-file tree: a third of its CPU
		// was the collector and fresh heap at the default).
		debug.SetGCPercent(400)
	}
	hugeHeap(smallHeapBytes)
	info, err := writeIndex(req)
	a := serveproto.IndexAnswer{
		BlockSize: info.BlockSize, Inodes: info.Inodes, Size: info.Size, Flat: info.Flat,
		Chunked: info.Chunked, Copied: info.Copied, CopiedBytes: info.CopiedBytes,
	}
	if err != nil {
		a = serveproto.IndexAnswer{Error: oneLine(err), NotIndexable: notIndexable(err)}
	}
	json.NewEncoder(os.Stdout).Encode(a)
	if err != nil {
		return 1
	}
	return 0
}

func writeIndex(req *serveproto.WriteIndex) (erofs.Info, error) {
	o, err := readerOptions(req.Type, req.Offset, req.SizeLimit, req.UID, req.GID, req.Umask, req.Map)
	if err != nil {
		return erofs.Info{}, err
	}
	o.Mountpoint = req.Mountpoint
	o.LargeTree = func() { hugeHeap(largeHeapBytes) }
	f, err := os.Open(req.Image)
	if err != nil {
		return erofs.Info{}, err
	}
	defer f.Close()
	index := os.NewFile(serveproto.IndexFD, "index")
	defer index.Close()
	return userfs.WriteIndex(index, f, o, req.CompactMtime)
}

// notIndexable tells whether the FUSE route may still serve what the
// index could not describe: anything the description or its size
// refused, as opposed to an image that cannot be read at all.
func notIndexable(err error) bool {
	return errors.Is(err, userfs.ErrNotIndexable) || errors.Is(err, erofs.ErrInvalid) ||
		errors.Is(err, erofs.ErrOutside) || errors.Is(err, erofs.ErrTooLarge) || errors.Is(err, erofs.ErrNoDevice)
}

func oneLine(err error) string {
	s := err.Error()
	for i := range len(s) {
		if s[i] == '\n' {
			return s[:i]
		}
	}
	return s
}
