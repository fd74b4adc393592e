package blockloop

import (
	"errors"
	"fmt"
	"github.com/loops-cli/loops/blockloop/layer"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"golang.org/x/sys/unix"
)

// mountDisk mounts a filesystem of a VM disk image through the kernel: a
// loops server presents the virtual disk as one read-only file
// (RunDir/disks/ID/disk.raw, root's only), a read-only loop device with
// autoclear reads that file at the plan's offset, and the kernel mounts
// it. The server ends by itself when the loop device lets go of the file,
// so a plain umount tears everything down. Nothing is left on failure.
// Needs root.
func (h *Host) mountDisk(abs string, plan Plan, opts MountOptions) (*MountResult, error) {
	if opts.ServeUserspace == nil {
		return nil, opErr("mount", abs, "", "", reasonf(ErrNoDriver, "serving %s is not available here", servedWhat(plan)))
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("mount", abs, "", "", err)
	}
	if where := h.diskMountpoints(abs, mounts); len(where) > 0 {
		return nil, opErr("mount", abs, "", "", reasonf(ErrAlreadyMounted, "already mounted at %s", where[0]))
	}
	dir, err := h.prepareMountpoint(abs, plan, opts)
	if err != nil {
		return nil, opErr("mount", abs, "", opts.Mountpoint, err)
	}
	why := "loops reads the LUKS, LVM and md layers it opens read-only"
	if plan.Disk != nil {
		why = "loops reads " + plan.Disk.Format + " images read-only"
	}
	m := readOnlyMount(abs, dir, plan, why)
	raw, err := h.serveRawDisk(ServeRequest{Image: abs, RawDisk: true, Disk: plan.Disk != nil, Layers: plan.stack, Keys: plan.keys, PVs: plan.pvFiles}, opts.ServeUserspace)
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	// From here the server ends when raw is closed and no loop device
	// holds it.
	// Buffered, not direct I/O: the served file's page cache, filled 4 MiB
	// at a time by FUSE readahead, answers a filesystem's many small reads
	// (direct I/O made each one a round trip to the server: reading every
	// file of a qcow2 disk took 1.6x as long; a 1 GiB file in LUKS2 read
	// 1.15-1.5x faster with it).
	lf, n, err := h.attachFd(raw, abs, AttachOptions{ReadOnly: true, Offset: plan.Offset, SizeLimit: plan.SizeLimit}, true)
	raw.Close()
	if err != nil {
		dir.cleanup()
		return nil, opErr("mount", abs, "", dir.path, err)
	}
	h.setReadAhead(n, servedReadAheadKB)
	m.Device = fmt.Sprintf("/dev/loop%d", n)
	err = h.mountLoop(m, dir, opts)
	lf.Close()
	if err != nil {
		h.waitUnbound(n, 0, time.Second)
		dir.cleanup()
		return nil, opErr("mount", abs, m.Device, dir.path, err)
	}
	dir.close()
	return m, nil
}

// servedReadAheadKB is the least readahead of a loop device on a served
// file, as the served file's own: a big file's reads then reach the
// server in 4 MiB runs. Kernels before 6.x start loop devices at 128 KiB
// (a 1 GiB file in LUKS2 read in 0.7-2.2 s with it, 0.44-0.5 s with 4 MiB,
// here); this one at twice max_sectors_kb (2560 KiB).
const servedReadAheadKB = 4096

// setReadAhead raises the readahead of /dev/loopN to kb (blockdev
// --setra; never lowers it). The value stays with the device after it is
// detached, as blockdev's does. A tuning: where sysfs refuses, the device
// works as it is.
func (h *Host) setReadAhead(n, kb int) {
	q := filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", n), "queue")
	if kernfile.SysInt(q, "read_ahead_kb") < int64(kb) {
		_ = kernfile.WriteFile(filepath.Join(q, "read_ahead_kb"), strconv.Itoa(kb))
	}
}

// serveRawDisk starts a server of req (the virtual disk of a VM disk
// image, or the top of its layers) in a fresh directory under
// RunDir/disks and opens its file. The server ends once that file is
// closed by everyone; on error nothing is left running.
func (h *Host) serveRawDisk(req ServeRequest, serve func(ServeRequest) error) (*os.File, error) {
	base := filepath.Join(h.runDir(), "disks")
	if err := os.MkdirAll(base, 0o700); err != nil {
		return nil, err
	}
	// MkdirTemp: a fresh 0700 directory with a random name (no crypto/rand,
	// whose init every CLI command would pay).
	dir, err := os.MkdirTemp(base, "")
	if err != nil {
		return nil, err
	}
	req.Mountpoint = dir
	if err := serve(req); err != nil {
		os.Remove(dir)
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, DiskFile), os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		// Never opened: the server does not end by itself.
		unix.Unmount(dir, unix.MNT_DETACH)
		return nil, fmt.Errorf("open the served disk: %w", err)
	}
	return f, nil
}

// servedWhat names what a disk server would serve for plan.
func servedWhat(plan Plan) string {
	if plan.Disk != nil {
		return "a " + plan.Disk.Format + " virtual disk"
	}
	return topLayerWhat(plan.stack)
}

// topLayerWhat names the top of a stack of layers: "an encrypted volume",
// "an LVM logical volume", "an md RAID1 array".
func topLayerWhat(stack []layer.Spec) string {
	if len(stack) == 0 {
		return "a layer"
	}
	switch stack[len(stack)-1].Kind {
	case layer.KindLVM:
		return "an LVM logical volume"
	case layer.KindMD:
		return "an md RAID1 array"
	}
	return "an encrypted volume"
}

