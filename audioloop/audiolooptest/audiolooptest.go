// Package audiolooptest starts private sound servers for tests: PulseAudio,
// or PipeWire with WirePlumber and pipewire-pulse, each with its own
// XDG_RUNTIME_DIR, HOME and configuration in a directory of its own, with
// null sinks, stopped in t.Cleanup. Tests never touch the user's server.
// ServerDirs is the leftovers function for testkit.Main:
//
//	func TestMain(m *testing.M) { os.Exit(testkit.Main(m, audiolooptest.ServerDirs)) }
package audiolooptest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/internal/testkit"
)

// Kinds of server, as audioloop.ServerInfo.Kind reports them.
const (
	PulseAudio = audioloop.KindPulseAudio
	PipeWire   = audioloop.KindPipeWire
)

// Kinds lists the server kinds, for tests that run against each.
var Kinds = []string{PulseAudio, PipeWire}

// Sink is a null sink the server starts with.
type Sink struct {
	Name        string
	Description string // a single word or words without quotes
}

// DefaultSinks are two null sinks: a ("Loops Test A") and b ("Loops Test B").
var DefaultSinks = []Sink{{"a", "Loops Test A"}, {"b", "Loops Test B"}}

// Server is a private sound server.
type Server struct {
	Kind       string
	Dir        string // everything lives under here
	RuntimeDir string // its XDG_RUNTIME_DIR
	Home       string // its HOME (the PulseAudio cookie is in ~/.config/pulse)
	ConfigDir  string // its XDG_CONFIG_HOME
	Socket     string // the native protocol socket
	Sinks      []Sink

	t     testing.TB
	procs []*exec.Cmd
	logs  []*bytes.Buffer
}

// Require skips t when the server's programs are missing, or fails it when
// CI=true (testkit.Tool).
func Require(t testing.TB, kind string) {
	t.Helper()
	var bins []string
	switch kind {
	case PulseAudio:
		bins = []string{"pulseaudio", "pactl"}
	case PipeWire:
		bins = []string{"pipewire", "wireplumber", "pipewire-pulse", "pactl"}
	default:
		t.Fatalf("unknown server kind %q", kind)
	}
	for _, b := range bins {
		testkit.Tool(t, b)
	}
}

// dirPrefix starts the names of the server directories this test process
// makes in os.TempDir().
var dirPrefix = "loops-audio-" + strconv.Itoa(os.Getpid()) + "-"

