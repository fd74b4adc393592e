// Command loops-bench times loops beside the tools a user would use instead,
// in one run, and writes docs/benchmarks.md. It is what `make bench` runs.
//
// Every comparison runs its sides alternating, A B A B ... (never all of A
// then all of B), so that a machine that slows down or speeds up during the
// run affects both sides alike; it reports the median, p10 and p90 of each
// side and the ratio of the medians. Each side is a list of real execs
// (bin/loops, ip, ss, mount, pactl, ...) timed from fork to reap, with no
// shell; setup and cleanup commands around them are not timed. The engine
// and the report are package internal/bench; the suites are here.
//
// Usage, as root:
//
//	loops-bench [-loops bin/loops] [-out docs/benchmarks.md] [-runs N] [-quick] [-only net,block,...]
//
// It makes its own network namespaces, images, mount points and sound
// servers, and removes them at exit, also on failure and on SIGINT/SIGTERM.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// suites are the suites, in the order they run and the report shows them.
var suites = []struct {
	name string
	run  func(*harness) error
}{
	{"net", (*harness).netSuite},
	{"block", (*harness).blockSuite},
	{"iso", (*harness).isoSuite},
	{"erofs", (*harness).erofsSuite},
	{"disk", (*harness).diskSuite},
	{"fat", (*harness).fatSuite},
	{"fatwrite", (*harness).fatWriteSuite},
	{"luks", (*harness).luksSuite},
	{"lvm", (*harness).lvmSuite},
	{"ntfs", (*harness).ntfsSuite},
	{"udf", (*harness).udfSuite},
	{"audio", (*harness).audioSuite},
	{"mic", (*harness).micSuite},
	{"status", (*harness).statusSuite},
	{"scale", (*harness).scaleSuite},
	{"go", (*harness).goSuite},
}

func suiteNames() []string {
	var n []string
	for _, s := range suites {
		n = append(n, s.name)
	}
	return n
}

// harness is one run: what it times, where it works, how many rounds, the
// engine, the report, and what to undo at exit.
type harness struct {
	loops        string // absolute path of the loops binary under test
	work         string // the work directory
	repo         string // the loops source tree (for go test)
	goBin        string
	quick        bool
	runs, warmup int
	r            *bench.Runner
	rep          *bench.Report
	undo         cleanups
}

func logf(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }

// cleanups run last-in first-out, each once, at exit or on a second signal.
type cleanups struct {
	mu sync.Mutex
	fs []func()
}

func (c *cleanups) add(f func()) {
	c.mu.Lock()
	c.fs = append(c.fs, f)
	c.mu.Unlock()
}

func (c *cleanups) run() {
	for {
		c.mu.Lock()
		if len(c.fs) == 0 {
			c.mu.Unlock()
			return
		}
		f := c.fs[len(c.fs)-1]
		c.fs = c.fs[:len(c.fs)-1]
		c.mu.Unlock()
		f()
	}
}

// quiet runs a command untimed for setup or cleanup, with a timeout and its
// own context (cleanup must work after an interrupt).
func quiet(argv ...string) error {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	c := exec.CommandContext(ctx, argv[0], argv[1:]...)
	out, err := c.CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s: %v: %s", strings.Join(argv, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "__hold" {
		holdMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "__readall" {
		readAllMain(os.Args[2:])
		return
	}
	os.Exit(run())
}

