package cli

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
	"github.com/vishvananda/netns"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/serveproto"
	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

// leakCheckingM fails the run when tests left a namespace or process behind.
type leakCheckingM struct{ m *testing.M }

func (l leakCheckingM) Run() int {
	serve, err := buildServer()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(filepath.Dir(serve))
	os.Setenv(serverEnvVar, serve) // for execServer, in the scripts' loops-serve
	blocklooptest.Snapshot()
	code := l.m.Run()
	left := netlooptest.Leftovers()
	// Loop devices and mounts of the scripts' $WORK and of Go tests' dirs.
	left = append(left, blocklooptest.Leftovers("/go-test-script")...)
	if len(left) > 0 {
		fmt.Fprintln(os.Stderr, "tests left these behind:")
		for _, s := range left {
			fmt.Fprintln(os.Stderr, "  "+s)
		}
		if code == 0 {
			code = 1
		}
	}
	return code
}

func TestMain(m *testing.M) {
	testscript.Main(leakCheckingM{m}, map[string]func(){
		"loops": func() { os.Exit(Main()) },
		// The FUSE server, found beside loops in the scripts' PATH
		// directory, as beside an installed loops: the real loops-serve.
		serveproto.Binary: execServer,
	})
}

// serverEnvVar names the loops-serve the tests built, for execServer.
const serverEnvVar = "LOOPS_TEST_SERVE_BINARY"

// buildServer builds cmd/loops-serve (its server is internal to it) into
// a temporary directory.
func buildServer() (string, error) {
	goTool, err := exec.LookPath("go")
	if err != nil {
		goTool = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	dir, err := os.MkdirTemp("", "loops-cli-test-")
	if err != nil {
		return "", err
	}
	bin := filepath.Join(dir, serveproto.Binary)
	out, err := exec.Command(goTool, "build", "-o", bin, "github.com/loops-cli/loops/cmd/loops-serve").CombinedOutput()
	if err != nil {
		os.RemoveAll(dir)
		return "", fmt.Errorf("go build loops-serve: %v\n%s", err, out)
	}
	return bin, nil
}

// execServer becomes the loops-serve the tests built, with the same
// arguments, environment and fds (the answer pipe, fd 3) and the same pid.
func execServer() {
	bin := os.Getenv(serverEnvVar)
	if bin == "" {
		fmt.Fprintln(os.Stderr, "loops-serve: "+serverEnvVar+" is not set (the CLI's TestMain sets it)")
		os.Exit(2)
	}
	err := syscall.Exec(bin, os.Args, os.Environ())
	fmt.Fprintln(os.Stderr, "loops-serve:", err)
	os.Exit(1)
}

// TestScripts drives the real CLI with the scripts in testdata/script.
// As root, each script gets a fresh network namespace named $NETNS.
func TestScripts(t *testing.T) {
	erofsFile := false // the kernel mounts erofs from a file in the scripts' $WORK
	if _, err := exec.LookPath("mkfs.erofs"); err == nil && os.Geteuid() == 0 && kernelMounts("erofs") {
		erofsFile = blocklooptest.FileBackedErofs(t, os.TempDir())
	}
	testscript.Run(t, testscript.Params{
		Dir:                 filepath.Join("..", "..", "..", "testdata", "script"),
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			env.Setenv("LOOPS_FORCE_TTY", "0")
			env.Setenv("LOOPS_RUN_DIR", filepath.Join(env.WorkDir, ".loops-run"))
			env.Setenv(serverEnvVar, os.Getenv(serverEnvVar))
			// Fixture tools (xorriso, mkfs.*) write names the same with or
			// without the caller's LANG.
			env.Setenv("LANG", "C.UTF-8")
			env.Setenv("LC_ALL", "C.UTF-8")
			if os.Geteuid() != 0 {
				return nil
			}
			name := netlooptest.OwnPrefix + strings.TrimPrefix(filepath.Base(env.WorkDir), "script-")
			if len(name) > 60 {
				name = name[:60]
			}
			if err := netlooptest.MakeNamed(name); err != nil {
				return err
			}
			env.Defer(func() {
				if err := netns.DeleteNamed(name); err != nil {
					env.T().Fatal(err)
				}
			})
			env.Setenv("NETNS", name)
			return nil
		},
		Condition: func(cond string) (bool, error) {
			switch cond {
			case "root":
				if os.Geteuid() != 0 && testkit.CI() {
					return false, fmt.Errorf("[root] scripts must run in CI: run the tests as root")
				}
				return os.Geteuid() == 0, nil
			case "iso9660", "udf", "vfat", "exfat", "erofs", "ntfs3": // the kernel mounts it itself
				return kernelMounts(cond), nil
			case "erofsfile": // file-backed erofs (not over overlayfs)
				return erofsFile, nil
			case "pulse": // a PulseAudio the script can start itself (audio_*.txtar)
				_, err := exec.LookPath("pulseaudio")
				if err != nil && testkit.CI() {
					return false, fmt.Errorf("[pulse] scripts must run in CI: make deps installs pulseaudio")
				}
				return err == nil, nil
			}
			return false, fmt.Errorf("unknown condition %q", cond)
		},
	})
}

// kernelMounts: /proc/filesystems lists fstype.
func kernelMounts(fstype string) bool {
	b, err := os.ReadFile("/proc/filesystems")
	return err == nil && strings.Contains(string(b), "\t"+fstype+"\n")
}
