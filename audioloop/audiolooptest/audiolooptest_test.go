package audiolooptest

import (
	"os/exec"
	"testing"

	"github.com/loops-cli/loops/internal/testkit"
)

// TestParseChild: Leftovers reads testkit.ChildProcesses' lines back.
func TestParseChild(t *testing.T) {
	cmd := exec.Command("sleep", "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	found := false
	for _, l := range testkit.ChildProcesses() {
		pid, comm, state, ok := parseChild(l)
		found = found || (ok && pid == cmd.Process.Pid && comm == "sleep" && state != "")
	}
	if !found {
		t.Errorf("parseChild found no sleep %d in %q", cmd.Process.Pid, testkit.ChildProcesses())
	}
	if pid, comm, state, ok := parseChild("process 42 (a (b), c, state S)"); !ok || pid != 42 || comm != "a (b), c" || state != "S" {
		t.Errorf("parseChild = %d %q %q %v", pid, comm, state, ok)
	}
	if _, _, _, ok := parseChild("something else"); ok {
		t.Error("parseChild accepted a line of another form")
	}
}
