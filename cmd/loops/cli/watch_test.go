package cli

import (
	"bufio"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
	"github.com/loops-cli/loops/netloop/netlooptest"
)

// loopsBinary is the loops command the tests run in a real terminal: the
// test binary, which testscript.Main put in $PATH as "loops".
func loopsBinary(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("loops")
	if err != nil {
		t.Fatalf("loops is not in PATH (TestMain sets it up): %v", err)
	}
	return p
}

// traffic sends UDP datagrams over 127.0.0.1 inside the namespace, one
// every 5 ms, until stop is called or n have gone: a bounded load on lo
// only.
func traffic(t *testing.T, ns *netlooptest.Netns, n int) (stop func()) {
	t.Helper()
	var rx, tx *net.UDPConn
	ns.Do(t, func() error {
		var err error
		if rx, err = net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)}); err != nil {
			return err
		}
		tx, err = net.DialUDP("udp4", nil, rx.LocalAddr().(*net.UDPAddr))
		return err
	})
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		buf := make([]byte, 2048)
		for {
			if _, err := rx.Read(buf); err != nil {
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		msg := make([]byte, 1000)
		for i := 0; i < n; i++ {
			select {
			case <-done:
				return
			case <-time.After(5 * time.Millisecond):
			}
			tx.Write(msg)
		}
	}()
	var once sync.Once
	stop = func() {
		once.Do(func() {
			close(done)
			tx.Close()
			rx.Close()
			wg.Wait()
		})
	}
	t.Cleanup(stop)
	return stop
}

// tmux drives a real terminal: a private tmux server with one window of
// a fixed size running one command, kept after it ends (remain-on-exit)
// so its exit status and screen can be read.
type tmux struct {
	t    *testing.T
	sock string
}

