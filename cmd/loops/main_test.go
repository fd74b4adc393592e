package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The tests of the command as built: its link graph (what every run pays
// at start) and what it does with the server beside it, bin/loops and
// bin/loops-serve as make build makes them.

func TestMain(m *testing.M) {
	code := blocklooptest.Main(m)
	if built.dir != "" {
		os.RemoveAll(built.dir)
	}
	os.Exit(code)
}

var built struct {
	once sync.Once
	dir  string
	err  error
	out  []byte
}

// binaries builds loops and loops-serve into one directory (once per test
// run), as make build does, and returns it: loops finds its server beside
// it. It needs the go command (a skip, or a failure under CI=true).
func binaries(t *testing.T) string {
	t.Helper()
	goTool := testkit.Tool(t, "go")
	built.once.Do(func() {
		if built.dir, built.err = os.MkdirTemp("", "loops-bin-"); built.err != nil {
			return
		}
		for _, pkg := range []string{".", "../loops-serve"} {
			c := exec.Command(goTool, "build", "-o", built.dir, pkg)
			c.Env = append(os.Environ(), "CGO_ENABLED=0")
			if built.out, built.err = c.CombinedOutput(); built.err != nil {
				return
			}
		}
	})
	if built.err != nil {
		t.Fatalf("go build: %v\n%s", built.err, built.out)
	}
	return built.dir
}

// loopsIn is the loops of dir.
func loopsIn(dir string) string { return filepath.Join(dir, "loops") }
