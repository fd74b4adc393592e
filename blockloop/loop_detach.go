package blockloop

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// DetachResult says what Detach did to one device.
type DetachResult struct {
	Device string
	Image  string
	// Deferred is true when the device is still in use (mounted, or open
	// by a process): the kernel detaches it when the last user lets go.
	Deferred    bool
	Mountpoints []string
	// DiskServer: the device read a VM disk image served by loops (Image
	// is the VM image); DiskServerStopped: that server has ended.
	DiskServer        bool
	DiskServerStopped bool
}

// Detach detaches a loop device, given as /dev/loopN or as the image it
// backs (then every device backing that image), like `losetup -d`. Before
// clearing a device it holds it open and checks it still backs the file it
// was found backing: devices are reused within milliseconds, and detaching
// by name alone can hit someone else's new device. A device still in use is
// only marked to detach on last close; the result says so. Needs root.
func (h *Host) Detach(target string) ([]DetachResult, error) {
	devs, err := h.resolveDevices(target)
	if err != nil {
		return nil, opErr("detach", "", "", target, err)
	}
	var out []DetachResult
	for _, d := range devs {
		r, err := h.detachOne(d)
		if err != nil {
			return out, opErr("detach", d.BackingFile, d.Path, "", err)
		}
		out = append(out, r)
	}
	return out, nil
}

// resolveDevices finds the bound loop devices meant by target: a loop
// device node or an image file.
func (h *Host) resolveDevices(target string) ([]Device, error) {
	var st unix.Stat_t
	if err := unix.Stat(target, &st); err != nil {
		return nil, err
	}
	switch st.Mode & unix.S_IFMT {
	case unix.S_IFBLK:
		if unix.Major(st.Rdev) != loopMajor {
			return nil, ErrNotLoop
		}
		d, err := h.readSys(int(unix.Minor(st.Rdev)))
		if err != nil {
			return nil, reasonf(ErrNotAttached, "%s backs no file", target)
		}
		return []Device{*d}, nil
	case unix.S_IFREG:
		devs, err := h.backing(st, target)
		if err != nil {
			return nil, err
		}
		if len(devs) == 0 {
			devs = h.diskDevices(target)
		}
		if len(devs) == 0 {
			return nil, reasonf(ErrNotAttached, "no loop device backs this file")
		}
		return devs, nil
	case unix.S_IFDIR:
		return nil, reasonf(ErrNotLoop, "is a directory, not a loop device or an image (to unmount it: loops umount)")
	}
	return nil, ErrNotLoop
}

func (h *Host) detachOne(d Device) (DetachResult, error) {
	r := DetachResult{Device: d.Path, Image: d.BackingFile}
	var serverDir string
	if mounts, err := h.mounts(); err == nil {
		if img, ok := diskImageOf(d.BackingFile, diskServers(mounts)); ok {
			r.Image, r.DiskServer, serverDir = img, true, filepath.Dir(d.BackingFile)
		}
	}
	lf, err := kernfile.Open(d.Path, os.O_RDONLY)
	if err != nil {
		return r, unwrapPath(err)
	}
	info, err := unix.IoctlLoopGetStatus64(int(lf.Fd()))
	if err != nil {
		lf.Close()
		if errors.Is(err, unix.ENXIO) {
			return r, reasonf(ErrNotAttached, "it was detached meanwhile")
		}
		return r, fmt.Errorf("LOOP_GET_STATUS64: %w", err)
	}
	if (d.BackingInode != 0 && (info.Inode != d.BackingInode || info.Device != d.BackingDev)) || int64(info.Offset) != d.Offset {
		lf.Close()
		return r, reasonf(ErrDeviceChanged, "%s was reused for another file meanwhile; left alone", d.Path)
	}
	// LOOP_CLR_FD on the fd that was checked: the device is still the one
	// found (the kernel clears it only on its last close).
	if err := unix.IoctlSetInt(int(lf.Fd()), unix.LOOP_CLR_FD, 0); err != nil {
		lf.Close()
		return r, fmt.Errorf("LOOP_CLR_FD: %w", err)
	}
	lf.Close()
	if h.waitUnbound(d.Number, d.BackingInode, 200*time.Millisecond) {
		if r.DiskServer {
			r.DiskServerStopped = cleanDeadServer(serverDir) || h.waitServerGone(serverDir, 2*time.Second)
		}
		return r, nil
	}
	r.Deferred = true
	mounts, _ := h.mounts()
	r.Mountpoints = mountsOf(mounts, d.Number)
	return r, nil
}

// waitUnbound waits until loopN backs no file (or another one).
func (h *Host) waitUnbound(n int, ino uint64, within time.Duration) bool {
	// Only sysfs is read here: opening the device to ask it would itself
	// hold it and delay the teardown being waited for.
	bf := filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", n), "loop", "backing_file")
	first, err := kernfile.ReadFile(bf)
	if err != nil {
		return true
	}
	deadline := time.Now().Add(within)
	for {
		cur, err := kernfile.ReadFile(bf)
		if err != nil || string(cur) != string(first) {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(2 * time.Millisecond)
	}
}
