package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

type sumRow struct {
	area, what   string
	loops, other string
	l, o         time.Duration
}

type report struct {
	start     time.Time
	head      strings.Builder // machine
	body      strings.Builder // sections
	summary   []sumRow
	failures  []string
	durations []string
	loadStart string
}

func (rep *report) printf(format string, a ...any) { fmt.Fprintf(&rep.body, format, a...) }

func firstLine(argv ...string) string {
	p, err := exec.LookPath(argv[0])
	if err != nil {
		return argv[0] + ": not installed"
	}
	out, _ := exec.Command(p, argv[1:]...).CombinedOutput()
	for _, l := range strings.Split(string(out), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			return l
		}
	}
	return argv[0] + ": no version"
}

func loadavg() string {
	b, _ := os.ReadFile("/proc/loadavg")
	f := strings.Fields(string(b))
	if len(f) < 3 {
		return "?"
	}
	return strings.Join(f[:3], " ")
}

func (rep *report) machine(r *runner) {
	model, cpus := "unknown", 0
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			k, v, _ := strings.Cut(l, ":")
			k = strings.TrimSpace(k)
			if k == "model name" && model == "unknown" {
				model = strings.TrimSpace(v)
			}
			if k == "processor" {
				cpus++
			}
		}
	}
	var u unix.Utsname
	unix.Uname(&u)
	mem := "?"
	if b, err := os.ReadFile("/proc/meminfo"); err == nil {
		var kb int64
		fmt.Sscanf(strings.SplitN(string(b), "\n", 2)[0], "MemTotal: %d kB", &kb)
		mem = fmt.Sprintf("%.1f GiB", float64(kb)/(1<<20))
	}
	commit := "unknown"
	if out, err := exec.Command("git", "-C", repoDir, "rev-parse", "--short", "HEAD").Output(); err == nil {
		commit = strings.TrimSpace(string(out))
		c := exec.Command("git", "-C", repoDir, "status", "--porcelain", "--untracked-files=no")
		c.Env = append(os.Environ(), "GIT_OPTIONAL_LOCKS=0")
		if out, err := c.Output(); err == nil && len(strings.TrimSpace(string(out))) > 0 {
			commit += " with uncommitted changes"
		}
	}
	pw := firstLine("pipewire", "--version")
	if out, err := exec.Command("pipewire", "--version").CombinedOutput(); err == nil {
		for _, l := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(l, "Linked with libpipewire") {
				pw = "pipewire " + strings.TrimPrefix(l, "Linked with libpipewire ")
			}
		}
	}
	ifc := firstLine("ifconfig", "--version")
	if !strings.Contains(ifc, "net-tools") {
		ifc = "net-tools " + ifc
	}
	rep.loadStart = loadavg()
	w := &rep.head
	fmt.Fprintf(w, "## Machine\n\n")
	fmt.Fprintf(w, "- CPU: %d cores (%d for Go), %s; memory %s\n", cpus, runtime.NumCPU(), model, mem)
	fmt.Fprintf(w, "- Kernel: Linux %s (%s)\n", cstr(u.Release[:]), cstr(u.Machine[:]))
	fmt.Fprintf(w, "- iproute2: `%s`; `%s`\n", firstLine("ip", "-V"), firstLine("ss", "-V"))
	fmt.Fprintf(w, "- net-tools: `%s`\n", ifc)
	fmt.Fprintf(w, "- util-linux: `%s`; `%s`\n", firstLine("mount", "--version"), firstLine("losetup", "--version"))
	fmt.Fprintf(w, "- fuseiso: `%s`; xorriso: `%s`\n", firstLine("fuseiso", "-h"), firstLine("xorriso", "-version"))
	fmt.Fprintf(w, "- PulseAudio: `%s`; PipeWire: `%s`; `%s`\n", firstLine("pulseaudio", "--version"), pw, firstLine("pactl", "--version"))
	fmt.Fprintf(w, "- Go: `%s`\n", firstLine(goBin, "version"))
	fmt.Fprintf(w, "- loops: %s at %s (%s)\n", shortPath(loopsBin), commit, fileSize(loopsBin))
}

