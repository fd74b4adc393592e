package cli

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/disk/diskpipe"
	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/internal/serveproto"
)

// The userspace path of `loops mount`: loops starts its FUSE server, the
// separate binary loops-serve (cmd/loops-serve), as a background daemon:
// `loops-serve __serve --image IMAGE … -- MOUNTPOINT` (the command line is
// internal/serveproto's, which the server reads back). It mounts the image
// through FUSE with the reader of its type (blockloop/userfs) and writes
// "ready" (or "error: …") on the pipe it inherited as fd 3; `loops mount`
// returns only once the mount is live. The server holds no state: it exits
// when the filesystem is unmounted, by anyone.
//
// The server is its own binary so that go-fuse and the format readers
// (their package init, their pages) are no part of the start of every other
// loops command. `loops __serve ARGS` still works: it hands over (exec) to
// loops-serve with the same arguments.

// serveBinary is where `make install` puts the server, stamped at build time
// (-ldflags -X …/cli.serveBinary=$(PREFIX)/lib/loops/loops-serve); empty
// in a plain go build. It is the last place looked (see serverPath).
var serveBinary string

// serveReadyTimeout bounds how long `loops mount` waits for the server.
const serveReadyTimeout = 20 * time.Second

// userspaceTypes are the types loops serves in userspace (the server's
// readers: blockloop.UserspaceTypes, checked against userfs.Types() by the
// server's tests).
var userspaceTypes = map[string]bool{}

func init() {
	for _, t := range blockloop.UserspaceTypes {
		userspaceTypes[t] = true
	}
}

// userspaceTypeList is the sorted list of those types, for messages.
func userspaceTypeList() []string {
	l := slices.Clone(blockloop.UserspaceTypes)
	slices.Sort(l)
	return l
}

// serverPath finds loops-serve: beside the running loops (a build tree's
// bin/, or a package that puts both in one directory), in ../lib/loops/
// from it (make install: $(PREFIX)/bin/loops and
// $(PREFIX)/lib/loops/loops-serve), or where the build stamped it.
func serverPath() (string, error) {
	var tried []string
	if self, err := os.Executable(); err == nil {
		dir := filepath.Dir(self)
		tried = append(tried, filepath.Join(dir, serveproto.Binary), filepath.Join(filepath.Dir(dir), "lib", "loops", serveproto.Binary))
	}
	if serveBinary != "" {
		tried = append(tried, serveBinary)
	}
	for _, p := range tried {
		if st, err := os.Stat(p); err == nil && st.Mode().IsRegular() && st.Mode().Perm()&0o111 != 0 {
			return p, nil
		}
	}
	return "", fmt.Errorf("loops' userspace server %s is not installed (looked for %s): reinstall loops (make install installs both)", serveproto.Binary, strings.Join(tried, ", "))
}

