// Package server is loops' userspace FUSE server, the program `loops mount`
// starts for an image whose filesystem the kernel cannot mount (or with
// --fuse), and for VM disk images. It is its own binary, loops-serve,
// installed beside loops ($(PREFIX)/lib/loops/loops-serve), so that go-fuse
// and the format readers are not part of the start of every loops command:
// see docs/benchmarks.md, "where a one-shot command's time goes".
//
// The command line is the one `loops __serve` took, which the CLI still
// accepts and hands over to this binary:
//
//	loops-serve __serve --image IMAGE [--type TYPE] [--offset N] [--sizelimit N]
//	    [--disk | --raw-disk] [--uid N] [--gid N] [--umask OCTAL] MOUNTPOINT
//
// It mounts the image with blockloop/userfs, writes "ready" (or "error: …")
// on the pipe it inherited as fd 3 once the mount is live, and serves until
// the filesystem is unmounted (by anyone) or it gets SIGTERM, SIGINT or
// SIGHUP (then it unmounts). It holds no state.
//
// `loops-serve __read-disk IMAGE` is the other mode: a child of loops that
// reads a VM disk image loops cannot decompress itself (the server alone
// links blockloop/disk/codec/klauspost, for zstd) and answers reads of its
// virtual disk on stdin and stdout (see ReadDisk and package diskpipe).
package server

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"

	"github.com/loops-cli/loops/blockloop/userfs"
)

// Command is the first argument of the server's command line, kept from
// the time the server was `loops __serve`: tools and tests find a server
// by it in /proc/PID/cmdline.
const Command = "__serve"

// serverMemoryLimit is the server's soft memory limit (runtime/debug),
// unless GOMEMLIMIT sets one.
const serverMemoryLimit = 24 << 20

// Options are the server's flags.
type Options struct {
	Image      string
	Type       string
	Offset     int64
	SizeLimit  int64
	UID, GID   int
	Umask      string
	Disk       bool // the filesystem is in a VM disk image's virtual disk
	RawDisk    bool // serve a VM disk image's virtual disk as one file
	Mountpoint string
}

// Main runs the server with args (os.Args[1:], with or without the leading
// __serve) and returns the exit code: 0 once the filesystem is unmounted,
// 1 on a failure (also told on fd 3), 2 on a usage error. With
// __read-disk first, it runs ReadDisk instead.
func Main(args []string) int {
	if len(args) > 0 && args[0] == ReadDiskCommand {
		return ReadDisk(args[1:])
	}
	if len(args) > 0 && args[0] == Command {
		args = args[1:]
	}
	opts, err := Parse(args, os.Stderr)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return 0
		}
		fmt.Fprintln(os.Stderr, "loops-serve:", err)
		return 2
	}
	if os.Getenv("GOMEMLIMIT") == "" {
		// A soft ceiling for the heap: the server's live data is its tree
		// and the kernel's inodes (a few MiB for 10,000 files); what goes
		// above is garbage of read buffers, collected sooner rather than
		// left to double the heap (peak RSS, docs/benchmarks.md).
		debug.SetMemoryLimit(serverMemoryLimit)
	}
	if err := Run(opts); err != nil {
		fmt.Fprintln(os.Stderr, "loops-serve:", err)
		return 1
	}
	return 0
}

// Parse reads the server's flags and its one argument, the mount point.
func Parse(args []string, stderr io.Writer) (*Options, error) {
	opts := &Options{}
	fl := flag.NewFlagSet("loops-serve", flag.ContinueOnError)
	fl.SetOutput(stderr)
	fl.StringVar(&opts.Image, "image", "", "the image `file`")
	fl.StringVar(&opts.Type, "type", "iso9660", "its filesystem `type`")
	fl.Int64Var(&opts.Offset, "offset", 0, "where the filesystem starts in the image")
	fl.Int64Var(&opts.SizeLimit, "sizelimit", 0, "its size, 0 for to the end")
	fl.IntVar(&opts.UID, "uid", -1, "owner of files the format gives none")
	fl.IntVar(&opts.GID, "gid", -1, "group of files the format gives none")
	fl.StringVar(&opts.Umask, "umask", "", "octal umask for files the format gives no modes")
	fl.BoolVar(&opts.Disk, "disk", false, "the image is a VM disk (qcow2, vmdk, vhdx, vdi, vpc); offsets are in its virtual disk")
	fl.BoolVar(&opts.RawDisk, "raw-disk", false, "serve the VM disk image's virtual disk as one file, for a loop device")
	fl.Usage = func() {
		fmt.Fprintf(stderr, "usage: loops-serve [%s] --image IMAGE [--type TYPE] [flags] MOUNTPOINT\n(started by loops mount; serves an image over FUSE until it is unmounted)\n", Command)
		fl.PrintDefaults()
	}
	// Flags and the mount point in any order, as cobra took them.
	var rest []string
	for {
		if err := fl.Parse(args); err != nil {
			return nil, err
		}
		args = fl.Args()
		if len(args) == 0 {
			break
		}
		rest = append(rest, args[0])
		args = args[1:]
	}
	if len(rest) != 1 {
		return nil, fmt.Errorf("takes a mount point (got %d argument(s))", len(rest))
	}
	opts.Mountpoint = rest[0]
	return opts, nil
}

