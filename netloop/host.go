package netloop

import (
	"os"
	"path/filepath"
)

// NetnsDir is where named network namespaces live, as `ip netns` makes them.
const NetnsDir = "/run/netns"

// Host is the machine netloop works on, as paths a test can point
// elsewhere (like blockloop.Host). The zero value uses the real ones.
type Host struct {
	Proc     string // /proc: per-namespace sysctls, and /proc/PID/fd for socket owners
	NetnsDir string // /run/netns: named namespaces (NetnsDir)
	EtcNetns string // /etc/netns: per-namespace files `ip netns exec` bind-mounts over /etc
	Hosts    string // /etc/hosts
	NSSwitch string // /etc/nsswitch.conf
}

func (h Host) proc() string     { return or(h.Proc, "/proc") }
func (h Host) netnsDir() string { return or(h.NetnsDir, NetnsDir) }
func (h Host) etcNetns() string { return or(h.EtcNetns, "/etc/netns") }
func (h Host) hosts() string    { return or(h.Hosts, "/etc/hosts") }
func (h Host) nsswitch() string { return or(h.NSSwitch, "/etc/nsswitch.conf") }

func or(s, def string) string {
	if s == "" {
		return def
	}
	return s
}

// HostsFile is the hosts file programs in namespace t read: for a named
// namespace /etc/netns/NAME/hosts when it exists (`ip netns exec`
// bind-mounts it over /etc/hosts), else /etc/hosts.
func (h Host) HostsFile(t Target) string {
	if t.Name != "" {
		if p := filepath.Join(h.etcNetns(), t.Name, "hosts"); fileExists(p) {
			return p
		}
	}
	return h.hosts()
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}