// startUserspaceServer runs the server for m as a daemon and waits until
// its mount is live.
func startUserspaceServer(m blockloop.ServeRequest) error {
	// Said here, where the error can carry the command line to retry.
	if err := fuseAvailable(); err != nil {
		return err
	}
	bin, err := serverPath()
	if err != nil {
		return err
	}
	// The pipe the server answers on, and /dev/null for its stdio, by
	// plain syscalls: os.Pipe would put the read end in the runtime's
	// poller and os/exec would check, once per process, that the kernel
	// has working pidfds by forking a throwaway child; `loops mount`
	// starts one process and waits on one pipe, so neither pays here.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return fmt.Errorf("start the userspace server: %w", err)
	}
	r, w := p[0], p[1]
	defer unix.Close(r)
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(w)
		return fmt.Errorf("start the userspace server: %w", err)
	}
	req := &serveproto.Serve{Image: m.Image, Type: m.Type, Offset: m.Offset, SizeLimit: m.SizeLimit, Disk: m.Disk, ReadWrite: m.ReadWrite,
		UID: m.Owner.UID, GID: m.Owner.GID, Umask: m.Owner.Umask, Map: m.Owner.ISOMap, KeyFD: -1, Mountpoint: m.Mountpoint}
	if m.RawDisk {
		// A VM disk alone: the server knows the image is one.
		req = &serveproto.Serve{Image: m.Image, RawDisk: true, Disk: m.Disk && len(m.Layers) > 0, UID: -1, GID: -1, Umask: -1, KeyFD: -1, Mountpoint: m.Mountpoint}
	}
	if !m.RawDisk {
		// The server's log: the files that fail to read (a truncated image).
		req.Log = serverLogPath(m.Mountpoint)
	}
	files := []uintptr{uintptr(null), uintptr(null), uintptr(null), uintptr(w)} // the answer on fd 3 (serveproto.ReadyFD)
	if len(m.Layers) > 0 {
		for _, l := range m.Layers {
			req.Layers = append(req.Layers, l.String())
		}
		// The keys on the next fd: a pipe filled before the server
		// starts, never argv, the environment or a file.
		kr, err := keyPipe(m.Keys)
		if err != nil {
			unix.Close(null)
			unix.Close(w)
			return fmt.Errorf("start the userspace server: %w", err)
		}
		defer unix.Close(kr)
		req.KeyFD = len(files)
		files = append(files, uintptr(kr))
	}
	// PV files an LVM layer names: opened here, read by the server through
	// the fds it inherits.
	for _, pv := range m.PVs {
		fd, err := unix.Open(pv, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			unix.Close(null)
			unix.Close(w)
			return fmt.Errorf("open the PV %s: %w", pv, err)
		}
		defer unix.Close(fd)
		req.PVFDs = append(req.PVFDs, len(files))
		files = append(files, uintptr(fd))
	}
	pid, err := syscall.ForkExec(bin, append([]string{serveproto.Binary}, serveproto.Args(req)...), &syscall.ProcAttr{
		Dir:   "/",
		Env:   serverEnv(),
		Files: files,
		Sys:   &syscall.SysProcAttr{Setsid: true}, // its own session: a daemon
	})
	unix.Close(null)
	unix.Close(w)
	if err != nil {
		return fmt.Errorf("start the userspace server: %w", err)
	}
	// A timer kills a server that hangs, which ends the read (EOF).
	hung := time.AfterFunc(serveReadyTimeout, func() { unix.Kill(pid, unix.SIGKILL) })
	line, rerr := readLine(r)
	timedOut := !hung.Stop()
	answer := serveproto.ReadAnswer(line)
	if answer == nil && rerr == nil {
		return nil // the server runs on, reparented to init when loops exits
	}
	var ws unix.WaitStatus
	_, werr := unix.Wait4(pid, &ws, 0, nil)
	for werr == unix.EINTR {
		_, werr = unix.Wait4(pid, &ws, 0, nil)
	}
	if timedOut {
		return fmt.Errorf("the userspace server did not come up within %s", serveReadyTimeout)
	}
	if answer != nil && !errors.Is(answer, serveproto.ErrNoAnswer) {
		return answer // the server's own error
	}
	return fmt.Errorf("the userspace server exited before the mount was live (%s)", exitStatus(ws, werr))
}

// keyPipe writes keys (layer.WriteKeys) into a new pipe and returns its
// read end; the write end is closed, so the reader sees the end after
// them. The keys fit the pipe's buffer (64 KiB; volume keys are at most
// 64 bytes each).
func keyPipe(keys [][]byte) (int, error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, err
	}
	wf := os.NewFile(uintptr(p[1]), "|keys")
	err := layer.WriteKeys(wf, keys)
	wf.Close()
	if err != nil {
		unix.Close(p[0])
		return -1, err
	}
	return p[0], nil
}

// serverEnv is the server's environment: loops', in "/".
func serverEnv() []string {
	env := slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "PWD=") })
	return append(env, "PWD=/")
}

// readLine reads fd up to the first newline or EOF, trimmed.
func readLine(fd int) (string, error) {
	var buf []byte
	b := make([]byte, 512)
	for {
		n, err := unix.Read(fd, b)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return strings.TrimSpace(string(buf)), err
		}
		if n == 0 {
			return strings.TrimSpace(string(buf)), io.EOF
		}
		buf = append(buf, b[:n]...)
		if i := bytes.IndexByte(buf, '\n'); i >= 0 {
			return strings.TrimSpace(string(buf[:i])), nil
		}
	}
}

// exitStatus says how a process ended, as os.ProcessState does.
func exitStatus(ws unix.WaitStatus, err error) string {
	switch {
	case err != nil:
		return err.Error()
	case ws.Exited():
		return "exit status " + strconv.Itoa(ws.ExitStatus())
	case ws.Signaled():
		return "signal: " + ws.Signal().String()
	}
	return fmt.Sprintf("wait status %#x", uint32(ws))
}

