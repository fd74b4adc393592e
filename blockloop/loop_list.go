package blockloop

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/blockloop/probe"
)

// loopMajor is the block major number of loop devices.
const loopMajor = 7

// Device is a loop device and what backs it, as `losetup --list` shows.
type Device struct {
	Path   string // /dev/loopN
	Number int
	Major  uint32
	Minor  uint32

	// BackingFile is the full path of the backing file, read from
	// /sys/block/loopN/loop/backing_file (never the 64-byte lo_file_name).
	BackingFile string
	// Deleted is true when the backing file has been unlinked.
	Deleted bool
	// BackingDev and BackingInode identify the backing file (st_dev,
	// st_ino). Zero when unknown: reading them needs root.
	BackingDev   uint64
	BackingInode uint64

	Offset    int64
	SizeLimit int64 // 0: to the end of the file
	Size      int64 // the device's size in bytes

	ReadOnly          bool
	Autoclear         bool // detached when the last user closes it
	PartScan          bool
	DirectIO          bool
	LogicalSectorSize int

	// FSType and Label are what the device holds, probed from the backing
	// file (or, when that cannot be read, the type it is mounted as).
	FSType string
	Label  string
	// Mountpoints are where the device is mounted, from /proc/self/mountinfo.
	Mountpoints []string
	// Image is the VM disk image whose virtual disk the device reads, when
	// loops serves it (BackingFile is then the served file), and
	// DiskFormat its format ("qcow2").
	Image      string
	DiskFormat string
	// Layers are the layers loops opened between Image and the device
	// ("luks"), bottom first.
	Layers []string
}

// readDevice fills d's settings from the device itself, when it can be
// opened (read access to it: root, in practice): LOOP_GET_STATUS64 (offset,
// size limit, flags, the backing file's device and inode), BLKSSZGET and
// fstat are five system calls where the seven sysfs attributes that say
// the same cost twenty-one. Reports whether it could.
func readDevice(d *Device) bool {
	f, err := kernfile.Open(d.Path, os.O_RDONLY)
	if err != nil {
		return false
	}
	defer f.Close()
	fd := int(f.Fd())
	info, err := unix.IoctlLoopGetStatus64(fd)
	if err != nil {
		return false
	}
	ssz, err := unix.IoctlGetInt(fd, unix.BLKSSZGET)
	if err != nil {
		return false
	}
	var st unix.Stat_t
	if unix.Fstat(fd, &st) != nil || st.Mode&unix.S_IFMT != unix.S_IFBLK {
		return false
	}
	d.Offset, d.SizeLimit = int64(info.Offset), int64(info.Sizelimit)
	d.Autoclear = info.Flags&unix.LO_FLAGS_AUTOCLEAR != 0
	d.PartScan = info.Flags&unix.LO_FLAGS_PARTSCAN != 0
	d.DirectIO = info.Flags&unix.LO_FLAGS_DIRECT_IO != 0
	d.ReadOnly = info.Flags&unix.LO_FLAGS_READ_ONLY != 0
	d.LogicalSectorSize = ssz
	d.Major, d.Minor = unix.Major(st.Rdev), unix.Minor(st.Rdev)
	d.BackingDev, d.BackingInode = info.Device, info.Inode
	return true
}

// List returns every attached loop device, ordered by number, like
// `losetup --list`. It needs no privilege; BackingDev and BackingInode are
// filled in only when the device can be opened (root).
func (h *Host) List() ([]Device, error) {
	devs, err := h.listSys()
	if err != nil {
		return nil, opErr("list", "", "", h.sysBlock(), err)
	}
	mounts, _ := h.mounts()
	servers := diskServers(mounts)
	for i := range devs {
		d := &devs[i]
		if img, ok := diskImageOf(d.BackingFile, servers); ok {
			d.Image, d.DiskFormat = img, diskFormatOf(img)
			d.Layers = servedLayers(servers[filepath.Dir(d.BackingFile)])
		}
		for _, m := range mounts {
			if k, ok := loopOf(m); ok && k == d.Number {
				d.Mountpoints = append(d.Mountpoints, m.Mountpoint)
				if d.FSType == "" {
					d.FSType = m.FSType
				}
			}
		}
		h.probeBacking(d)
	}
	return devs, nil
}

