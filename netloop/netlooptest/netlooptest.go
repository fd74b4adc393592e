// Package netlooptest gives tests a fresh, named network namespace of their
// own, so no test ever touches the host's lo, and lists the namespaces a
// test process left behind, for testkit.Main:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m, netlooptest.Namespaces)) }
package netlooptest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"

	"github.com/vishvananda/netns"

	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop"
)

// Prefix starts the name of every namespace a test makes.
const Prefix = "loopstest-"

// OwnPrefix starts the names of the namespaces this test process makes, so
// that test binaries running side by side do not count each other's.
var OwnPrefix = Prefix + strconv.Itoa(os.Getpid()) + "-"

// Netns is a fresh named network namespace under /run/netns. Its lo is down
// and has no address, as the kernel makes it.
type Netns struct {
	Name   string
	Client *netloop.Client
}

// New makes a fresh namespace for t and removes it when t ends. It needs
// root (testkit.RequireRoot).
func New(t testing.TB) *Netns { t.Helper(); return NewOn(t, netloop.Host{}) }

// NewOn is New with a client that reads h's paths (a private hosts file,
// nsswitch.conf or /proc).
func NewOn(t testing.TB, h netloop.Host) *Netns {
	t.Helper()
	testkit.RequireRoot(t)
	name := OwnPrefix + randomSuffix()
	if err := MakeNamed(name); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	c, err := h.Open(netloop.Target{Name: name})
	if err != nil {
		t.Fatalf("open netns %s: %v", name, err)
	}
	t.Cleanup(func() { c.Close() })
	return &Netns{Name: name, Client: c}
}

// Up sets lo up in the namespace, failing the test on error.
func (n *Netns) Up(t testing.TB) {
	t.Helper()
	if err := n.Client.Up(); err != nil {
		t.Fatalf("lo up in %s: %v", n.Name, err)
	}
}

// Do runs f inside the namespace (see netloop.Client.Do).
func (n *Netns) Do(t testing.TB, f func() error) {
	t.Helper()
	if err := n.Client.Do(f); err != nil {
		t.Fatalf("in netns %s: %v", n.Name, err)
	}
}

// MakeNamed creates the named namespace under /run/netns, leaving the
// calling thread where it was, like `ip netns add NAME`. Needs root.
func MakeNamed(name string) error {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	orig, err := netns.Get()
	if err != nil {
		return err
	}
	defer orig.Close()
	ns, err := netns.NewNamed(name) // switches this thread into ns
	if err != nil {
		netns.Set(orig)
		return err
	}
	ns.Close()
	return netns.Set(orig)
}

func randomSuffix() string {
	b := make([]byte, 4)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Namespaces lists the namespaces named with OwnPrefix under /run/netns:
// what this test process left behind. It is the leftovers function for
// testkit.Main.
func Namespaces() []string {
	var out []string
	entries, _ := os.ReadDir(netloop.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), OwnPrefix) {
			out = append(out, "network namespace "+filepath.Join(netloop.NetnsDir, e.Name()))
		}
	}
	return out
}

// Leftovers is Namespaces plus the child processes of this test binary
// (testkit.ChildProcesses), for leak checks that do not run through
// testkit.Main.
func Leftovers() []string {
	return append(Namespaces(), testkit.ChildProcesses()...)
}
