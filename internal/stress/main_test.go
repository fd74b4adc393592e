package stress

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop/audiolooptest"
	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/blockloop/kernfile"
	"github.com/loops-cli/loops/internal/serveproto"
	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

// full is true for `make stress` (LOOPS_STRESS=full): the counts of issue 7.
var full = os.Getenv("LOOPS_STRESS") == "full"

// count picks the short or the full count.
func count(short, long int) int {
	if full {
		return long
	}
	return short
}

// loopsBin is the CLI built once for the run, in a directory every user can
// read and search (the privilege tests run it as nobody).
var loopsBin string

// serveBin is the FUSE server (loops-serve) built beside loopsBin.
var serveBin string

// runDir is where the CLI serves VM disk images during the run
// (LOOPS_RUN_DIR), instead of the host's /run/loops.
var runDir string

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	dir, err := os.MkdirTemp("", "loops-stress-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	os.Chmod(dir, 0o755)
	loopsBin = filepath.Join(dir, "loops")
	runDir = filepath.Join(dir, "run")
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	// loops and its FUSE server beside it, where loops looks first.
	serveBin = filepath.Join(dir, serveproto.Binary)
	for bin, pkg := range map[string]string{loopsBin: "cmd/loops", serveBin: "cmd/loops-serve"} {
		build := exec.Command(gobin, "build", "-o", bin, "github.com/loops-cli/loops/"+pkg)
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			fmt.Fprintf(os.Stderr, "build %s: %v\n%s", pkg, err, out)
			return 1
		}
		os.Chmod(bin, 0o755)
	}

	blocklooptest.Snapshot()
	return testkit.Main(m, func() []string {
		var left []string
		left = append(left, blocklooptest.Leftovers()...) // loop devices, mounts, __serve servers, /media
		left = append(left, netlooptest.Namespaces()...)  // namespaces
		left = append(left, audiolooptest.Leftovers()...) // sound servers
		return append(left, strayServers()...)            // processes of our two binaries
	})
}

// strayServers lists running processes of this run's loops and loops-serve
// binaries (the FUSE servers `loops mount` starts), whatever their arguments.
func strayServers() []string {
	var out []string
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		if _, err := strconv.Atoi(d.Name()); err != nil {
			continue
		}
		exe, err := os.Readlink(filepath.Join("/proc", d.Name(), "exe"))
		if exe = strings.TrimSuffix(exe, " (deleted)"); err != nil || (exe != loopsBin && exe != serveBin) {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		out = append(out, "loops process "+d.Name()+": "+strings.ReplaceAll(strings.TrimRight(string(b), "\x00"), "\x00", " "))
	}
	return out
}

// serverPIDs lists the pids of `loops-serve __serve` servers whose
// command line mentions s.
func serverPIDs(s string) []int {
	var out []int
	dirs, _ := os.ReadDir("/proc")
	for _, d := range dirs {
		pid, err := strconv.Atoi(d.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "cmdline"))
		if err != nil || !bytes.Contains(b, []byte(serveproto.ServeCommand)) || !bytes.Contains(b, []byte(s)) {
			continue
		}
		out = append(out, pid)
	}
	return out
}

// result is what one loops run did.
type result struct {
	args           []string
	stdout, stderr string
	code           int // -1: killed by the timeout
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("loops %s: exit %d after %v\nstdout: %s\nstderr: %s", strings.Join(r.args, " "), r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// cmdTimeout bounds every loops run: a run that takes longer is a hang.
const cmdTimeout = 30 * time.Second

// baseEnv is the environment loops runs with: no sound server, media dir or
// TTY choice inherited from the caller.
func baseEnv(extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "LOOPS_") || strings.HasPrefix(k, "PULSE_") || strings.HasPrefix(k, "XDG_") || k == "SUDO_USER" || k == "SUDO_UID" || k == "SUDO_GID" {
			continue
		}
		env = append(env, kv)
	}
	return append(append(env, "LOOPS_FORCE_TTY=0", "LOOPS_RUN_DIR="+runDir), extra...)
}

// loops runs the CLI with env added to baseEnv, bounded by cmdTimeout.
func loops(t testing.TB, env []string, args ...string) result {
	t.Helper()
	return runBounded(t, cmdTimeout, nil, env, loopsBin, args...)
}

// runBounded runs name with args (prefixed by wrap, e.g. setpriv), killing
// it after timeout; it never fails the test itself.
func runBounded(t testing.TB, timeout time.Duration, wrap []string, env []string, name string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	argv := append(append(append([]string{}, wrap...), name), args...)
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Env = baseEnv(env...)
	cmd.Dir = "/"
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err := cmd.Run()
	r := result{args: args, stdout: out.String(), stderr: errb.String(), took: time.Since(start)}
	switch {
	case ctx.Err() != nil:
		r.code = -1
		t.Errorf("hang: loops %s did not finish within %v\nstderr: %s", strings.Join(args, " "), timeout, r.stderr)
	case err == nil:
	case cmd.ProcessState != nil:
		r.code = cmd.ProcessState.ExitCode()
	default:
		t.Fatalf("run %s: %v", name, err)
	}
	if strings.Contains(r.stderr, "panic:") || strings.Contains(r.stderr, "goroutine ") {
		t.Errorf("loops %s panicked:\n%s", strings.Join(args, " "), r.stderr)
	}
	return r
}

// mustLoops runs loops and fails the test unless it exits 0.
func mustLoops(t testing.TB, env []string, args ...string) result {
	t.Helper()
	r := loops(t, env, args...)
	if r.code != 0 {
		t.Fatalf("%v", r)
	}
	return r
}

// requireRoot is netlooptest.RequireRoot: skip without root, fail under CI=true.
func requireRoot(t testing.TB) { t.Helper(); testkit.RequireRoot(t) }

// noLeftovers fails t when a loop device, mount or server of dir is left.
func noLeftovers(t testing.TB, dir string) {
	t.Helper()
	// Autoclear and a FUSE server's exit follow an unmount closely but
	// not synchronously: give them a bounded moment.
	var left []string
	deadline := time.Now().Add(3 * time.Second)
	for {
		left = leftoversOf(dir)
		if len(left) == 0 || time.Now().After(deadline) {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, l := range left {
		t.Errorf("left behind: %s", l)
	}
}

func leftoversOf(dir string) []string {
	var out []string
	for _, l := range blocklooptest.LoopDevices() {
		if strings.Contains(l, dir) {
			out = append(out, "loop device "+l)
		}
	}
	for _, m := range blocklooptest.MountsUnder(dir) {
		out = append(out, "mount "+m)
	}
	for _, p := range serverPIDs(dir) {
		out = append(out, fmt.Sprintf("userspace server pid %d", p))
	}
	return out
}

func writeFile(t testing.TB, path string, data []byte, mode os.FileMode) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, data, mode); err != nil {
		t.Fatal(err)
	}
}

// mountAt is the per-mount options and filesystem type of the mount at mp
// in this process's mount namespace, and whether there is one.
func mountAt(t testing.TB, mp string) (opts, fstype string, ok bool) {
	t.Helper()
	return mountIn(t, "/proc/self/mountinfo", mp)
}

// mountIn is mountAt in the mountinfo file path (/proc/PID/mountinfo for
// another namespace); the last mount at mp is the one seen there.
func mountIn(t testing.TB, path, mp string) (opts, fstype string, ok bool) {
	t.Helper()
	ms, err := kernfile.Mountinfo(path)
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range ms {
		if m.Mountpoint == mp {
			opts, fstype, ok = m.Options, m.FSType, true
		}
	}
	return opts, fstype, ok
}
