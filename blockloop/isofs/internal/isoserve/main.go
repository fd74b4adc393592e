// Command isoserve mounts an ISO image with package isofs and serves it until
// unmounted or signalled (SIGINT, SIGTERM). It prints "ready" once the mount
// is live. It is the benchmark's server (docs/bench-iso.sh), standing in for
// `loops mount` until that is wired.
//
//	go run ./blockloop/isofs/internal/isoserve [-nosplice] [-maxread N] IMAGE MOUNTPOINT
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"syscall"

	"github.com/loops-cli/loops/blockloop/isofs"
)

func main() {
	nosplice := flag.Bool("nosplice", false, "serve reads by pread instead of splice")
	maxRead := flag.Int("maxread", 0, "largest read request in bytes (default 1 MiB)")
	debug := flag.Bool("debug", false, "log FUSE requests")
	flag.Parse()
	if flag.NArg() != 2 {
		fmt.Fprintln(os.Stderr, "usage: isoserve [-nosplice] [-maxread N] IMAGE MOUNTPOINT")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	s, err := isofs.Serve(ctx, flag.Arg(0), flag.Arg(1), isofs.Options{NoSplice: *nosplice, MaxRead: *maxRead, Debug: *debug})
	if err != nil {
		fmt.Fprintln(os.Stderr, "isoserve:", err)
		os.Exit(1)
	}
	fmt.Println("ready")
	s.Wait()
}
