package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/userfs"
)

// The userspace path of `loops mount`: loops re-executes itself as a
// background server (`loops __serve`), which mounts the image through
// FUSE with the reader of its type (blockloop/userfs) and writes "ready" (or "error: …") on the pipe it inherited as fd 3.
// `loops mount` returns only once the mount is live. The server holds no
// state: it exits when the filesystem is unmounted, by anyone.

const serveCommand = "__serve"

// serveReadyTimeout bounds how long `loops mount` waits for the server.
const serveReadyTimeout = 20 * time.Second

// userspaceTypes are the types loops serves in userspace.
var userspaceTypes = func() map[string]bool {
	m := map[string]bool{}
	for _, t := range userfs.Types() {
		m[t] = true
	}
	return m
}()

// startUserspaceServer runs the server for m as a daemon and waits until
// its mount is live.
func startUserspaceServer(m blockloop.UserspaceMount) error {
	// Said here, where the error can carry the command line to retry.
	if err := fuseAvailable(); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		self = "/proc/self/exe"
	}
	r, w, err := os.Pipe()
	if err != nil {
		return err
	}
	defer r.Close()
	args := []string{serveCommand, "--image", m.Image, "--type", m.Type,
		"--offset", strconv.FormatInt(m.Offset, 10), "--sizelimit", strconv.FormatInt(m.SizeLimit, 10)}
	switch {
	case m.RawDisk:
		args = []string{serveCommand, "--image", m.Image, "--raw-disk"}
	case m.Disk:
		args = append(args, "--disk")
	}
	if m.Owner.UID >= 0 {
		args = append(args, "--uid", strconv.Itoa(m.Owner.UID))
	}
	if m.Owner.GID >= 0 {
		args = append(args, "--gid", strconv.Itoa(m.Owner.GID))
	}
	if m.Owner.Umask >= 0 {
		args = append(args, "--umask", strconv.FormatInt(int64(m.Owner.Umask), 8))
	}
	cmd := exec.Command(self, append(args, m.Mountpoint)...)
	cmd.Args[0] = "loops"
	cmd.ExtraFiles = []*os.File{w} // fd 3
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cmd.Dir = "/"
	if err := cmd.Start(); err != nil {
		w.Close()
		return fmt.Errorf("start the userspace server: %w", err)
	}
	w.Close()
	type answer struct {
		line string
		err  error
	}
	got := make(chan answer, 1)
	go func() {
		line, err := bufio.NewReader(r).ReadString('\n')
		got <- answer{strings.TrimSpace(line), err}
	}()
	select {
	case a := <-got:
		if a.line == "ready" {
			return cmd.Process.Release()
		}
		werr := cmd.Wait()
		if msg, ok := strings.CutPrefix(a.line, "error: "); ok {
			return errors.New(msg)
		}
		return fmt.Errorf("the userspace server exited before the mount was live (%v)", werr)
	case <-time.After(serveReadyTimeout):
		cmd.Process.Kill()
		cmd.Wait()
		return fmt.Errorf("the userspace server did not come up within %s", serveReadyTimeout)
	}
}

type serveOptions struct {
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

// newServeCmd is the hidden server command `loops mount` starts.
func newServeCmd(f *Factory) *cobra.Command {
	opts := &serveOptions{}
	cmd := &cobra.Command{
		Use:    serveCommand + " --image <image> --type <type> <mountpoint>",
		Short:  "Serve an image over FUSE until it is unmounted (used by loops mount)",
		Hidden: true,
		Args:   exactArgs(1, "a mount point"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Mountpoint = args[0]
			return serveRun(opts)
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&opts.Image, "image", "", "the image `file`")
	fl.StringVar(&opts.Type, "type", "iso9660", "its filesystem `type`")
	fl.Int64Var(&opts.Offset, "offset", 0, "where the filesystem starts in the image")
	fl.Int64Var(&opts.SizeLimit, "sizelimit", 0, "its size, 0 for to the end")
	fl.IntVar(&opts.UID, "uid", -1, "owner of files the format gives none")
	fl.IntVar(&opts.GID, "gid", -1, "group of files the format gives none")
	fl.StringVar(&opts.Umask, "umask", "", "octal umask for files the format gives no modes")
	fl.BoolVar(&opts.Disk, "disk", false, "the image is a VM disk (qcow2, vmdk, vhdx, vdi); offsets are in its virtual disk")
	fl.BoolVar(&opts.RawDisk, "raw-disk", false, "serve the VM disk image's virtual disk as one file, for a loop device")
	return cmd
}

func serveRun(opts *serveOptions) error {
	ready := os.NewFile(3, "ready")
	tell := func(s string) {
		if ready != nil {
			fmt.Fprintln(ready, s)
			ready.Close()
			ready = nil
		}
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT, syscall.SIGHUP)
	defer stop()
	err := serve(ctx, opts, func() { tell("ready") })
	if err != nil {
		tell("error: " + strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return err
}

// serve mounts the image with loops' reader of its type, calls ready once
// the mount is live, and serves until it is unmounted (by loops umount,
// umount or fusermount -u) or ctx ends (then it unmounts).
func serve(ctx context.Context, opts *serveOptions, ready func()) error {
	if opts.RawDisk {
		srv, err := userfs.ServeDisk(ctx, opts.Image, opts.Mountpoint, userfs.Options{})
		if err != nil {
			return fmt.Errorf("serve %s at %s: %w", opts.Image, opts.Mountpoint, err)
		}
		ready()
		return srv.Wait()
	}
	o := userfs.Options{Type: opts.Type, Offset: opts.Offset, SizeLimit: opts.SizeLimit, Disk: opts.Disk}
	if _, uid, gid := invokingUser(); uid >= 0 {
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

// fuseAvailable says what is missing for a FUSE mount, if anything: the
// device, and for a user who is not root, fusermount.
func fuseAvailable() error {
	f, err := os.OpenFile("/dev/fuse", os.O_RDWR, 0)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return errors.New("/dev/fuse is missing: load the fuse module (sudo modprobe fuse), or in a container pass --device /dev/fuse")
	case errors.Is(err, os.ErrPermission):
		return withCommandHint(fmt.Errorf("/dev/fuse is not open to you (mode %s): %w", fuseMode(), err), func(c string) string {
			return "Run it as root: sudo " + c + "\nor ask for /dev/fuse to be 0666, as most distributions ship it."
		})
	case err != nil:
		return fmt.Errorf("open /dev/fuse: %w", err)
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err3 := exec.LookPath("fusermount3"); err3 != nil {
			if _, err2 := exec.LookPath("fusermount"); err2 != nil {
				return withCommandHint(errors.New("fusermount3 (or fusermount) is missing, and a user who is not root needs it to mount through FUSE"),
					func(c string) string { return "Install it (sudo apt-get install fuse3), or run it as root: sudo " + c })
			}
		}
	}
	return nil
}

func fuseMode() string {
	st, err := os.Stat("/dev/fuse")
	if err != nil {
		return "unknown"
	}
	return fmt.Sprintf("%04o", st.Mode().Perm())
}