func run() int {
	h := &harness{}
	all := suiteNames()
	loopsFlag := flag.String("loops", "bin/loops", "the loops binary to time")
	out := flag.String("out", "docs/benchmarks.md", "where to write the report (- for stdout)")
	only := flag.String("only", strings.Join(all, ","), "comma-separated suites to run: "+strings.Join(all, ","))
	work := flag.String("work", "", "work directory (default: a fresh temporary one); a given one is kept, and its images (iso, erofs, ntfs) reused")
	flag.StringVar(&h.goBin, "go", "go", "the go command, for the Go benchmarks")
	flag.IntVar(&h.runs, "runs", envInt("RUNS", 0), "recorded rounds of each fast comparison (default 40; 3 with -quick); slow ones use fewer (see the report)")
	flag.BoolVar(&h.quick, "quick", os.Getenv("BENCH_QUICK") != "", "few rounds and a smaller ISO, to check that everything runs")
	flag.Parse()

	var want []string
	for _, s := range strings.Split(*only, ",") {
		s = strings.TrimSpace(s)
		if !slices.Contains(all, s) {
			fmt.Fprintf(os.Stderr, "loops-bench: no suite %q (the suites: %s)\n", s, strings.Join(all, ", "))
			return 2
		}
		want = append(want, s)
	}
	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "loops-bench: needs root (network namespaces, loop devices, mounts): sudo make bench")
		return 1
	}
	if h.runs <= 0 {
		h.runs = 40
		if h.quick {
			h.runs = 3
		}
	}
	h.warmup = 3
	if h.quick {
		h.warmup = 1
	}
	var err error
	if h.loops, err = filepath.Abs(*loopsFlag); err != nil {
		fmt.Fprintln(os.Stderr, "loops-bench:", err)
		return 1
	}
	if _, err := os.Stat(h.loops); err != nil {
		fmt.Fprintf(os.Stderr, "loops-bench: %v (make build)\n", err)
		return 1
	}
	h.repo, _ = os.Getwd()
	if p, err := exec.LookPath(h.goBin); err == nil {
		h.goBin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		h.goBin = "/usr/local/go/bin/go"
	}
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin:/usr/local/go/bin")

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping, cleaning up (again to clean up at once)", s)
		cancel()
		<-sigs
		h.undo.run()
		os.Exit(130)
	}()

	keep := *work != ""
	if keep {
		h.work, _ = filepath.Abs(*work)
		err = os.MkdirAll(h.work, 0o755)
	} else {
		h.work, err = os.MkdirTemp("", "loops-bench-")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loops-bench:", err)
		return 1
	}
	h.undo.add(func() { h.sweep(keep) })
	code := h.runSuites(ctx, want, *out)
	h.undo.run()
	if ctx.Err() != nil {
		return 130
	}
	return code
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

// runSuites runs the suites in want, in the order of suites, and writes
// the report to out (merged with the file's other suites when want is not
// all of them).
func (h *harness) runSuites(ctx context.Context, want []string, out string) int {
	outF, err := os.Create(filepath.Join(h.work, "stdout"))
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer outF.Close()
	errF, err := os.Create(filepath.Join(h.work, "stderr"))
	if err != nil {
		logf("%v", err)
		return 1
	}
	defer errF.Close()
	var base []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SUDO_") || strings.HasPrefix(kv, "LOOPS_") {
			continue
		}
		base = append(base, kv)
	}
	base = append(base, "LOOPS_FORCE_TTY=0", "LC_ALL=C")
	paths := bench.Paths{Loops: h.loops, Work: h.work}
	h.r = &bench.Runner{Ctx: ctx, Base: base, Out: outF, Err: errF, Name: paths.Step, Log: logf}
	h.rep = &bench.Report{Start: time.Now(), Runs: h.runs, Warmup: h.warmup, Quick: h.quick, Suites: suiteNames(),
		Paths: paths, Startup: startupSection, LoadStart: loadavg()}
	h.machine()

	for _, s := range suites {
		if !slices.Contains(want, s.name) {
			continue
		}
		if ctx.Err() != nil {
			return 130
		}
		t0 := time.Now()
		logf("suite %s", s.name)
		err := s.run(h)
		if errors.Is(err, bench.ErrInterrupted) || ctx.Err() != nil {
			return 130
		}
		if err != nil {
			logf("suite %s failed: %v", s.name, err)
		}
		h.rep.Ran(s.name, time.Since(t0), err)
	}
	text := h.rep.Render(time.Now(), loadavg())
	if out == "-" {
		fmt.Print(text)
	} else {
		old, _ := os.ReadFile(out) // none yet: the report is this run's
		text = bench.Merge(text, string(old), h.rep.RanSuites(), suiteNames())
		if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
			logf("%v", err)
			return 1
		}
		logf("wrote %s", out)
	}
	if h.rep.Failed() {
		return 1
	}
	return 0
}

// sd is a side named after its timed steps.
func (h *harness) sd(loops bool, timed ...bench.Step) bench.Side {
	var n []string
	for _, s := range timed {
		n = append(n, h.rep.Paths.Step(s))
	}
	return bench.Side{Name: strings.Join(n, "; "), Loops: loops, Timed: timed}
}

// cmd is a step of an installed tool (bench.Command).
func cmd(argv ...string) bench.Step { return bench.Command(argv...) }

// loopsCmd is a step of the loops under test.
func (h *harness) loopsCmd(args ...string) bench.Step {
	return bench.Step{Argv: append([]string{h.loops}, args...)}
}

// measure times sides alternating, the fast comparisons' rounds.
func (h *harness) measure(sides ...bench.Side) ([]*bench.Series, error) {
	return h.r.Measure(h.runs, h.warmup, sides...)
}

// table measures sides (the fast comparisons' rounds) and writes their
// table.
func (h *harness) table(area, title, note string, sides ...bench.Side) error {
	res, err := h.measure(sides...)
	if err != nil {
		return err
	}
	h.rep.Table(area, title, note, res)
	return nil
}