// newServeCmd is the hidden `loops __serve`, kept for compatibility: it
// hands over to loops-serve with the same arguments.
func newServeCmd(f *Factory) *cobra.Command {
	return &cobra.Command{
		Use:                serveproto.ServeCommand + " --image <image> --type <type> <mountpoint>",
		Short:              "Serve an image over FUSE until it is unmounted (used by loops mount; runs loops-serve)",
		Hidden:             true,
		DisableFlagParsing: true,
		RunE: func(cmd *cobra.Command, args []string) error {
			bin, err := serverPath()
			if err != nil {
				return err
			}
			argv := append([]string{serveproto.Binary, serveproto.ServeCommand}, args...)
			return fmt.Errorf("run %s: %w", bin, syscall.Exec(bin, argv, os.Environ()))
		},
	}
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

// readDiskEndTimeout bounds how long closing such a disk waits for the
// reader to end before killing it.
const readDiskEndTimeout = 10 * time.Second

// openVirtualDisk is blockloop.Host.OpenVirtualDisk: it reads the VM disk
// image at abs through `loops-serve __read-disk IMAGE`, a child that links
// the decompressors loops does not (zstd: their package init would cost
// every loops command), answering reads of the virtual disk on its stdin
// and stdout (blockloop/disk/diskpipe). Closing the disk ends the child
// and waits for it; on an error, nothing is left running.
func openVirtualDisk(abs string) (*disk.Disk, error) {
	bin, err := serverPath()
	if err != nil {
		return nil, err
	}
	// Plain pipes and fork/exec, as startUserspaceServer does: no poller,
	// no pidfd probe. Blocking fds: os.NewFile leaves them out of the
	// poller too.
	var in, out [2]int
	if err := unix.Pipe2(in[:], unix.O_CLOEXEC); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	if err := unix.Pipe2(out[:], unix.O_CLOEXEC); err != nil {
		unix.Close(in[0])
		unix.Close(in[1])
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		for _, fd := range []int{in[0], in[1], out[0], out[1]} {
			unix.Close(fd)
		}
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	pid, err := syscall.ForkExec(bin, append([]string{serveproto.Binary}, serveproto.Args(&serveproto.ReadDisk{Image: abs})...), &syscall.ProcAttr{
		Dir:   "/",
		Env:   serverEnv(),
		Files: []uintptr{uintptr(in[0]), uintptr(out[1]), uintptr(null)},
	})
	unix.Close(in[0])
	unix.Close(out[1])
	unix.Close(null)
	if err != nil {
		unix.Close(in[1])
		unix.Close(out[0])
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	rd := &diskReader{pid: pid, w: os.NewFile(uintptr(in[1]), "|"+serveproto.Binary), r: os.NewFile(uintptr(out[0]), serveproto.Binary+"|")}
	d, err := diskpipe.Open(rd.r, rd.w, rd)
	if err != nil {
		cerr := rd.Close()
		if errors.Is(err, diskpipe.ErrProtocol) && cerr != nil {
			return nil, fmt.Errorf("%w (%w)", err, cerr)
		}
		return nil, err // the reader's own: the image's error, as disk.Open said it
	}
	return d, nil
}

// diskReader is a running `loops-serve __read-disk`: its stdin (w) and
// stdout (r).
type diskReader struct {
	pid  int
	w, r *os.File
}

// Close ends the reader (its stdin ends; a reader that does not end within
// readDiskEndTimeout is killed) and waits for it. The error says how it
// ended, unless it exited with status 0.
func (rd *diskReader) Close() error {
	rd.w.Close()
	rd.r.Close()
	hung := time.AfterFunc(readDiskEndTimeout, func() { unix.Kill(rd.pid, unix.SIGKILL) })
	defer hung.Stop()
	var ws unix.WaitStatus
	_, err := unix.Wait4(rd.pid, &ws, 0, nil)
	for err == unix.EINTR {
		_, err = unix.Wait4(rd.pid, &ws, 0, nil)
	}
	if err == nil && ws.Exited() && ws.ExitStatus() == 0 {
		return nil
	}
	return fmt.Errorf("%s %s ended: %s", serveproto.Binary, serveproto.ReadDiskCommand, exitStatus(ws, err))
}