// probeBacking fills FSType and Label by probing the backing file's range.
func (h *Host) probeBacking(d *Device) {
	if d.Deleted {
		return
	}
	f, err := kernfile.Open(d.BackingFile, os.O_RDONLY)
	if err != nil {
		return
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return
	}
	size := st.Size() - d.Offset
	if d.SizeLimit > 0 && d.SizeLimit < size {
		size = d.SizeLimit
	}
	if size <= 0 {
		return
	}
	p, err := probe.Image(sectionOf(f, d.Offset, size), size, probe.Options{Part: true})
	if err != nil || p.Kind == probe.KindUnknown {
		return
	}
	if p.Type != "" {
		d.FSType = kernelName(p.Type)
	}
	d.Label = p.Label
}

// listSys reads the bound loop devices: those with a loop/backing_file in
// sysfs. Each device is looked at with one fstatat relative to
// /sys/block (as losetup -a does), not an open by full path: a machine
// has dozens of unbound loop devices. /proc/partitions, which
// boundLoopNames reads, would miss a device bound to an empty file.
func (h *Host) listSys() ([]Device, error) {
	dir, err := kernfile.Open(h.sysBlock(), unix.O_RDONLY|unix.O_DIRECTORY)
	if err != nil {
		return nil, err
	}
	defer dir.Close()
	ents, err := dir.ReadDir(-1)
	if err != nil {
		return nil, err
	}
	var out []Device
	var st unix.Stat_t
	for _, e := range ents {
		n, ok := loopNumber(e.Name())
		if !ok || unix.Fstatat(int(dir.Fd()), e.Name()+"/loop/backing_file", &st, 0) != nil {
			continue
		}
		d, err := h.readSys(n)
		if err != nil {
			continue // unbound while we looked
		}
		out = append(out, *d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

func loopNumber(name string) (int, bool) {
	s, ok := strings.CutPrefix(name, "loop")
	if !ok || s == "" {
		return 0, false
	}
	n, err := strconv.Atoi(s)
	return n, err == nil && n >= 0
}

// readSys reads one bound device: its backing file and size from sysfs,
// its settings from the device (readDevice) or else from sysfs.
func (h *Host) readSys(n int) (*Device, error) {
	dir := filepath.Join(h.sysBlock(), fmt.Sprintf("loop%d", n))
	bf, err := kernfile.ReadFile(filepath.Join(dir, "loop", "backing_file"))
	if err != nil {
		return nil, err
	}
	d := &Device{Path: fmt.Sprintf("/dev/loop%d", n), Number: n, Major: loopMajor, Minor: uint32(n)}
	d.BackingFile = strings.TrimSuffix(string(bf), "\n")
	if s, ok := strings.CutSuffix(d.BackingFile, " (deleted)"); ok {
		d.BackingFile, d.Deleted = s, true
	}
	d.Size = kernfile.SysInt(dir, "size") * 512
	if !readDevice(d) {
		readSysfsSettings(d, dir)
	}
	return d, nil
}

// readSysfsSettings fills d's settings from its sysfs directory dir: what
// readDevice reads from the device, for who cannot open it.
func readSysfsSettings(d *Device, dir string) {
	readInt := func(name string) int64 { return kernfile.SysInt(dir, name) }
	d.Offset = readInt("loop/offset")
	d.SizeLimit = readInt("loop/sizelimit")
	d.Autoclear = readInt("loop/autoclear") == 1
	d.PartScan = readInt("loop/partscan") == 1
	d.DirectIO = readInt("loop/dio") == 1
	d.ReadOnly = readInt("ro") == 1
	d.LogicalSectorSize = int(readInt("queue/logical_block_size"))
	if b, err := kernfile.ReadFile(filepath.Join(dir, "dev")); err == nil {
		if ma, mi, ok := strings.Cut(strings.TrimSpace(string(b)), ":"); ok {
			a, _ := strconv.Atoi(ma)
			i, _ := strconv.Atoi(mi)
			d.Major, d.Minor = uint32(a), uint32(i)
		}
	}
	// The backing file's identity from its path, which is right unless the
	// file was renamed or replaced.
	if !d.Deleted {
		var st unix.Stat_t
		if unix.Stat(d.BackingFile, &st) == nil {
			d.BackingDev, d.BackingInode = st.Dev, st.Ino
		}
	}
}

// boundLoopNames lists the loop devices that may be bound: those
// /proc/partitions lists (a bound device with a size; an unbound one has
// none and is not listed), one read instead of a sysfs open per device, of
// which there are as many as were ever made. Without /proc/partitions, every
// loop device in sysfs.
func (h *Host) boundLoopNames() ([]string, error) {
	if b, err := kernfile.ReadFile(h.partitions()); err == nil {
		var out []string
		for line := range strings.Lines(string(b)) {
			f := strings.Fields(line)
			if len(f) == 4 && f[0] == strconv.Itoa(loopMajor) {
				out = append(out, f[3])
			}
		}
		return out, nil
	}
	ents, err := os.ReadDir(h.sysBlock())
	if err != nil {
		return nil, err
	}
	out := make([]string, 0, len(ents))
	for _, e := range ents {
		out = append(out, e.Name())
	}
	return out, nil
}

// backing returns the loop devices whose backing file is st (path is a
// hint for devices whose identity cannot be read).
func (h *Host) backing(st unix.Stat_t, path string) ([]Device, error) {
	names, err := h.boundLoopNames()
	if err != nil {
		return nil, err
	}
	var out []Device
	for _, name := range names {
		n, ok := loopNumber(name)
		if !ok {
			continue
		}
		// Cheap first: the backing file's path (sysfs follows renames) must
		// name this file. Only candidates get the full read, whose identity
		// comes from the kernel (LOOP_GET_STATUS64).
		bf, err := kernfile.ReadFile(filepath.Join(h.sysBlock(), name, "loop", "backing_file"))
		if err != nil {
			continue // unbound
		}
		p := strings.TrimSuffix(strings.TrimSuffix(string(bf), "\n"), " (deleted)")
		var pst unix.Stat_t
		if unix.Stat(p, &pst) != nil || pst.Dev != st.Dev || pst.Ino != st.Ino {
			continue
		}
		d, err := h.readSys(n)
		if err != nil || d.BackingInode != st.Ino || d.BackingDev != st.Dev || d.BackingInode == 0 {
			continue
		}
		out = append(out, *d)
	}
	if len(out) > 0 {
		mounts, _ := h.mounts()
		for i := range out {
			out[i].Mountpoints = mountsOf(mounts, out[i].Number)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Number < out[j].Number })
	return out, nil
}

// loopOf returns the loop device number a mount comes from. Most
// filesystems show the device's 7:N in mountinfo; btrfs shows an anonymous
// device, so the source path is the fallback.
func loopOf(m MountEntry) (int, bool) {
	if m.Major == loopMajor {
		return int(m.Minor), true
	}
	if s, ok := strings.CutPrefix(m.Source, "/dev/loop"); ok {
		if n, err := strconv.Atoi(s); err == nil {
			return n, true
		}
	}
	return 0, false
}

// mountsOf returns the mount points of loop device n.
func mountsOf(mounts []MountEntry, n int) []string {
	var out []string
	for _, m := range mounts {
		if k, ok := loopOf(m); ok && k == n {
			out = append(out, m.Mountpoint)
		}
	}
	return out
}
