package netloop_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/netloop"
)

// TestHostHostsFile: a named namespace reads /etc/netns/NAME/hosts when it
// exists, as `ip netns exec` bind-mounts it; anything else /etc/hosts.
func TestHostHostsFile(t *testing.T) {
	dir := t.TempDir()
	h := netloop.Host{EtcNetns: dir, Hosts: filepath.Join(dir, "hosts")}
	own := filepath.Join(dir, "blue", "hosts")
	if err := os.MkdirAll(filepath.Dir(own), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(own, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		t    netloop.Target
		want string
	}{
		{netloop.Target{Name: "blue"}, own},
		{netloop.Target{Name: "red"}, h.Hosts},
		{netloop.Target{Path: "/proc/1/ns/net"}, h.Hosts},
		{netloop.Target{}, h.Hosts},
	} {
		if got := h.HostsFile(tc.t); got != tc.want {
			t.Errorf("HostsFile(%v) = %s, want %s", tc.t, got, tc.want)
		}
	}
	if got := (netloop.Host{}).HostsFile(netloop.Target{}); got != "/etc/hosts" {
		t.Errorf("zero Host: HostsFile = %s, want /etc/hosts", got)
	}
}
