// Command loops-serve is loops' userspace FUSE server: `loops mount` starts
// it (as `loops-serve __serve --image IMAGE … -- MOUNTPOINT`) for an image
// the kernel cannot mount, and for VM disk images. It is installed beside
// loops ($(PREFIX)/lib/loops/loops-serve) and not meant to be run by hand;
// its command line is internal/serveproto's, and what it does is package
// internal/server's.
package main

import (
	"os"

	"github.com/loops-cli/loops/cmd/loops-serve/internal/server"
)

func main() { os.Exit(server.Main(os.Args[1:])) }
