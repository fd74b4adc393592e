// Command loops-bench times loops beside the tools a user would use instead,
// in one run, and writes docs/benchmarks.md. It is what `make bench` runs.
//
// Every comparison runs its sides alternating, A B A B ... (never all of A
// then all of B), so that a machine that slows down or speeds up during the
// run affects both sides alike; it reports the median, p10 and p90 of each
// side and the ratio of the medians. Each side is a list of real execs
// (bin/loops, ip, ss, mount, pactl, ...) timed from fork to reap, with no
// shell; setup and cleanup commands around them are not timed.
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
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

var (
	loopsBin string // absolute path of the loops binary under test
	workDir  string // temporary directory, removed at exit
	repoDir  string // the loops source tree (for go test)
	goBin    string
	quick    bool
	runs     int
	warmup   int
	logf     = func(format string, a ...any) { fmt.Fprintf(os.Stderr, "bench: "+format+"\n", a...) }
)

// Cleanups run last-in first-out, each once, at exit or on a second signal.
var (
	cleanupMu sync.Mutex
	cleanups  []func()
)

func atCleanup(f func()) {
	cleanupMu.Lock()
	cleanups = append(cleanups, f)
	cleanupMu.Unlock()
}

func runCleanups() {
	for {
		cleanupMu.Lock()
		if len(cleanups) == 0 {
			cleanupMu.Unlock()
			return
		}
		f := cleanups[len(cleanups)-1]
		cleanups = cleanups[:len(cleanups)-1]
		cleanupMu.Unlock()
		func() {
			defer func() {
				if e := recover(); e != nil {
					logf("cleanup: %v", e)
				}
			}()
			f()
		}()
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

var allSuites = []string{"net", "block", "iso", "disk", "fat", "udf", "audio", "status", "scale", "go"}

func main() {
	if len(os.Args) > 1 && os.Args[1] == "__hold" {
		holdMain(os.Args[2:])
		return
	}
	if len(os.Args) > 1 && os.Args[1] == "__readall" {
		readAllMain(os.Args[2:])
		return
	}
	var (
		loopsFlag = flag.String("loops", "bin/loops", "the loops binary to time")
		out       = flag.String("out", "docs/benchmarks.md", "where to write the report (- for stdout)")
		only      = flag.String("only", strings.Join(allSuites, ","), "comma-separated suites to run: "+strings.Join(allSuites, ","))
		work      = flag.String("work", "", "work directory (default: a fresh temporary one); a given one is kept, and its ISO image reused")
	)
	flag.StringVar(&goBin, "go", "go", "the go command, for the Go benchmarks")
	flag.IntVar(&runs, "runs", envInt("RUNS", 0), "recorded rounds of each fast comparison (default 40; 3 with -quick); slow ones use fewer (see the report)")
	flag.BoolVar(&quick, "quick", os.Getenv("BENCH_QUICK") != "", "few rounds and a smaller ISO, to check that everything runs")
	flag.Parse()

	if os.Geteuid() != 0 {
		fmt.Fprintln(os.Stderr, "loops-bench: needs root (network namespaces, loop devices, mounts): sudo make bench")
		os.Exit(1)
	}
	if runs <= 0 {
		runs = 40
		if quick {
			runs = 3
		}
	}
	warmup = 3
	if quick {
		warmup = 1
	}
	var err error
	if loopsBin, err = filepath.Abs(*loopsFlag); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	if _, err := os.Stat(loopsBin); err != nil {
		fmt.Fprintf(os.Stderr, "loops-bench: %v (make build)\n", err)
		os.Exit(1)
	}
	repoDir, _ = os.Getwd()
	if p, err := exec.LookPath(goBin); err == nil {
		goBin = p
	} else if _, err := os.Stat("/usr/local/go/bin/go"); err == nil {
		goBin = "/usr/local/go/bin/go"
	}
	os.Setenv("PATH", os.Getenv("PATH")+":/usr/sbin:/sbin:/usr/local/go/bin")

	ctx, cancel := context.WithCancel(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		s := <-sigs
		logf("%v: stopping, cleaning up (again to clean up at once)", s)
		cancel()
		<-sigs
		runCleanups()
		os.Exit(130)
	}()

	keep := *work != ""
	if keep {
		workDir, _ = filepath.Abs(*work)
		err = os.MkdirAll(workDir, 0o755)
	} else {
		workDir, err = os.MkdirTemp("", "loops-bench-")
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	atCleanup(func() { sweep(keep) })

	code := run(ctx, strings.Split(*only, ","), *out)
	runCleanups()
	if ctx.Err() != nil {
		os.Exit(130)
	}
	os.Exit(code)
}

func envInt(name string, def int) int {
	if v, err := strconv.Atoi(os.Getenv(name)); err == nil {
		return v
	}
	return def
}

func run(ctx context.Context, only []string, out string) int {
	outF, err := os.Create(filepath.Join(workDir, "stdout"))
	if err != nil {
		logf("%v", err)
		return 1
	}
	errF, _ := os.Create(filepath.Join(workDir, "stderr"))
	var base []string
	for _, kv := range os.Environ() {
		if strings.HasPrefix(kv, "SUDO_") || strings.HasPrefix(kv, "LOOPS_") {
			continue
		}
		base = append(base, kv)
	}
	base = append(base, "LOOPS_FORCE_TTY=0", "LC_ALL=C")
	r := &runner{ctx: ctx, base: base, out: outF, errf: errF}
	rep := &report{start: time.Now()}
	rep.machine(r)

	want := map[string]bool{}
	for _, s := range only {
		want[strings.TrimSpace(s)] = true
	}
	suites := map[string]func(*runner, *report){
		"net": netSuite, "block": blockSuite, "iso": isoSuite, "audio": audioSuite,
		"status": statusSuite, "scale": scaleSuite, "go": goSuite,
		"disk": diskSuite, "fat": fatSuite, "udf": udfSuite,
	}
	for _, name := range allSuites {
		if !want[name] {
			continue
		}
		if ctx.Err() != nil {
			return 130
		}
		t0 := time.Now()
		logf("suite %s", name)
		func() {
			defer func() {
				e := recover()
				if e == nil {
					return
				}
				msg := fmt.Sprint(e)
				if be, ok := e.(benchError); ok {
					msg = be.msg
				} else {
					msg += "\n" + string(debug.Stack())
				}
				logf("suite %s failed: %s", name, msg)
				rep.failures = append(rep.failures, fmt.Sprintf("%s: %s", name, msg))
			}()
			suites[name](r, rep)
		}()
		rep.durations = append(rep.durations, fmt.Sprintf("%s %.0fs", name, time.Since(t0).Seconds()))
	}
	if ctx.Err() != nil {
		return 130
	}
	text := rep.render()
	if out == "-" {
		fmt.Print(text)
	} else if err := os.WriteFile(out, []byte(text), 0o644); err != nil {
		logf("%v", err)
		return 1
	} else {
		logf("wrote %s", out)
	}
	if len(rep.failures) > 0 {
		return 1
	}
	return 0
}
