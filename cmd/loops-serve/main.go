// Command loops-serve is loops' userspace FUSE server: `loops mount` starts
// it (as `loops-serve __serve --image IMAGE … MOUNTPOINT`) for an image the
// kernel cannot mount, and for VM disk images. It is installed beside loops
// ($(PREFIX)/lib/loops/loops-serve) and not meant to be run by hand; see
// package server.
package main

import (
	"os"

	"github.com/loops-cli/loops/cmd/loops-serve/server"
)

func main() { os.Exit(server.Main(os.Args[1:])) }