func fileSize(p string) string {
	st, err := os.Stat(p)
	if err != nil {
		return "?"
	}
	return fmt.Sprintf("%.1f MiB static binary", float64(st.Size())/(1<<20))
}

func cstr(b []byte) string {
	if i := strings.IndexByte(string(b), 0); i >= 0 {
		return string(b[:i])
	}
	return string(b)
}

// shortPath writes paths as a reader would type them.
func shortPath(x string) string {
	if x == loopsBin {
		return "loops"
	}
	if workDir != "" && strings.Contains(x, workDir) {
		return strings.ReplaceAll(x, workDir, "$W")
	}
	for _, d := range []string{"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/", "/usr/local/go/bin/"} {
		if strings.HasPrefix(x, d) && !strings.Contains(x[len(d):], "/") {
			return filepath.Base(x)
		}
	}
	return x
}

func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

func ratio(l, o time.Duration) float64 {
	if o == 0 {
		return 0
	}
	return float64(l) / float64(o)
}

// verdict says whether loops is ahead: within 3% is even.
func verdict(r float64) string {
	switch {
	case r == 0:
		return "?"
	case r < 0.97:
		return fmt.Sprintf("**yes**, %.2f× faster", 1/r)
	case r > 1.03:
		return fmt.Sprintf("no, %.2f× slower", r)
	}
	return "even"
}

// table writes one comparison: a row per side with median, p10, p90 and,
// for the other tools, the ratio loops/that tool. With area set, every
// (loops, other) pair goes into the summary.
func (rep *report) table(area, title, note string, res []*series) {
	rep.printf("### %s\n\n", title)
	if note != "" {
		rep.printf("%s\n\n", note)
	}
	var lo *series
	for _, s := range res {
		if s.loops && lo == nil {
			lo = s
		}
	}
	rep.printf("| command | median ms | p10 | p90 | n | loops ÷ this |\n|:---|---:|---:|---:|---:|---:|\n")
	for _, s := range res {
		rt := ""
		if lo != nil && !s.loops {
			rt = fmt.Sprintf("%.2f", ratio(lo.median(), s.median()))
		}
		name := "`" + s.name + "`"
		if s.ref {
			name += " (reference)"
		}
		if len(s.exits) > 0 {
			var ex []string
			for c, n := range s.exits {
				ex = append(ex, fmt.Sprintf("exit %d ×%d", c, n))
			}
			name += " (" + strings.Join(ex, ", ") + ")"
		}
		rep.printf("| %s | %s | %s | %s | %d | %s |\n", name, ms(s.median()), ms(quantile(s.d, 0.1)), ms(quantile(s.d, 0.9)), len(s.d), rt)
	}
	rep.printf("\n")
	if area == "" || lo == nil {
		return
	}
	for _, s := range res {
		if !s.loops && !s.ref {
			rep.summary = append(rep.summary, sumRow{area, title, lo.label, s.label, lo.median(), s.median()})
		}
	}
}