func newTmux(t *testing.T) *tmux {
	t.Helper()
	testkit.Tool(t, "tmux")
	dir := t.TempDir()
	conf := filepath.Join(dir, "tmux.conf")
	if err := os.WriteFile(conf, []byte("set -g remain-on-exit on\nset -g history-limit 1000\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	tm := &tmux{t: t, sock: filepath.Join(dir, "sock")}
	t.Setenv("LOOPS_FORCE_TTY", "") // the terminal decides
	// The server starts with the first session; -f is read then.
	tm.run("-f", conf, "new-session", "-d", "-s", "idle", "-x", "120", "-y", "50", "sleep 600")
	t.Cleanup(func() { exec.Command("tmux", "-S", tm.sock, "kill-server").Run() })
	return tm
}

func (tm *tmux) run(args ...string) string {
	tm.t.Helper()
	out, err := exec.Command("tmux", append([]string{"-S", tm.sock}, args...)...).CombinedOutput()
	if err != nil {
		tm.t.Fatalf("tmux %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

// start runs command (a shell command line) in a new window named name;
// when it ends, the shell prints its exit status and stays, so that the
// terminal's state after it can be read.
func (tm *tmux) start(name, command string) {
	tm.t.Helper()
	tm.run("new-window", "-d", "-n", name, command+`; echo "exit status $?"; sleep 600`)
}

// waitExit waits until the command of window name has ended, and returns
// its exit status.
func (tm *tmux) waitExit(name string) string {
	tm.t.Helper()
	re := regexp.MustCompile(`exit status (\d+)`)
	s := tm.waitScreen(name, "the command's end", re.MatchString)
	return re.FindStringSubmatch(s)[1]
}

// childPid is the pid of the only child of pid (the command the pane's
// shell runs).
func childPid(t *testing.T, pid int) int {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		dirs, _ := os.ReadDir("/proc")
		for _, d := range dirs {
			b, err := os.ReadFile(filepath.Join("/proc", d.Name(), "stat"))
			if err != nil {
				continue
			}
			s := string(b)
			f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
			if len(f) > 1 && f[1] == strconv.Itoa(pid) {
				c, _ := strconv.Atoi(d.Name())
				return c
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("process %d has no child", pid)
	return 0
}

func (tm *tmux) screen(name string) string { return tm.run("capture-pane", "-p", "-t", ":"+name) }

// format reads a tmux format (#{...}) of the window's pane.
func (tm *tmux) format(name, f string) string {
	return strings.TrimSpace(tm.run("display-message", "-p", "-t", ":"+name, f))
}

// waitScreen polls the window's screen until ok holds (at most 20 s) and
// returns it.
func (tm *tmux) waitScreen(name, what string, ok func(string) bool) string {
	tm.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	var s string
	for time.Now().Before(deadline) {
		if s = tm.screen(name); ok(s) {
			return s
		}
		time.Sleep(100 * time.Millisecond)
	}
	tm.t.Fatalf("%s: the screen never showed %s; it shows:\n%s", name, what, s)
	return s
}

var rxRate = regexp.MustCompile(`(?m)^RX  ([0-9.]+) pkt/s  ([0-9.]+) (B|KiB|MiB)/s`)

func rate(screen string) (float64, bool) {
	m := rxRate.FindStringSubmatch(screen)
	if m == nil {
		return 0, false
	}
	v, err := strconv.ParseFloat(m[1], 64)
	return v, err == nil
}

// TestNetStatusWatchTerminal: `loops net status --watch` in a real
// terminal (tmux), in a fresh namespace: the rates on screen go from 0 to
// the traffic's (a bounded UDP loop on 127.0.0.1) and back; a listener
// that starts and stops is shown appearing and going away; the view is
// redrawn in place (nothing scrolls into the history); Ctrl-C ends it with
// status 0, back on the normal screen with the cursor shown.
func TestNetStatusWatchTerminal(t *testing.T) {
	testkit.RequireRoot(t)
	tm := newTmux(t)
	ns := netlooptest.New(t)
	ns.Up(t)
	tm.start("w", fmt.Sprintf("%s net status --netns %s --watch=300ms", loopsBinary(t), ns.Name))

	s := tm.waitScreen("w", "a rate of 0 pkt/s", func(s string) bool { r, ok := rate(s); return ok && r == 0 })
	if !strings.Contains(s, "Every 300ms: loops net status") || !strings.Contains(s, "state  UP") {
		t.Errorf("the view has no header or state:\n%s", s)
	}
	if got := tm.format("w", "#{alternate_on} #{cursor_flag}"); got != "1 0" {
		t.Errorf("while watching: alternate screen, cursor = %q, want \"1 0\" (alternate screen on, cursor hidden)", got)
	}

	stop := traffic(t, ns, 4000) // at most 20 s
	s = tm.waitScreen("w", "the traffic's rate (about 200 pkt/s)", func(s string) bool { r, _ := rate(s); return r > 10 })
	t.Logf("with traffic:\n%s", s)
	stop()
	tm.waitScreen("w", "the rate back to 0", func(s string) bool { r, ok := rate(s); return ok && r == 0 })

	// A server starts and stops listening on 127.0.0.1.
	var l net.Listener
	ns.Do(t, func() (err error) { l, err = net.Listen("tcp4", "127.0.0.1:0"); return err })
	port := l.Addr().(*net.TCPAddr).Port
	tm.waitScreen("w", "the listener appearing", func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("+ tcp 127.0.0.1:%d appeared", port)) && strings.Contains(s, "1 on loopback only")
	})
	l.Close()
	tm.waitScreen("w", "the listener going away", func(s string) bool {
		return strings.Contains(s, fmt.Sprintf("- tcp 127.0.0.1:%d went away", port)) && strings.Contains(s, "0 on loopback only")
	})
	if h := tm.format("w", "#{history_size}"); h != "0" {
		t.Errorf("history size %s after many redraws, want 0: the view scrolled instead of redrawing in place", h)
	}

	tm.run("send-keys", "-t", ":w", "C-c")
	if st := tm.waitExit("w"); st != "0" {
		t.Errorf("exit status after Ctrl-C = %s, want 0", st)
	}
	if got := tm.format("w", "#{alternate_on} #{cursor_flag}"); got != "0 1" {
		t.Errorf("after Ctrl-C: alternate screen, cursor = %q, want \"0 1\" (normal screen, cursor shown)", got)
	}
	if s := tm.screen("w"); strings.Contains(s, "Every 300ms") || strings.Contains(s, "RX") {
		t.Errorf("after Ctrl-C the view is still on the screen:\n%s", s)
	}
}

// TestBlockListWatchSIGTERM: SIGTERM, like Ctrl-C, leaves the terminal
// clean and ends with status 0.
func TestBlockListWatchSIGTERM(t *testing.T) {
	tm := newTmux(t)
	tm.start("b", loopsBinary(t)+" block list --watch=200ms")
	tm.waitScreen("b", "the view", func(s string) bool { return strings.Contains(s, "Every 200ms: loops block list") })
	shell, err := strconv.Atoi(tm.format("b", "#{pane_pid}"))
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Kill(childPid(t, shell), syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if st := tm.waitExit("b"); st != "0" {
		t.Errorf("exit status after SIGTERM = %s, want 0", st)
	}
	if got := tm.format("b", "#{alternate_on} #{cursor_flag}"); got != "0 1" {
		t.Errorf("after SIGTERM: alternate screen, cursor = %q, want \"0 1\"", got)
	}
}

// TestNetStatusWatchJSONStream: piped with --json, one document per line,
// each a whole JSON object with schema 1 and a time; from the second on,
// rates, which see the traffic; SIGINT ends the stream with status 0.
func TestNetStatusWatchJSONStream(t *testing.T) {
	testkit.RequireRoot(t)
	ns := netlooptest.New(t)
	ns.Up(t)
	traffic(t, ns, 4000)
	cmd := exec.Command(loopsBinary(t), "net", "status", "--netns", ns.Name, "--watch=250ms", "--json")
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sc := bufio.NewScanner(out)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var maxRate float64
	lines := 0
	for lines < 6 && sc.Scan() {
		lines++
		var doc netStatusJSON
		if err := json.Unmarshal(sc.Bytes(), &doc); err != nil {
			t.Fatalf("line %d is not a JSON document: %v\n%s", lines, err, sc.Bytes())
		}
		if doc.Schema != 1 || doc.Time == "" || doc.Netns != ns.Name || !doc.Up {
			t.Errorf("line %d: schema %d, time %q, netns %q, up %v", lines, doc.Schema, doc.Time, doc.Netns, doc.Up)
		}
		switch {
		case lines == 1 && doc.Rates != nil:
			t.Errorf("the first document has rates (nothing to compare with): %+v", doc.Rates)
		case lines > 1 && doc.Rates == nil:
			t.Errorf("line %d has no rates", lines)
		case lines > 1:
			maxRate = max(maxRate, doc.Rates.TX.Packets)
			if doc.Rates.Seconds < 0.1 || doc.Rates.Seconds > 5 {
				t.Errorf("line %d: rates over %v s, want about 0.25", lines, doc.Rates.Seconds)
			}
		}
	}
	if lines < 6 {
		t.Fatalf("%d lines, want 6; stderr: %s", lines, stderr.String())
	}
	if maxRate < 10 {
		t.Errorf("the highest tx rate is %.1f pkt/s, want the traffic's (about 200)", maxRate)
	}
	cmd.Process.Signal(os.Interrupt)
	go func() {
		for sc.Scan() {
		}
	}() // drain
	if err := cmd.Wait(); err != nil {
		t.Errorf("loops after SIGINT: %v (stderr %s), want exit status 0", err, stderr.String())
	}
}
