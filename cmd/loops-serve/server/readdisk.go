package server

import (
	"fmt"
	"os"

	"github.com/loops-cli/loops/blockloop/disk/diskpipe"
	// The decompressors loops' CLI does not link (zstd), and the fast
	// deflate: the reason this mode exists.
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
)

// ReadDiskCommand is the first argument of `loops-serve __read-disk
// IMAGE`: the CLI runs it to read a VM disk image it cannot decompress
// itself (zstd-compressed qcow2), for `loops block probe` and the planning
// of `loops mount`. It is a child of that loops, not a daemon.
const ReadDiskCommand = "__read-disk"

// ReadDisk opens the image named by args and answers reads of its virtual
// disk on stdin and stdout (package diskpipe) until stdin ends. It
// returns the exit code: 0 at the end of the requests, 1 when the image
// could not be opened (told on stdout first) or a pipe broke, 2 on a usage
// error.
func ReadDisk(args []string) int {
	if len(args) != 1 || args[0] == "" {
		fmt.Fprintf(os.Stderr, "usage: loops-serve %s IMAGE\n(started by loops; reads a VM disk image's virtual disk for it over stdin and stdout)\n", ReadDiskCommand)
		return 2
	}
	if err := diskpipe.Serve(args[0], os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "loops-serve:", err)
		return 1
	}
	return 0
}