// Start starts a server of the given kind with sinks (DefaultSinks if none)
// and stops it when t ends.
func Start(t testing.TB, kind string, sinks ...Sink) *Server {
	t.Helper()
	Require(t, kind)
	if len(sinks) == 0 {
		sinks = DefaultSinks
	}
	dir, err := os.MkdirTemp("", dirPrefix)
	if err != nil {
		t.Fatal(err)
	}
	s := &Server{Kind: kind, Dir: dir, RuntimeDir: filepath.Join(dir, "run"), Home: filepath.Join(dir, "home"),
		ConfigDir: filepath.Join(dir, "home", ".config"), Sinks: sinks, t: t}
	t.Cleanup(s.Stop)
	s.Socket = filepath.Join(s.RuntimeDir, "pulse", "native")
	for _, d := range []string{s.RuntimeDir, s.ConfigDir, filepath.Join(dir, "state")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	// pactl must never autospawn a server with the user's configuration.
	write(t, filepath.Join(s.ConfigDir, "pulse", "client.conf"), "autospawn = no\n")
	switch kind {
	case PulseAudio:
		var b strings.Builder
		b.WriteString("load-module module-native-protocol-unix\n")
		for _, k := range sinks {
			fmt.Fprintf(&b, "load-module module-null-sink sink_name=%s sink_properties=\"device.description='%s'\"\n", k.Name, k.Description)
		}
		fmt.Fprintf(&b, "set-default-sink %s\n", sinks[0].Name)
		write(t, filepath.Join(s.ConfigDir, "pulse", "default.pa"), b.String())
	case PipeWire:
		write(t, filepath.Join(s.ConfigDir, "wireplumber", "main.lua.d", "51-headless.lua"),
			"alsa_monitor.enabled = false\nalsa_monitor.properties[\"alsa.reserve\"] = false\n"+
				"default_access.properties[\"enable-flatpak-portal\"] = false\n")
		write(t, filepath.Join(s.ConfigDir, "wireplumber", "bluetooth.lua.d", "51-headless.lua"), "bluez_monitor.enabled = false\n")
		write(t, filepath.Join(s.ConfigDir, "wireplumber", "main.lua.d", "52-novideo.lua"), "v4l2_monitor.enabled = false\nlibcamera_monitor.enabled = false\n")
		// The sinks live in the pipewire daemon, as hardware does, so they
		// stay when pipewire-pulse restarts.
		var b strings.Builder
		b.WriteString("context.objects = [\n")
		for _, k := range sinks {
			fmt.Fprintf(&b, "  { factory = adapter args = { factory.name = support.null-audio-sink node.name = %q node.description = %q media.class = \"Audio/Sink\" audio.position = [ FL FR ] monitor.channel-volumes = true object.linger = true } }\n", k.Name, k.Description)
		}
		b.WriteString("]\n")
		// The graph runs in 1024-frame cycles (21 ms), as PipeWire's own
		// vm.overrides set for virtual machines. Its VM check reads
		// /sys/class/dmi only, which some VMs (Firecracker, our CI) lack, so
		// it is set here. Otherwise a 20 ms loopback drives the graph at 256
		// frames (5.3 ms), and on a busy 2-CPU VM its nodes miss cycles: the
		// null sink b and the loopback streams drop or repeat whole quanta,
		// and the two echoes of one chirp drift apart (~1 run in 5 of
		// TestMeasureLatency).
		b.WriteString("context.properties = { default.clock.min-quantum = 1024 }\n")
		write(t, filepath.Join(s.ConfigDir, "pipewire", "pipewire.conf.d", "10-loops-test-sinks.conf"), b.String())
	}
	s.start()
	return s
}

func write(t testing.TB, path, content string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// Env is the environment of the server's user: point pactl or loops at it.
func (s *Server) Env() []string {
	return []string{
		"XDG_RUNTIME_DIR=" + s.RuntimeDir, "HOME=" + s.Home, "XDG_CONFIG_HOME=" + s.ConfigDir,
		"XDG_STATE_HOME=" + filepath.Join(s.Dir, "state"), "PULSE_SERVER=unix:" + s.Socket,
		"PULSE_COOKIE=" + filepath.Join(s.ConfigDir, "pulse", "cookie"),
		"DBUS_SESSION_BUS_ADDRESS=", "DISPLAY=", "WAYLAND_DISPLAY=",
	}
}

// Getenv looks a variable up in Env, then in the process environment.
func (s *Server) Getenv(k string) string {
	for _, kv := range s.Env() {
		if strings.HasPrefix(kv, k+"=") {
			return kv[len(k)+1:]
		}
	}
	return os.Getenv(k)
}

// Options are audioloop options that reach this server, with its cookie
// and configuration directories.
func (s *Server) Options() audioloop.Options {
	return audioloop.Options{Env: s.Getenv, Timeout: 2 * time.Second}
}

// Connect connects to the server, failing the test on error; the client is
// closed when the test ends.
func (s *Server) Connect(t testing.TB) *audioloop.Client {
	t.Helper()
	c, err := audioloop.Connect(s.Options())
	if err != nil {
		t.Fatalf("connect to the test %s: %v\n%s", s.Kind, err, s.Logs())
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// command is testkit.Command with the server's environment instead of the
// caller's sound-server variables.
func (s *Server) command(name string, args ...string) *exec.Cmd {
	cmd := testkit.Command(name, args...)
	env := []string{}
	for _, kv := range cmd.Env {
		k := kv[:strings.IndexByte(kv, '=')]
		if strings.HasPrefix(k, "XDG_") || strings.HasPrefix(k, "PULSE_") || strings.HasPrefix(k, "PIPEWIRE_") || k == "HOME" {
			continue
		}
		env = append(env, kv)
	}
	cmd.Env = append(env, s.Env()...)
	cmd.Dir = s.Dir
	return cmd
}

func (s *Server) spawn(name string, args ...string) {
	s.t.Helper()
	cmd := s.command(name, args...)
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		s.t.Fatalf("start %s: %v", name, err)
	}
	s.procs = append(s.procs, cmd)
	s.logs = append(s.logs, &log)
}

func (s *Server) start() {
	s.t.Helper()
	os.Remove(s.Socket)
	switch s.Kind {
	case PulseAudio:
		s.spawn("pulseaudio", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
			"--disallow-module-loading=no", "--log-target=stderr", "--system=no")
	case PipeWire:
		if len(s.procs) == 0 {
			s.spawn("pipewire")
			s.waitFor(filepath.Join(s.RuntimeDir, "pipewire-0"))
			s.spawn("wireplumber")
		}
		s.spawn("pipewire-pulse")
	}
	s.waitReady()
}

func (s *Server) waitFor(path string) {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	s.t.Fatalf("%s did not appear within 10s\n%s", path, s.Logs())
}

// waitReady waits until the server answers and has its null sinks.
func (s *Server) waitReady() {
	s.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	var last error
	for time.Now().Before(deadline) {
		for _, p := range s.procs {
			if p.ProcessState != nil {
				s.t.Fatalf("%s exited\n%s", p.Path, s.Logs())
			}
		}
		c, err := audioloop.Connect(s.Options())
		if err == nil {
			sinks, err := c.Sinks()
			c.Close()
			if err == nil && haveSinks(sinks, s.Sinks) {
				return
			}
			last = fmt.Errorf("sinks %v, want %v (%v)", sinks, s.Sinks, err)
		} else {
			last = err
		}
		time.Sleep(20 * time.Millisecond)
	}
	s.t.Fatalf("test %s not ready within 10s: %v\n%s", s.Kind, last, s.Logs())
}

func haveSinks(have []audioloop.Device, want []Sink) bool {
	for _, w := range want {
		ok := false
		for _, h := range have {
			ok = ok || h.Name == w.Name
		}
		if !ok {
			return false
		}
	}
	return true
}

// Logs returns the servers' output, for failure messages.
func (s *Server) Logs() string {
	var b strings.Builder
	for i, l := range s.logs {
		fmt.Fprintf(&b, "--- %s\n%s", filepath.Base(s.procs[i].Path), lastLines(l.String(), 30))
	}
	return b.String()
}

func lastLines(s string, n int) string {
	lines := strings.SplitAfter(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "")
}

// pulseProc is the process that speaks the pulse protocol.
func (s *Server) pulseProc() *exec.Cmd { return s.procs[len(s.procs)-1] }

// Kill kills the process serving the pulse protocol (pulseaudio or
// pipewire-pulse) with SIGKILL, as a crash would, and waits for it.
func (s *Server) Kill() {
	p := s.pulseProc()
	if p.ProcessState == nil {
		p.Process.Kill()
		p.Wait()
	}
}

// Restart stops the pulse-protocol server (gracefully) and starts it again
// with the same configuration; on PipeWire, pipewire and WirePlumber stay.
func (s *Server) Restart() {
	s.t.Helper()
	s.stopProc(s.pulseProc())
	s.procs = s.procs[:len(s.procs)-1]
	s.logs = s.logs[:len(s.logs)-1]
	s.start()
}

func (s *Server) stopProc(p *exec.Cmd) {
	if p.ProcessState != nil {
		return
	}
	p.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Second):
		p.Process.Kill()
		<-done
	}
}

// Stop stops every process of the server, newest first, and removes its
// directory. Start registers it with t.Cleanup.
func (s *Server) Stop() {
	for i := len(s.procs) - 1; i >= 0; i-- {
		s.stopProc(s.procs[i])
	}
	os.RemoveAll(s.Dir)
}

// Pactl runs pactl against the server and returns its stdout, failing the
// test on error.
func (s *Server) Pactl(t testing.TB, args ...string) string {
	t.Helper()
	out, err := s.PactlErr(args...)
	if err != nil {
		t.Fatalf("pactl %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// PactlErr runs pactl against the server and returns its combined output.
func (s *Server) PactlErr(args ...string) (string, error) {
	cmd := s.command("pactl", args...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// LoadModule loads a module with pactl and returns its index.
func (s *Server) LoadModule(t testing.TB, name, args string) uint32 {
	t.Helper()
	out := s.Pactl(t, "load-module", name, args)
	n, err := strconv.ParseUint(strings.TrimSpace(out), 10, 32)
	if err != nil {
		t.Fatalf("pactl load-module %s %s: %q", name, args, out)
	}
	if name == "module-null-sink" {
		s.waitSink(t, args)
	}
	return uint32(n)
}

// waitSink waits until the null sink loaded with args is listed:
// pipewire-pulse answers load-module before the sink's node shows. A
// quoted name (the server may rewrite it) is not waited for.
func (s *Server) waitSink(t testing.TB, args string) {
	t.Helper()
	var sink string
	for _, a := range strings.Fields(args) {
		if v, ok := strings.CutPrefix(a, "sink_name="); ok {
			sink = v
		}
	}
	if sink == "" || strings.ContainsAny(args, `"'\`) {
		return
	}
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(50 * time.Millisecond) {
		for _, l := range strings.Split(s.Pactl(t, "list", "short", "sinks"), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[1] == sink {
				return
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("sink %s not listed 20s after load-module", sink)
		}
	}
}

// serverNames are the programs Leftovers looks for.
var serverNames = []string{"pulseaudio", "pipewire", "wireplumber", "pipewire-pulse"}

// Leftovers lists the sound-server processes that are children of this
// test process and not zombies, as "sound server NAME (pid N)": servers a
// test forgot to stop.
func Leftovers() []string {
	var out []string
	for _, l := range testkit.ChildProcesses() {
		pid, comm, state, ok := parseChild(l)
		if ok && state != "Z" && slices.Contains(serverNames, comm) {
			out = append(out, fmt.Sprintf("sound server %s (pid %d)", comm, pid))
		}
	}
	return out
}

// parseChild reads a line of testkit.ChildProcesses: "process PID (COMM,
// state S)".
func parseChild(l string) (pid int, comm, state string, ok bool) {
	rest, ok := strings.CutPrefix(l, "process ")
	n, rest, ok2 := strings.Cut(rest, " (")
	i := strings.LastIndex(rest, ", state ")
	if !ok || !ok2 || i < 0 || !strings.HasSuffix(rest, ")") {
		return 0, "", "", false
	}
	pid, err := strconv.Atoi(n)
	return pid, rest[:i], strings.TrimSuffix(rest[i+len(", state "):], ")"), err == nil
}

// ServerDirs lists the server directories this test process left in
// os.TempDir() (Stop removes them). It is the leftovers function for
// testkit.Main.
func ServerDirs() []string {
	var out []string
	entries, _ := os.ReadDir(os.TempDir())
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), dirPrefix) {
			out = append(out, "sound server directory "+filepath.Join(os.TempDir(), e.Name()))
		}
	}
	return out
}
