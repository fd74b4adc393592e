// Package testkit is what every package's tests share: the CI rule (a skip
// is a failure when CI=true), root and tool requirements, fixture commands
// run with a fixed locale, and the leak check a TestMain runs after the
// tests (child processes left running, plus whatever the package adds).
package testkit

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// CI tells whether the tests run under CI=true, where a skip is a failure.
func CI() bool { return os.Getenv("CI") == "true" }

// Skip skips t with the reason, or fails it when CI=true: a skip is not a
// pass.
func Skip(t testing.TB, format string, args ...any) {
	t.Helper()
	msg := fmt.Sprintf(format, args...)
	if CI() {
		t.Fatalf("%s: %s, and CI=true (a skip is not a pass)", t.Name(), msg)
	}
	t.Skip(msg)
}

// RequireRoot skips a test that needs root, or fails it when CI=true.
func RequireRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		Skip(t, "needs root (sudo make test)")
	}
}

// Tool returns the path of a command the test needs (looked up in PATH,
// then /usr/sbin and /sbin), skipping the test when it is missing (failing
// under CI=true, where `make deps` installs it).
func Tool(t testing.TB, name string) string {
	t.Helper()
	if p := LookTool(name); p != "" {
		return p
	}
	Skip(t, "%s is not installed (make deps)", name)
	return ""
}

// LookTool is the path of a command, or "" when it is not installed.
func LookTool(name string) string {
	for _, d := range []string{"", "/usr/sbin/", "/sbin/"} {
		if p, err := exec.LookPath(d + name); err == nil {
			return p
		}
	}
	return ""
}

// FixtureEnv is the environment fixture builders (mkfs.*, xorriso,
// genisoimage, mkudffs, qemu-img, mtools) run with: the caller's, with the
// locale forced to C.UTF-8 so that names are written the same with or
// without LANG, and mtools' geometry check off.
func FixtureEnv() []string {
	var env []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "LC_") || strings.HasPrefix(kv, "LANG=") || strings.HasPrefix(kv, "LANGUAGE=") {
			continue
		}
		env = append(env, kv)
	}
	return append(env, "LANG=C.UTF-8", "LC_ALL=C.UTF-8", "MTOOLS_SKIP_CHECK=1")
}

// Command is exec.Command with FixtureEnv.
func Command(name string, args ...string) *exec.Cmd {
	c := exec.Command(name, args...)
	c.Env = FixtureEnv()
	return c
}

// Run runs a fixture command with FixtureEnv, failing the test with its
// output on error, and returns the combined output.
func Run(t testing.TB, name string, args ...string) string {
	t.Helper()
	out, err := Command(name, args...).CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// ChildProcesses lists live children of this process, as "process PID
// (comm, state S)".
func ChildProcesses() []string {
	self := os.Getpid()
	var out []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parens.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == self {
			comm := s[strings.IndexByte(s, '(')+1 : i]
			out = append(out, fmt.Sprintf("process %d (%s, state %s)", pid, comm, f[0]))
		}
	}
	return out
}

// Main runs the tests, then fails the run if they left a child process
// behind, or anything leftovers reports (each a line naming the thing).
// Use it as TestMain's body: os.Exit(testkit.Main(m, nil)).
func Main(m *testing.M, leftovers func() []string) int {
	code := m.Run()
	// A child that is exiting (a fuzz worker the coordinator has just
	// stopped) gets a second to go; what stays is left behind.
	left := ChildProcesses()
	for i := 0; len(left) > 0 && i < 20; i++ {
		time.Sleep(50 * time.Millisecond)
		left = ChildProcesses()
	}
	if leftovers != nil {
		left = append(left, leftovers()...)
	}
	if len(left) > 0 {
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
