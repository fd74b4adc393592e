package server

import (
	"fmt"
	"os"

	"github.com/loops-cli/loops/blockloop/disk/diskpipe"
	// The decompressors loops' CLI does not link (zstd), and the fast
	// deflate: the reason this mode exists.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/internal/serveproto"
)

// ReadDisk serves a serveproto.ReadDisk request: the CLI runs `loops-serve
// __read-disk IMAGE` to read a VM disk image it cannot decompress itself
// (zstd-compressed qcow2), for `loops block probe` and the planning of
// `loops mount`; a child of that loops, not a daemon. It opens the image
// and answers reads of its virtual disk on stdin and stdout (package
// diskpipe) until stdin ends, and returns the exit code: 0 at the end of
// the requests, 1 when the image could not be opened (told on stdout
// first) or a pipe broke.
func ReadDisk(req *serveproto.ReadDisk) int {
	if err := diskpipe.Serve(req.Image, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loops-serve:", err)
		return 1
	}
	return 0
}
