package cli

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"syscall"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/internal/serveproto"
)

// The EROFS index route of `loops mount` (root, a type the kernel has no
// driver for): blockloop makes an unnamed file and asks for the index of
// the image's tree in it; `loops-serve __write-index` (the binary that
// links the readers) writes it to its fd 3 and answers one JSON line on
// stdout. blockloop then mounts it with the kernel's erofs.

// indexRouteName is how messages and listings name the route.
const indexRouteName = "kernel erofs index over the image"

// writeIndexTimeout bounds the writer (a tree of a million files takes
// seconds).
const writeIndexTimeout = 5 * time.Minute

// writeIndex is blockloop.MountOptions.WriteIndex: it runs the writer on
// req with index as its fd 3 and waits for it.
func writeIndex(req blockloop.ServeRequest, index *os.File) (blockloop.IndexInfo, error) {
	bin, err := serverPath()
	if err != nil {
		return blockloop.IndexInfo{}, err
	}
	// Plain pipes and fork/exec, as startUserspaceServer does.
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return blockloop.IndexInfo{}, fmt.Errorf("start %s: %w", bin, err)
	}
	r, w := p[0], p[1]
	defer unix.Close(r)
	null, err := unix.Open(os.DevNull, unix.O_RDWR|unix.O_CLOEXEC, 0)
	if err != nil {
		unix.Close(w)
		return blockloop.IndexInfo{}, fmt.Errorf("start %s: %w", bin, err)
	}
	wreq := &serveproto.WriteIndex{Image: req.Image, Type: req.Type, Offset: req.Offset, SizeLimit: req.SizeLimit,
		UID: req.Owner.UID, GID: req.Owner.GID, Umask: req.Owner.Umask, Map: req.Owner.ISOMap, CompactMtime: req.CompactMtime,
		Mountpoint: req.Mountpoint}
	pid, err := syscall.ForkExec(bin, append([]string{serveproto.Binary}, serveproto.Args(wreq)...), &syscall.ProcAttr{
		Dir:   "/",
		Env:   serverEnv(),
		Files: []uintptr{uintptr(null), uintptr(w), uintptr(null), index.Fd()}, // the index on fd 3 (serveproto.IndexFD)
	})
	unix.Close(null)
	unix.Close(w)
	if err != nil {
		return blockloop.IndexInfo{}, fmt.Errorf("start %s: %w", bin, err)
	}
	hung := time.AfterFunc(writeIndexTimeout, func() { unix.Kill(pid, unix.SIGKILL) })
	line, _ := readLine(r)
	var ws unix.WaitStatus
	_, werr := unix.Wait4(pid, &ws, 0, nil)
	for werr == unix.EINTR {
		_, werr = unix.Wait4(pid, &ws, 0, nil)
	}
	if !hung.Stop() {
		return blockloop.IndexInfo{}, fmt.Errorf("%s %s did not finish within %s", serveproto.Binary, serveproto.WriteIndexCommand, writeIndexTimeout)
	}
	var a serveproto.IndexAnswer
	if jerr := json.Unmarshal([]byte(line), &a); jerr != nil {
		return blockloop.IndexInfo{}, fmt.Errorf("%s %s ended without an answer (%s)", serveproto.Binary, serveproto.WriteIndexCommand, exitStatus(ws, werr))
	}
	switch {
	case a.NotIndexable:
		return blockloop.IndexInfo{}, fmt.Errorf("%s: %w", a.Error, blockloop.ErrNotIndexable)
	case a.Error != "":
		return blockloop.IndexInfo{}, errors.New(a.Error)
	case !ws.Exited() || ws.ExitStatus() != 0:
		return blockloop.IndexInfo{}, fmt.Errorf("%s %s: %s", serveproto.Binary, serveproto.WriteIndexCommand, exitStatus(ws, werr))
	}
	return blockloop.IndexInfo{BlockSize: a.BlockSize, Inodes: a.Inodes, Size: a.Size, Flat: a.Flat,
		Chunked: a.Chunked, Copied: a.Copied, CopiedBytes: a.CopiedBytes}, nil
}