func readyPipe() *os.File { return os.NewFile(3, "ready") }

func tellOnce(f *os.File, s string) {
	if f == nil {
		return
	}
	fmt.Fprintln(f, s)
	f.Close()
}

func oneLine(err error) string { return strings.ReplaceAll(err.Error(), "\n", " ") }

// Run serves opts until the filesystem is unmounted, telling fd 3 "ready"
// once the mount is live or "error: …" if it could not mount.
func Run(opts *Options) error {
	ready := readyPipe()
	tell := func(s string) {
		tellOnce(ready, s)
		ready = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	err := Serve(ctx, opts, func() { tell("ready") })
	if err != nil {
		tell("error: " + oneLine(err))
	}
	return err
}

// Serve mounts the image with loops' reader of its type, calls ready once
// the mount is live, and serves until it is unmounted (by loops umount,
// umount or fusermount -u) or ctx ends (then it unmounts).
func Serve(ctx context.Context, opts *Options, ready func()) error {
	if opts.RawDisk {
		srv, err := userfs.ServeDisk(ctx, opts.Image, opts.Mountpoint, userfs.Options{})
		if err != nil {
			return fmt.Errorf("serve %s at %s: %w", opts.Image, opts.Mountpoint, err)
		}
		ready()
		return srv.Wait()
	}
	o := userfs.Options{Type: opts.Type, Offset: opts.Offset, SizeLimit: opts.SizeLimit, Disk: opts.Disk}
	if uid, gid := invokingUser(); uid >= 0 {
		// Files of an image whose format has no owners belong to the
		// user sudo acts for, not to root.
		o.UID, o.GID, o.SetOwner = uint32(uid), uint32(max(gid, 0)), true
	}
	if opts.UID >= 0 || opts.GID >= 0 {
		if !o.SetOwner {
			o.UID, o.GID, o.SetOwner = uint32(os.Getuid()), uint32(os.Getgid()), true
		}
		if opts.UID >= 0 {
			o.UID = uint32(opts.UID)
		}
		if opts.GID >= 0 {
			o.GID = uint32(opts.GID)
		}
	}
	if opts.Umask != "" {
		u, err := strconv.ParseUint(opts.Umask, 8, 32)
		if err != nil || u > 0o777 {
			return fmt.Errorf("umask %q is not an octal mode", opts.Umask)
		}
		o.Umask = uint32(u)
	}
	srv, err := userfs.Serve(ctx, opts.Image, opts.Mountpoint, o)
	if err != nil {
		return fmt.Errorf("serve %s at %s: %w", opts.Image, opts.Mountpoint, err)
	}
	ready()
	return srv.Wait()
}

// invokingUser is the user sudo acts for (SUDO_UID, SUDO_GID) when the
// server runs as root through sudo; -1, -1 otherwise. The CLI's rule
// (cmd/loops/cli.invokingUser), which the server inherits the environment of.
func invokingUser() (uid, gid int) {
	uid, gid = -1, -1
	if os.Geteuid() != 0 {
		return uid, gid
	}
	if name := os.Getenv("SUDO_USER"); name == "" || name == "root" {
		return uid, gid
	}
	if v, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil {
		uid = v
	}
	if v, err := strconv.Atoi(os.Getenv("SUDO_GID")); err == nil {
		gid = v
	}
	return uid, gid
}
