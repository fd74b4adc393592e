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
	"github.com/loops-cli/loops/blockloop/isofs"
)

// The userspace path of `loops mount`: loops re-executes itself as a
// background server (`loops __serve-iso`), which mounts the image through
// FUSE and writes "ready" (or "error: …") on the pipe it inherited as fd 3.
// `loops mount` returns only once the mount is live. The server holds no
// state: it exits when the filesystem is unmounted, by anyone.

const serveISOCommand = "__serve-iso"

// serveReadyTimeout bounds how long `loops mount` waits for the server.
const serveReadyTimeout = 20 * time.Second

// userspaceTypes are the types loops serves in userspace.
var userspaceTypes = map[string]bool{"iso9660": true}

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
	cmd := exec.Command(self, serveISOCommand,
		"--image", m.Image, "--offset", strconv.FormatInt(m.Offset, 10),
		"--sizelimit", strconv.FormatInt(m.SizeLimit, 10), m.Mountpoint)
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

type serveISOOptions struct {
	Image      string
	Offset     int64
	SizeLimit  int64
	Mountpoint string
}

// newServeISOCmd is the hidden server command `loops mount` starts.
func newServeISOCmd(f *Factory) *cobra.Command {
	opts := &serveISOOptions{}
	cmd := &cobra.Command{
		Use:    serveISOCommand + " --image <image> <mountpoint>",
		Short:  "Serve an ISO 9660 image over FUSE until it is unmounted (used by loops mount)",
		Hidden: true,
		Args:   exactArgs(1, "a mount point"),
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Mountpoint = args[0]
			return serveISORun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Image, "image", "", "the image `file`")
	cmd.Flags().Int64Var(&opts.Offset, "offset", 0, "where the filesystem starts in the image")
	cmd.Flags().Int64Var(&opts.SizeLimit, "sizelimit", 0, "its size, 0 for to the end")
	return cmd
}

func serveISORun(opts *serveISOOptions) error {
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
	err := serveISO(ctx, opts, func() { tell("ready") })
	if err != nil {
		tell("error: " + strings.ReplaceAll(err.Error(), "\n", " "))
	}
	return err
}

// serveISO mounts the image with loops' ISO 9660 reader, calls ready once
// the mount is live, and serves until it is unmounted (by loops umount,
// umount or fusermount -u) or ctx ends (then it unmounts).
func serveISO(ctx context.Context, opts *serveISOOptions, ready func()) error {
	if opts.Offset != 0 || opts.SizeLimit != 0 {
		return errors.New("the userspace reader serves an ISO image from its start only (not inside a partition)")
	}
	o := isofs.Options{}
	if _, uid, gid := invokingUser(); uid >= 0 {
		// Files of an image without Rock Ridge belong to the user sudo
		// acts for, not to root.
		o.UID, o.GID, o.SetOwner = uint32(uid), uint32(max(gid, 0)), true
	}
	srv, err := isofs.Serve(ctx, opts.Image, opts.Mountpoint, o)
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
		return withHint(fmt.Errorf("/dev/fuse is not open to you (mode %s): %w", fuseMode(), err),
			"Run it as root: sudo %s\nor ask for /dev/fuse to be 0666, as most distributions ship it.", commandLine())
	case err != nil:
		return fmt.Errorf("open /dev/fuse: %w", err)
	}
	f.Close()
	if os.Geteuid() != 0 {
		if _, err3 := exec.LookPath("fusermount3"); err3 != nil {
			if _, err2 := exec.LookPath("fusermount"); err2 != nil {
				return withHint(errors.New("fusermount3 (or fusermount) is missing, and a user who is not root needs it to mount through FUSE"),
					"Install it (sudo apt-get install fuse3), or run it as root: sudo %s", commandLine())
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
