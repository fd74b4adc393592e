// Package server is loops' userspace FUSE server, the program `loops mount`
// starts for an image whose filesystem the kernel cannot mount (or with
// --fuse), and for VM disk images. It is its own binary, loops-serve,
// installed beside loops ($(PREFIX)/lib/loops/loops-serve), so that go-fuse
// and the format readers are not part of the start of every loops command:
// see docs/benchmarks.md, "where a one-shot command's time goes".
//
// Its command line is built by the CLI and read here by one package,
// internal/serveproto:
//
//	loops-serve __serve --image IMAGE [--type TYPE] [--offset N] [--sizelimit N]
//	    [--disk | --raw-disk | --rw] [--uid N] [--gid N] [--umask OCTAL] [--] MOUNTPOINT
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

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/iso9660"
	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/serveproto"
)

// serverMemoryLimit is the server's soft memory limit (runtime/debug),
// unless GOMEMLIMIT sets one.
const serverMemoryLimit = 24 << 20

// Main runs the request args says (os.Args[1:]: a serveproto command line;
// flags without a command are a __serve, as an older loops wrote them) and
// returns the exit code: for __serve, 0 once the filesystem is unmounted,
// 1 on a failure (also told on fd 3); 2 on a usage error.
func Main(args []string) int {
	if len(args) > 0 && strings.HasPrefix(args[0], "-") && args[0] != "-h" && args[0] != "--help" {
		args = append([]string{serveproto.ServeCommand}, args...)
	}
	req, err := serveproto.Parse(args)
	if err != nil {
		command := serveproto.ServeCommand
		if len(args) > 0 {
			command = args[0]
		}
		if errors.Is(err, flag.ErrHelp) {
			serveproto.Usage(os.Stdout, command)
			return 0
		}
		fmt.Fprintln(os.Stderr, "loops-serve:", err)
		serveproto.Usage(os.Stderr, command)
		return 2
	}
	switch req := req.(type) {
	case *serveproto.ReadDisk:
		return ReadDisk(req)
	case *serveproto.WriteIndex:
		return WriteIndex(req)
	case *serveproto.Serve:
		if os.Getenv("GOMEMLIMIT") == "" {
			// A soft ceiling for the heap: the server's live data is its tree
			// and the kernel's inodes (a few MiB for 10,000 files); what goes
			// above is garbage of read buffers, collected sooner rather than
			// left to double the heap (peak RSS, docs/benchmarks.md).
			debug.SetMemoryLimit(serverMemoryLimit)
		}
		if err := Run(req); err != nil {
			fmt.Fprintln(os.Stderr, "loops-serve:", err)
			return 1
		}
		return 0
	}
	fmt.Fprintf(os.Stderr, "loops-serve: %s has no server here\n", req.Command())
	return 2
}

func readyPipe() *os.File { return os.NewFile(serveproto.ReadyFD, "ready") }

func tellOnce(f *os.File, s string) {
	if f == nil {
		return
	}
	fmt.Fprintln(f, s)
	f.Close()
}

