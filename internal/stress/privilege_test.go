package stress

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/blocklooptest"
	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

const nobodyID = 65534

var asNobody = []string{"setpriv", "--reuid=65534", "--regid=65534", "--clear-groups"}

// expectation of one command run as nobody.
type expect int

const (
	works  expect = iota // exit 0
	checks               // a check command: exit 0 (healthy) or 1 (a problem found), never a privilege error
	needs                // exit 1, naming the privilege and the sudo command, nothing changed
)

// privCase is one command of the tree, run as nobody.
type privCase struct {
	args []string
	want expect
	// must is text stderr must hold (besides the sudo line for needs).
	must string
	// down: run in a second namespace, whose lo is down (for `net up`).
	down bool
}

// leafCommands walks `loops ... --help` and returns every runnable leaf of
// the command tree ("net hosts add", ...), hidden ones excepted.
func leafCommands(t testing.TB, path []string) []string {
	t.Helper()
	r := mustLoops(t, nil, append(append([]string{}, path...), "--help")...)
	_, sub, ok := strings.Cut(r.stdout, "Available Commands:\n")
	if !ok {
		return []string{strings.Join(path, " ")}
	}
	var out []string
	for _, l := range strings.Split(sub, "\n") {
		if !strings.HasPrefix(l, "  ") {
			break
		}
		name := strings.Fields(l)[0]
		out = append(out, leafCommands(t, append(append([]string{}, path...), name))...)
	}
	return out
}

