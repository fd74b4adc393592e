package blockloop

import (
	"bufio"
	"bytes"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/kernfile"
)

// Host is the machine blockloop works on, as paths a test can point
// elsewhere. The zero value uses the real ones.
type Host struct {
	Filesystems string // /proc/filesystems: the kernel's filesystem drivers
	Modules     string // /lib/modules: loadable drivers (mount(2) loads them)
	Mountinfo   string // /proc/self/mountinfo
	SysBlock    string // /sys/block
	Partitions  string // /proc/partitions: block devices with a size, bound loop devices among them
	LoopControl string // /dev/loop-control
	Media       string // /media: the base of automatic mount points
	RunDir      string // /run/loops: the directories where VM disk images are served
	Misc        string // /proc/misc: misc devices, device-mapper among them when the kernel has it
	Mdstat      string // /proc/mdstat: there when the kernel has md RAID
	// IndexDir is where EROFS indexes are made (unnamed files); empty:
	// the first of /var/tmp, /tmp and RunDir not in memory.
	IndexDir string

	// OpenVirtualDisk opens the VM disk image at abs when this program
	// cannot read it itself: disk.Open said disk.ErrMissingCodec (a
	// zstd-compressed qcow2, whose decompressor only loops' server links).
	// The CLI reads it through the server (package diskpipe); Close on
	// the disk ends what it started. Nil: such an image's DiskImage.Err
	// says which decompressor is missing.
	OpenVirtualDisk func(abs string) (*disk.Disk, error)

	// hooks let tests inject failures that the kernel will not produce on
	// demand. Nil in normal use.
	hooks *hooks
}

type hooks struct {
	getFree     func() (int, error) // replaces LOOP_CTL_GET_FREE
	beforeMount func(dev string) error
	indexLoops  bool // mount EROFS indexes through loop devices, as old kernels must
}

func (h *Host) filesystems() string { return or(h.Filesystems, "/proc/filesystems") }
func (h *Host) modules() string     { return or(h.Modules, "/lib/modules") }
func (h *Host) mountinfo() string   { return or(h.Mountinfo, "/proc/self/mountinfo") }
func (h *Host) sysBlock() string    { return or(h.SysBlock, "/sys/block") }
func (h *Host) partitions() string  { return or(h.Partitions, "/proc/partitions") }
func (h *Host) loopControl() string { return or(h.LoopControl, "/dev/loop-control") }
func (h *Host) media() string       { return or(h.Media, "/media") }
func (h *Host) runDir() string      { return or(h.RunDir, "/run/loops") }
func (h *Host) misc() string        { return or(h.Misc, "/proc/misc") }
func (h *Host) mdstat() string      { return or(h.Mdstat, "/proc/mdstat") }

// MountEntry is one line of /proc/self/mountinfo, as package kernfile
// parses it.
type MountEntry = kernfile.Mount

func (h *Host) mounts() ([]MountEntry, error) { return kernfile.Mountinfo(h.mountinfo()) }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// KernelFilesystems returns the block filesystems the running kernel has a
// driver for (the lines of /proc/filesystems without "nodev").
func (h *Host) KernelFilesystems() (map[string]bool, error) {
	b, err := kernfile.ReadFile(h.filesystems())
	if err != nil {
		return nil, err
	}
	return ParseFilesystems(b), nil
}

// ParseFilesystems parses /proc/filesystems, keeping the types that mount a
// block device (those without "nodev"), plus fuseblk.
func ParseFilesystems(b []byte) map[string]bool {
	out := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 1 {
			out[f[0]] = true
		}
	}
	return out
}

// moduleNames maps a filesystem type to its kernel module's file name.
var moduleNames = map[string]string{
	"iso9660": "isofs", "udf": "udf", "vfat": "vfat", "exfat": "exfat",
	"ntfs3": "ntfs3", "ext4": "ext4", "ext3": "ext4", "ext2": "ext2",
	"xfs": "xfs", "btrfs": "btrfs", "squashfs": "squashfs", "erofs": "erofs",
}

// LoadableFilesystems returns the filesystem types whose driver is a module
// of the running kernel that is not loaded yet: mount(2) loads it on demand.
// It streams the kernel's modules.dep (half a megabyte on a distribution
// kernel) through one 64 KiB buffer.
func (h *Host) LoadableFilesystems() map[string]bool {
	mods := make([]string, 0, len(moduleNames))
	for _, mod := range moduleNames {
		mods = append(mods, mod)
	}
	have := h.loadableModules(mods...)
	out := map[string]bool{}
	for fs, mod := range moduleNames {
		if have[mod] {
			out[fs] = true
		}
	}
	return out
}

// loadableModules tells which of the named modules the running kernel's
// modules.dep lists, streamed through one 64 KiB buffer.
func (h *Host) loadableModules(names ...string) map[string]bool {
	have := map[string]bool{} // the wanted modules, true once seen
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return have
	}
	f, err := kernfile.Open(filepath.Join(h.modules(), unix.ByteSliceToString(u.Release[:]), "modules.dep"), unix.O_RDONLY)
	if err != nil {
		return have
	}
	defer f.Close()
	for _, mod := range names {
		have[mod] = false
	}
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Bytes()
		if i := bytes.IndexByte(line, ':'); i >= 0 {
			line = line[:i]
		}
		base := line[bytes.LastIndexByte(line, '/')+1:]
		if i := bytes.Index(base, []byte(".ko")); i > 0 {
			if _, ok := have[string(base[:i])]; ok {
				have[string(base[:i])] = true
			}
		}
	}
	return have
}