// Run serves opts until the filesystem is unmounted, telling fd 3 "ready"
// once the mount is live or "error: …" if it could not mount.
func Run(opts *serveproto.Serve) error {
	ready := readyPipe()
	tell := func(s string) {
		tellOnce(ready, s)
		ready = nil
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	err := Serve(ctx, opts, func() { tell(serveproto.Answer(nil)) })
	if err != nil {
		tell(serveproto.Answer(err))
	}
	return err
}

// Serve mounts the image with loops' reader of its type, calls ready once
// the mount is live, and serves until it is unmounted (by loops umount,
// umount or fusermount -u) or ctx ends (then it unmounts).
func Serve(ctx context.Context, opts *serveproto.Serve, ready func()) error {
	layers, keys, err := readLayers(opts)
	if err != nil {
		return err
	}
	defer layer.Zero(keys)
	pvs, err := pvFiles(opts.PVFDs)
	if err != nil {
		return err
	}
	if opts.RawDisk {
		srv, err := userfs.ServeDisk(ctx, opts.Image, opts.Mountpoint, userfs.Options{Disk: opts.Disk, Layers: layers, Keys: keys, PVs: pvs})
		if err != nil {
			return fmt.Errorf("serve %s at %s: %w", opts.Image, opts.Mountpoint, err)
		}
		ready()
		return srv.Wait()
	}
	o, err := readerOptions(opts.Type, opts.Offset, opts.SizeLimit, opts.UID, opts.GID, opts.Umask, opts.Map)
	if err != nil {
		return err
	}
	o.Disk, o.ReadWrite, o.Layers, o.Keys, o.PVs = opts.Disk, opts.ReadWrite, layers, keys, pvs
	o.Log = (&logger{path: opts.Log, mountpoint: opts.Mountpoint}).log
	srv, err := userfs.Serve(ctx, opts.Image, opts.Mountpoint, o)
	if err != nil {
		return fmt.Errorf("serve %s at %s: %w", opts.Image, opts.Mountpoint, err)
	}
	ready()
	return srv.Wait()
}

// readLayers parses the request's layers and reads their keys from its
// KeyFD (closing it).
func readLayers(opts *serveproto.Serve) ([]layer.Spec, [][]byte, error) {
	if opts.KeyFD >= 0 {
		defer unix.Close(opts.KeyFD)
	}
	var specs []layer.Spec
	need := 0
	for _, l := range opts.Layers {
		s, err := layer.ParseSpec(l)
		if err != nil {
			return nil, nil, err
		}
		specs = append(specs, s)
		if s.NeedsKey() {
			need++
		}
	}
	if need == 0 {
		return specs, nil, nil
	}
	if opts.KeyFD < 0 {
		return nil, nil, fmt.Errorf("%d layer(s) need a key, and no --key-fd was given", need)
	}
	keys, err := layer.ReadKeys(fdReader(opts.KeyFD))
	if err != nil {
		return nil, nil, err
	}
	if len(keys) != need {
		layer.Zero(keys)
		return nil, nil, fmt.Errorf("%d key(s) read for %d layer(s) that need one", len(keys), need)
	}
	return specs, keys, nil
}

// pvFiles are the inherited PV files of an LVM layer, read for as long
// as the server runs.
func pvFiles(fds []int) ([]layer.Source, error) {
	var out []layer.Source
	for i, fd := range fds {
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil || st.Mode&unix.S_IFMT != unix.S_IFREG {
			return nil, fmt.Errorf("PV file %d (fd %d): not an open regular file", i, fd)
		}
		out = append(out, layer.Source{Name: fmt.Sprintf("PV file %d", i), R: os.NewFile(uintptr(fd), fmt.Sprintf("pv%d", i)), Size: st.Size})
	}
	return out, nil
}

// fdReader reads an inherited fd by read(2) (not through the runtime's
// poller; the fd stays the caller's to close).
type fdReader int

func (fd fdReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(int(fd), p)
		switch {
		case err == unix.EINTR:
			continue
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
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

// readerOptions are the reader's options for an image's filesystem: its
// type and place, and the owner and umask of files whose format records
// none (the user sudo acts for, or -o uid=, gid=, umask=), and iso9660's
// names (-o map=), the same for the FUSE and the index routes.
func readerOptions(typ string, offset, sizeLimit int64, uid, gid, umask int, isoMap string) (userfs.Options, error) {
	if typ == "" {
		typ = "iso9660" // the server's first and default reader
	}
	o := userfs.Options{Type: typ, Offset: offset, SizeLimit: sizeLimit}
	if su, sg := invokingUser(); su >= 0 {
		// Files of an image whose format has no owners belong to the
		// user sudo acts for, not to root.
		o.UID, o.GID, o.SetOwner = uint32(su), uint32(max(sg, 0)), true
	}
	if uid >= 0 || gid >= 0 {
		if !o.SetOwner {
			o.UID, o.GID, o.SetOwner = uint32(os.Getuid()), uint32(os.Getgid()), true
		}
		if uid >= 0 {
			o.UID = uint32(uid)
		}
		if gid >= 0 {
			o.GID = uint32(gid)
		}
	}
	if umask >= 0 {
		if umask > 0o777 {
			return o, fmt.Errorf("umask %o is not a mode", umask)
		}
		o.Umask = uint32(umask)
	}
	if isoMap != "" {
		m, err := iso9660.ParseNameMap(isoMap)
		if err != nil {
			return o, err
		}
		o.ISO9660.Map = m
	}
	return o, nil
}
