package netloop

import (
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestParseGetentAhosts(t *testing.T) {
	out := "::1             STREAM localhost\n::1             DGRAM  \n::1             RAW    \n" +
		"127.0.0.1       STREAM \n127.0.0.1       DGRAM  \n127.0.0.1       RAW    \n"
	got := parseGetentAhosts(out)
	want := []netip.Addr{netip.MustParseAddr("::1"), netip.MustParseAddr("127.0.0.1")}
	if !slices.Equal(got, want) {
		t.Fatalf("parseGetentAhosts = %v, want %v", got, want)
	}
	if got := parseGetentAhosts(""); len(got) != 0 {
		t.Fatalf("empty output gave %v", got)
	}
}

func TestReadNSSHosts(t *testing.T) {
	p := filepath.Join(t.TempDir(), "nsswitch.conf")
	os.WriteFile(p, []byte("# comment\npasswd: files\nhosts:  files mymachines [!UNAVAIL=return] myhostname dns # x\n"), 0o644)
	got := readNSSHosts(p)
	if want := []string{"files", "mymachines", "myhostname", "dns"}; !slices.Equal(got, want) {
		t.Fatalf("readNSSHosts = %v, want %v", got, want)
	}
	if readNSSHosts(filepath.Join(t.TempDir(), "missing")) != nil {
		t.Fatal("missing file gave sources")
	}
}
