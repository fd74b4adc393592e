// Package netlooptest gives tests a fresh, named network namespace of their
// own, so no test ever touches the host's lo, and a TestMain check that none
// was left behind.
package netlooptest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
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

// RequireRoot skips a test that needs root, or fails it when CI=true:
// a skip is not a pass.
func RequireRoot(t testing.TB) { t.Helper(); testkit.RequireRoot(t) }

// Netns is a fresh named network namespace under /run/netns. Its lo is down
// and has no address, as the kernel makes it.
type Netns struct {
	Name   string
	Client *netloop.Client
}

// New makes a fresh namespace for t and removes it when t ends. It needs
// root (see RequireRoot).
func New(t testing.TB) *Netns {
	t.Helper()
	RequireRoot(t)
	name := OwnPrefix + randomSuffix()
	if err := MakeNamed(name); err != nil {
		t.Fatalf("create netns %s: %v", name, err)
	}
	t.Cleanup(func() {
		if err := netns.DeleteNamed(name); err != nil {
			t.Errorf("delete netns %s: %v", name, err)
		}
	})
	c, err := netloop.Open(netloop.Target{Name: name})
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
// calling thread where it was.
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

// Leftovers lists what tests left behind: namespaces named with OwnPrefix under
// /run/netns and child processes of this test binary.
func Leftovers() []string {
	var out []string
	entries, _ := os.ReadDir(netloop.NetnsDir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), OwnPrefix) {
			out = append(out, "network namespace "+filepath.Join(netloop.NetnsDir, e.Name()))
		}
	}
	out = append(out, ChildProcesses()...)
	return out
}

// ChildProcesses lists live children of this process (testkit.ChildProcesses).
func ChildProcesses() []string { return testkit.ChildProcesses() }

// Main runs the tests, then fails the run if they left a namespace or a
// process behind. Use it as TestMain's body: os.Exit(netlooptest.Main(m)).
func Main(m *testing.M) int {
	code := m.Run()
	if left := Leftovers(); len(left) > 0 {
		fmt.Fprintln(os.Stderr, "tests left these behind:")
		for _, l := range left {
			fmt.Fprintln(os.Stderr, "  "+l)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}