// TestPrivilege runs every command of the tree as nobody (setpriv, HOME and
// XDG_RUNTIME_DIR in a directory of nobody, the binary in a directory nobody
// can read): reading works; changing fails with exit 1, a message naming the
// privilege and the sudo command; and nothing changes (lo's addresses in a
// namespace of the test, mounts, loop devices, the hosts file, /media).
// Audio runs against a PulseAudio of nobody's own.
func TestPrivilege(t *testing.T) {
	requireRoot(t)
	ns := netlooptest.New(t)
	ns.Up(t)
	nsDown := netlooptest.New(t) // lo down, as the kernel makes it
	dir := blocklooptest.Dir(t)
	os.Chmod(dir, 0o755)
	home := filepath.Join(dir, "home")
	run := filepath.Join(dir, "run")
	nmnt := filepath.Join(home, "mnt") // nobody's own, empty directory
	for _, d := range []string{home, run, nmnt} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
		os.Chown(d, nobodyID, nobodyID)
	}
	img := blocklooptest.Ext4(t, filepath.Join(dir, "disk.img"), "PRIV", "", 4<<20)
	os.Chmod(img, 0o644)
	iso := plainISO(t, dir, "PRIVISO", 0).save(dir, "cd.iso")
	hosts := filepath.Join(dir, "hosts")
	writeFile(t, hosts, []byte(hostsOriginal), 0o644)
	mustLoops(t, nil, "net", "hosts", "add", "added.localhost", "--hosts-file", hosts)
	// State for the commands that change things: a mount and an attached
	// device made by root.
	rootMnt := filepath.Join(dir, "rootmnt")
	mustLoops(t, nil, "mount", blocklooptest.Ext4(t, filepath.Join(dir, "mounted.img"), "ROOTMNT", "", 4<<20), rootMnt)
	defer mustLoops(t, nil, "umount", rootMnt)
	attached := blocklooptest.Ext4(t, filepath.Join(dir, "attached.img"), "ATTACHED", "", 4<<20)
	dev := strings.TrimSpace(mustLoops(t, nil, "block", "attach", attached).stdout)
	defer mustLoops(t, nil, "block", "detach", dev)

	pa := startNobodyPulse(t, filepath.Join(dir, "pa"))
	env := []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + run, "LOOPS_MEDIA_DIR=" + filepath.Join(dir, "media-nobody")}
	audioEnv := append(env[:2:2], "PULSE_SERVER=unix:"+pa)
	os.Mkdir(filepath.Join(dir, "media-nobody"), 0o755) // root's: nobody cannot create in it

	sudoNet := "This needs CAP_NET_ADMIN. Run it as root: sudo loops"
	sudoBlock := "CAP_SYS_ADMIN"
	cases := []privCase{
		{args: nil, want: works},
		{args: []string{"status"}, want: works},
		{args: []string{"explain"}, want: works},
		{args: []string{"help"}, want: works},
		{args: []string{"completion", "bash"}, want: works},
		{args: []string{"completion", "zsh"}, want: works},
		{args: []string{"completion", "fish"}, want: works},
		{args: []string{"completion", "powershell"}, want: works},
		{args: []string{"net", "status"}, want: works},
		{args: []string{"net", "listeners"}, want: works},
		{args: []string{"net", "check", "--hosts-file", hosts}, want: checks},
		{args: []string{"net", "hosts", "list", "--hosts-file", hosts}, want: works},
		{args: []string{"net", "status", "--netns", ns.Name}, want: needs, must: "sudo loops net status --netns " + ns.Name},
		{args: []string{"net", "up"}, want: works}, // lo is up: nothing to do, nothing needed
		{args: []string{"net", "up"}, want: needs, must: sudoNet, down: true},
		{args: []string{"net", "down", "--yes"}, want: needs, must: sudoNet},
		{args: []string{"net", "addr", "add", "127.0.0.9"}, want: needs, must: sudoNet},
		{args: []string{"net", "addr", "del", "127.0.0.1", "--yes"}, want: needs, must: sudoNet},
		{args: []string{"net", "hosts", "add", "priv.localhost", "--hosts-file", hosts}, want: needs, must: "sudo loops net hosts add priv.localhost"},
		{args: []string{"net", "hosts", "remove", "added.localhost", "--hosts-file", hosts}, want: needs, must: "sudo loops net hosts remove added.localhost"},
		{args: []string{"block", "list"}, want: works},
		{args: []string{"block", "probe", img}, want: works},
		{args: []string{"block", "probe", iso}, want: works},
		{args: []string{"block", "attach", img}, want: needs, must: sudoBlock},
		{args: []string{"block", "detach", dev}, want: needs, must: sudoBlock},
		{args: []string{"block", "detach", attached}, want: needs, must: sudoBlock},
		{args: []string{"mount", img}, want: needs, must: sudoBlock},
		{args: []string{"mount", img, nmnt}, want: needs, must: sudoBlock},
		// `mount iso` as nobody: fuseuser_test.go forces both cases.
		{args: []string{"umount", rootMnt}, want: needs, must: sudoBlock},
		{args: []string{"umount", "--lazy", rootMnt}, want: needs, must: sudoBlock},
		{args: []string{"audio", "status"}, want: works},
		{args: []string{"audio", "sources"}, want: works},
		{args: []string{"audio", "sinks"}, want: works},
		{args: []string{"audio", "on", "--source", "a.monitor", "--sink", "b"}, want: works},
		{args: []string{"audio", "measure", "--source", "a.monitor", "--sink", "b", "--chirps", "2", "--settle", "200ms"}, want: works},
		{args: []string{"audio", "meter", "--source", "a.monitor", "--sink", "b", "--count", "2", "--interval", "100ms"}, want: works},
		{args: []string{"audio", "off"}, want: works},
		{args: []string{"audio", "mic", "on", "--from", "b"}, want: works},
		{args: []string{"audio", "mic", "status", "--level", "100ms"}, want: works},
		{args: []string{"audio", "mic", "off"}, want: works},
	}

	// Every leaf of the command tree has a row.
	covered := map[string]bool{}
	for _, c := range cases {
		var words []string
		for _, a := range c.args {
			if strings.HasPrefix(a, "-") || strings.ContainsAny(a, "/.") {
				break
			}
			words = append(words, a)
		}
		for i := len(words); i >= 0; i-- {
			covered[strings.Join(words[:i], " ")] = true
		}
	}
	for _, leaf := range leafCommands(t, nil) {
		if !covered[leaf] {
			t.Errorf("command %q has no row in the privilege table", leaf)
		}
	}

	for _, c := range cases {
		name := strings.Join(c.args, " ")
		if name == "" {
			name = "loops"
		}
		target := ns.Name
		if c.down {
			target = nsDown.Name
			name += " (lo down)"
		}
		wrap := append([]string{"nsenter", "--net=/run/netns/" + target}, asNobody...)
		t.Run(name, func(t *testing.T) {
			e := env
			if len(c.args) > 0 && c.args[0] == "audio" {
				e = audioEnv
			}
			before := hostState(t, target, dir, hosts)
			r := runBounded(t, cmdTimeout, wrap, e, loopsBin, c.args...)
			after := hostState(t, target, dir, hosts)
			msg := strings.TrimSpace(r.stderr)
			switch c.want {
			case works:
				if r.code != 0 {
					t.Errorf("as nobody: %v", r)
				}
			case checks:
				if r.code != 0 && r.code != 1 || strings.Contains(msg, "sudo") {
					t.Errorf("as nobody: %v", r)
				}
			case needs:
				t.Logf("%s", msg)
				if r.code != 1 {
					t.Errorf("exit %d, want 1: %v", r.code, r)
				}
				if !strings.Contains(msg, "sudo loops") || !strings.Contains(msg, c.must) {
					t.Errorf("the message does not name the privilege and the sudo command (%q):\n%s", c.must, msg)
				}
				if !strings.Contains(msg, "root") && !strings.Contains(msg, "CAP_") {
					t.Errorf("the message names no privilege:\n%s", msg)
				}
			}
			if c.want != works || len(c.args) == 0 || c.args[0] != "audio" {
				if before != after {
					t.Errorf("state changed:\nbefore:\n%s\nafter:\n%s", before, after)
				}
			}
		})
	}
	if ents := listDir(t, filepath.Join(dir, "media-nobody")); len(ents) > 0 {
		t.Errorf("nobody's runs created %v in the media directory", ents)
	}
}