// diskServers are the mounts of RawDisk servers, by mount point.
func diskServers(mounts []MountEntry) map[string]MountEntry {
	out := map[string]MountEntry{}
	for _, m := range mounts {
		if m.FSType == DiskFSType || strings.HasPrefix(m.FSType, DiskFSType+"+") {
			out[m.Mountpoint] = m
		}
	}
	return out
}

// servedLayers are the layer kinds a disk server's mount opened between
// its image and the served file ("luks"), from its FUSE subtype
// ("fuse.loops-disk+luks").
func servedLayers(m MountEntry) []string {
	rest, ok := strings.CutPrefix(m.FSType, DiskFSType+"+")
	if !ok {
		return nil
	}
	return strings.Split(rest, "+")
}

// diskImageOf is the VM disk image a loop device's backing file is served
// from, when it is a RawDisk server's file.
func diskImageOf(backing string, servers map[string]MountEntry) (string, bool) {
	if filepath.Base(backing) != DiskFile {
		return "", false
	}
	m, ok := servers[filepath.Dir(backing)]
	return m.Source, ok
}

// diskMountpoints lists where the VM disk image abs is mounted through a
// RawDisk server.
func (h *Host) diskMountpoints(abs string, mounts []MountEntry) []string {
	servers := diskServers(mounts)
	var out []string
	for _, m := range servers {
		if m.Source != abs {
			continue
		}
		devs, _ := h.backingPath(filepath.Join(m.Mountpoint, DiskFile))
		for _, d := range devs {
			out = append(out, mountsOf(mounts, d.Number)...)
		}
		if len(out) == 0 {
			out = append(out, m.Mountpoint+" (served, no mount)")
		}
	}
	return out
}

// waitServerGone waits, briefly, for the RawDisk server of dir to end
// (its mount gone), and tells whether it did.
func (h *Host) waitServerGone(dir string, within time.Duration) bool {
	deadline := time.Now().Add(within)
	for {
		mounts, err := h.mounts()
		if err == nil {
			// Gone from mountinfo, and its directory removed by it.
			if _, ok := diskServers(mounts)[dir]; !ok && unix.Access(dir, unix.F_OK) != nil {
				return true
			}
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// attachDisk attaches a read-only loop device to the virtual disk of the
// VM disk image abs (format), served by loops, that stays until detached;
// detaching it ends the server. Needs root.
func (h *Host) attachDisk(abs, format string, opts AttachOptions) (*Device, error) {
	if opts.ServeUserspace == nil {
		return nil, opErr("attach", abs, "", "", reasonf(ErrUnsupportedImage, "this is a %s disk image, which a loop device cannot read", format))
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	for _, m := range diskServers(mounts) {
		if m.Source != abs {
			continue
		}
		devs, _ := h.backingPath(filepath.Join(m.Mountpoint, DiskFile))
		for _, d := range devs {
			if d.Offset == opts.Offset && d.SizeLimit == opts.SizeLimit {
				d.Image, d.DiskFormat = abs, format
				return &d, nil
			}
		}
	}
	raw, err := h.serveRawDisk(ServeRequest{Image: abs, RawDisk: true, Disk: true}, opts.ServeUserspace)
	if err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	opts.ReadOnly = true
	lf, n, err := h.attachFd(raw, abs, opts, false)
	raw.Close()
	if err != nil {
		return nil, opErr("attach", abs, "", "", err)
	}
	lf.Close()
	d, err := h.readSys(n)
	if err != nil {
		return nil, opErr("attach", abs, fmt.Sprintf("/dev/loop%d", n), "", err)
	}
	d.Image, d.DiskFormat = abs, format
	return d, nil
}

// diskFormatOf names the format of the VM disk image at p, or "".
func diskFormatOf(p string) string {
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	return diskFormat(f)
}

// diskFormat names the format of the VM disk image r, by its first bytes,
// or "" when it is none.
func diskFormat(r io.ReaderAt) string {
	head := make([]byte, 4096)
	n, _ := r.ReadAt(head, 0)
	return disk.Detect(head[:n])
}

// diskDevices lists the loop devices reading the virtual disk of the VM
// disk image at p, served by loops.
func (h *Host) diskDevices(p string) []Device {
	abs, err := filepath.Abs(p)
	if err != nil {
		return nil
	}
	mounts, err := h.mounts()
	if err != nil {
		return nil
	}
	var out []Device
	for _, m := range diskServers(mounts) {
		if m.Source == abs {
			devs, _ := h.backingPath(filepath.Join(m.Mountpoint, DiskFile))
			out = append(out, devs...)
		}
	}
	return out
}

// cleanDeadServer removes the mount of a RawDisk server that died (its
// statfs answers ENOTCONN: attributes may be cached, statfs never is) and
// the directory, and tells whether it did.
func cleanDeadServer(dir string) bool {
	var st unix.Statfs_t
	if err := unix.Statfs(dir, &st); !errors.Is(err, unix.ENOTCONN) {
		return false
	}
	if err := unix.Unmount(dir, unix.MNT_DETACH); err != nil {
		return false
	}
	unix.Rmdir(dir)
	return true
}

// backingPath lists the loop devices backed by the file at p.
func (h *Host) backingPath(p string) ([]Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(p, &st); err != nil {
		return nil, err
	}
	return h.backing(st, p)
}
