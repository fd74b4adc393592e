package blockloop

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strings"

	"golang.org/x/sys/unix"
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

	// hooks let tests inject failures that the kernel will not produce on
	// demand. Nil in normal use.
	hooks *hooks
}

type hooks struct {
	getFree     func() (int, error) // replaces LOOP_CTL_GET_FREE
	beforeMount func(dev string) error
}

func (h *Host) filesystems() string { return or(h.Filesystems, "/proc/filesystems") }
func (h *Host) modules() string     { return or(h.Modules, "/lib/modules") }
func (h *Host) mountinfo() string   { return or(h.Mountinfo, "/proc/self/mountinfo") }
func (h *Host) sysBlock() string    { return or(h.SysBlock, "/sys/block") }
func (h *Host) partitions() string  { return or(h.Partitions, "/proc/partitions") }
func (h *Host) loopControl() string { return or(h.LoopControl, "/dev/loop-control") }
func (h *Host) media() string       { return or(h.Media, "/media") }
func (h *Host) runDir() string      { return or(h.RunDir, "/run/loops") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// KernelFilesystems returns the block filesystems the running kernel has a
// driver for (the lines of /proc/filesystems without "nodev").
func (h *Host) KernelFilesystems() (map[string]bool, error) {
	b, err := os.ReadFile(h.filesystems())
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
func (h *Host) LoadableFilesystems() map[string]bool {
	out := map[string]bool{}
	var u unix.Utsname
	if unix.Uname(&u) != nil {
		return out
	}
	dep, err := os.ReadFile(filepath.Join(h.modules(), unix.ByteSliceToString(u.Release[:]), "modules.dep"))
	if err != nil {
		return out
	}
	have := map[string]bool{}
	for _, line := range strings.Split(string(dep), "\n") {
		mod, _, _ := strings.Cut(line, ":")
		base := filepath.Base(mod)
		if i := strings.Index(base, ".ko"); i > 0 {
			have[base[:i]] = true
		}
	}
	for fs, mod := range moduleNames {
		if have[mod] {
			out[fs] = true
		}
	}
	return out
}