// hostState is what a command run as nobody must not change: lo's
// addresses and link in the namespace, the mounts and loop devices of the
// test directory, /media, and the hosts file.
func hostState(t testing.TB, ns, dir, hosts string) string {
	t.Helper()
	var b strings.Builder
	out, err := exec.Command("ip", "-n", ns, "-o", "addr", "show", "dev", "lo").CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s addr: %v %s", ns, err, out)
	}
	b.Write(out)
	out, _ = exec.Command("ip", "-n", ns, "-o", "link", "show", "dev", "lo").CombinedOutput()
	b.Write(out)
	for _, m := range blocklooptest.MountsUnder(dir) {
		fmt.Fprintln(&b, "mount", m)
	}
	for _, l := range blocklooptest.LoopDevices() {
		if strings.Contains(l, dir) {
			fmt.Fprintln(&b, "loop", l)
		}
	}
	media, _ := os.ReadDir("/media")
	var names []string
	for _, e := range media {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	fmt.Fprintln(&b, "media", names)
	h, _ := os.ReadFile(hosts)
	fmt.Fprintf(&b, "hosts %q\n", h)
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		fmt.Fprintln(&b, "entry", e.Name())
	}
	return b.String()
}

// startNobodyPulse starts a PulseAudio of nobody's own with null sinks a
// and b, stopped when t ends, and returns its socket.
func startNobodyPulse(t testing.TB, dir string) string {
	t.Helper()
	bin := testkit.Tool(t, "pulseaudio")
	home, run := filepath.Join(dir, "home"), filepath.Join(dir, "run")
	conf := filepath.Join(home, ".config", "pulse")
	writeFile(t, filepath.Join(conf, "client.conf"), []byte("autospawn = no\n"), 0o644)
	writeFile(t, filepath.Join(conf, "default.pa"), []byte("load-module module-native-protocol-unix\n"+
		"load-module module-null-sink sink_name=a\nload-module module-null-sink sink_name=b\nset-default-sink a\n"), 0o644)
	os.MkdirAll(run, 0o700)
	filepath.Walk(dir, func(p string, _ os.FileInfo, _ error) error { return os.Lchown(p, nobodyID, nobodyID) })
	os.Chmod(dir, 0o755)
	os.Chmod(run, 0o755) // the socket must be reachable by the loops of the test's nobody, same user
	cmd := exec.Command("setpriv", append(asNobody[1:], bin, "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
		"--disallow-module-loading=no", "--system=no", "-n", "-F", filepath.Join(conf, "default.pa"), "--log-target=stderr")...)
	cmd.Env = []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + run, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "PATH=" + os.Getenv("PATH")}
	var log strings.Builder
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(3 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	sock := filepath.Join(run, "pulse", "native")
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(sock); err == nil {
			r := runBounded(t, 5*time.Second, asNobody, []string{"HOME=" + home, "XDG_RUNTIME_DIR=" + run, "PULSE_SERVER=unix:" + sock}, loopsBin, "audio", "sinks")
			if r.code == 0 && strings.Contains(r.stdout, "b") {
				return sock
			}
		}
		if cmd.ProcessState != nil {
			break
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("nobody's pulseaudio did not come up:\n%s", log.String())
	return ""
}