const method = `## Method

- **Alternation.** Every comparison runs its sides in rounds, A B A B … (A B C A B C … with three
  sides), never all of A then all of B: a machine that slows down during the run (other work,
  thermal, page cache) slows both sides alike. A few warm-up rounds run first and are not recorded.
- **What is timed.** Each side is one or more real execs of the installed tools and of ` + "`bin/loops`" + `,
  timed from fork to reap by this program (` + "`cmd/loops-bench`" + `), **with no shell in between**: a
  side of several commands ("the three commands a user types today") is the sum of their execs.
  Standard output and error go to a file (neither a terminal nor a pipe), the same for every tool;
  ` + "`LOOPS_FORCE_TTY=0`" + ` and ` + "`LC_ALL=C`" + ` are set for all. Setup and cleanup around a timed step (the
  unmount after a timed mount, a mount before a timed read) run in the same round, untimed.
- **Numbers.** Median, 10th and 90th percentile (linear interpolation) of the recorded rounds;
  "loops ÷ this" is the ratio of the medians (below 1: loops is faster). "loops ahead" says
  **yes** below 0.97, **even** from 0.97 to 1.03, no above.
- **Network namespaces.** The net comparisons run in a fresh namespace made for the run (lo up,
  a few listeners held by a helper process): the benchmark enters it with setns(2) on a locked
  thread and starts every command from that thread, so every tool is born in the namespace and
  reads it as its own, with no ` + "`ip netns exec`" + ` or ` + "`nsenter`" + ` wrapper (whose cost, a mount
  namespace and a remount of /sys for ` + "`ip netns exec`" + `, would dwarf the commands). One
  comparison also shows each tool entering the namespace by itself (` + "`loops net --netns`" + ` vs
  ` + "`ip -n`" + `). Nothing touches the host's lo.
- **Reading it.** Most loops commands here are one-shot reads of a few milliseconds, so the cost of
  starting a process is a large part of them: see "start-up floor" under Network for what starting
  ` + "`bin/loops`" + ` (a static Go binary of several MiB: the runtime's start and its page faults, which are
  expensive on this VM) costs against ` + "`ip`" + ` and ` + "`ss`" + `. Where loops replaces several commands, or does
  the work itself (ISO reads, listeners under many connections), that cost is paid once.
- **Privilege.** Everything runs as root (mounts, namespaces); the sound servers are private ones
  started for the run, with their own ` + "`XDG_RUNTIME_DIR`" + ` and ` + "`HOME`" + ` and two null sinks a and b.
`

func (rep *report) render() string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `make bench` (`cmd/loops-bench`) on %s in %s; %d recorded rounds per fast comparison, %d warm-up (`RUNS=%d`).",
		rep.start.UTC().Format("2006-01-02"), time.Since(rep.start).Round(time.Second), runs, warmup, runs)
	fmt.Fprintf(&b, " Load average at the start %s, at the end %s.\n\n", rep.loadStart, loadavg())
	fmt.Fprintf(&b, "Rerun, as root or with sudo: `make bench` (estimated 4–6 minutes); `make bench RUNS=100` for more rounds; `make bench BENCH_QUICK=1` to check that it runs (1 minute); `make bench BENCH_ONLY=net,block` for some suites (%s). Everything it makes (namespaces, images, mounts, loop devices, sound servers, in a temporary directory) is removed at exit, also on failure or Ctrl-C.\n\n", strings.Join(allSuites, ", "))
	if quick {
		fmt.Fprintf(&b, "> **Quick mode** (`make bench BENCH_QUICK=1`): a few rounds and a smaller ISO, to check that the\n> benchmark runs. These numbers are not for comparing; run `make bench` on a quiet machine.\n\n")
	}
	if len(rep.failures) > 0 {
		fmt.Fprintf(&b, "**Not measured in this run:**\n\n")
		for _, f := range rep.failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(shortPath(f), "\n", " "))
		}
		fmt.Fprintf(&b, "\n")
	}
	b.WriteString(rep.head.String())
	fmt.Fprintf(&b, "\nSuites and their wall time: %s.\n\n", strings.Join(rep.durations, ", "))
	fmt.Fprintf(&b, "## Summary: is loops ahead?\n\n")
	fmt.Fprintf(&b, "Each row: loops against what a user would run instead, medians from the tables below (rows marked \"reference\" there, such as reading the image file itself, are limits, not alternatives, and are left out here).\n\n")
	fmt.Fprintf(&b, "| area | comparison | loops | median | instead | median | loops ÷ instead | loops ahead |\n|:---|:---|:---|---:|:---|---:|---:|:---|\n")
	for _, s := range rep.summary {
		r := ratio(s.l, s.o)
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s ms | `%s` | %s ms | %.2f | %s |\n", s.area, s.what, s.loops, ms(s.l), s.other, ms(s.o), r, verdict(r))
	}
	b.WriteString("\n")
	b.WriteString(method)
	b.WriteString("\n")
	b.WriteString(startupSection)
	b.WriteString("\n")
	b.WriteString(rep.body.String())
	var ran []string
	for _, d := range rep.durations {
		name, _, _ := strings.Cut(d, " ")
		ran = append(ran, name)
	}
	return mergeWithOld(b.String(), ran)
}
