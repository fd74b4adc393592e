package bench

import (
	"fmt"
	"path/filepath"
	"strings"
	"time"
)

// Paths writes paths as a reader would type them: the loops binary under
// test as "loops", the work directory as "$W", an installed tool by name.
type Paths struct {
	Loops string // the loops binary
	Work  string // the work directory
}

// Short is x as a reader would type it.
func (p Paths) Short(x string) string {
	if p.Loops != "" && x == p.Loops {
		return "loops"
	}
	if p.Work != "" && strings.Contains(x, p.Work) {
		return strings.ReplaceAll(x, p.Work, "$W")
	}
	for _, d := range []string{"/usr/bin/", "/usr/sbin/", "/bin/", "/sbin/", "/usr/local/bin/", "/usr/local/go/bin/"} {
		if strings.HasPrefix(x, d) && !strings.Contains(x[len(d):], "/") {
			return filepath.Base(x)
		}
	}
	return x
}

// Step is s's command line with short paths.
func (p Paths) Step(s Step) string {
	a := make([]string, len(s.Argv))
	for i, x := range s.Argv {
		a[i] = p.Short(x)
	}
	return strings.Join(a, " ")
}

// A SummaryRow is one line of "is loops ahead?": loops against what a user
// would run instead, in one area (a suite's name, or "scale").
type SummaryRow struct {
	Area, What   string
	Loops, Other string
	L, O         time.Duration // the medians
}

// A Report is docs/benchmarks.md in the making: the machine, the suites'
// sections and tables, the summary rows they add, and what failed.
type Report struct {
	Start        time.Time
	Runs, Warmup int
	Quick        bool
	Suites       []string // every suite, in order
	Paths        Paths
	Startup      string          // a section of its own after Method ("" for none)
	LoadStart    string          // the load average at the start
	Head         strings.Builder // the "## Machine" section

	body      strings.Builder
	summary   []SummaryRow
	failures  []string
	durations []string
	ran       []string
}

// Printf writes into the suites' sections.
func (rep *Report) Printf(format string, a ...any) { fmt.Fprintf(&rep.body, format, a...) }

// AddSummary adds a row to the summary.
func (rep *Report) AddSummary(row SummaryRow) { rep.summary = append(rep.summary, row) }

// Ran records that suite ran, in d, and failed with err (nil: it did not).
func (rep *Report) Ran(suite string, d time.Duration, err error) {
	rep.ran = append(rep.ran, suite)
	rep.durations = append(rep.durations, fmt.Sprintf("%s %.0fs", suite, d.Seconds()))
	if err != nil {
		rep.failures = append(rep.failures, suite+": "+err.Error())
	}
}

// RanSuites are the suites Ran recorded, in order.
func (rep *Report) RanSuites() []string { return rep.ran }

// Failed says whether a suite failed.
func (rep *Report) Failed() bool { return len(rep.failures) > 0 }

// MS writes d in milliseconds with three significant digits or so.
func MS(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	switch {
	case v < 10:
		return fmt.Sprintf("%.2f", v)
	case v < 100:
		return fmt.Sprintf("%.1f", v)
	}
	return fmt.Sprintf("%.0f", v)
}

// Ratio is l ÷ o; 0 when o is 0.
func Ratio(l, o time.Duration) float64 {
	if o == 0 {
		return 0
	}
	return float64(l) / float64(o)
}

// Verdict says whether loops is ahead for a ratio loops ÷ other: within 3%
// is even.
func Verdict(r float64) string {
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

// Table writes one comparison: a row per side with median, p10, p90 and,
// for the other tools, the ratio loops ÷ that tool (the first loops side).
// With area set, every (first loops side, other) pair goes into the
// summary.
func (rep *Report) Table(area, title, note string, res []*Series) {
	rep.table(area, title, note, res, false)
}

// TableEach is Table for loops measured by more than one route (the
// erofs index and --fuse): every (loops side, other) pair goes into the
// summary; the ratio column stays the first loops side's.
func (rep *Report) TableEach(area, title, note string, res []*Series) {
	rep.table(area, title, note, res, true)
}

func (rep *Report) table(area, title, note string, res []*Series, each bool) {
	rep.Printf("### %s\n\n", title)
	if note != "" {
		rep.Printf("%s\n\n", note)
	}
	var lo *Series
	for _, s := range res {
		if s.Loops && lo == nil {
			lo = s
		}
	}
	rep.Printf("| command | median ms | p10 | p90 | n | loops ÷ this |\n|:---|---:|---:|---:|---:|---:|\n")
	for _, s := range res {
		rt := ""
		if lo != nil && !s.Loops {
			rt = fmt.Sprintf("%.2f", Ratio(lo.Median(), s.Median()))
		}
		name := "`" + s.Name + "`"
		if s.Ref {
			name += " (reference)"
		}
		if len(s.Exits) > 0 {
			var ex []string
			for c, n := range s.Exits {
				ex = append(ex, fmt.Sprintf("exit %d ×%d", c, n))
			}
			name += " (" + strings.Join(ex, ", ") + ")"
		}
		rep.Printf("| %s | %s | %s | %s | %d | %s |\n", name, MS(s.Median()), MS(Quantile(s.D, 0.1)), MS(Quantile(s.D, 0.9)), len(s.D), rt)
	}
	rep.Printf("\n")
	if area == "" || lo == nil {
		return
	}
	for _, l := range res {
		if !l.Loops || (l != lo && !each) {
			continue
		}
		for _, s := range res {
			if !s.Loops && !s.Ref {
				rep.AddSummary(SummaryRow{area, title, l.Label, s.Label, l.Median(), s.Median()})
			}
		}
	}
}

// TwoStates writes the same sides measured in two states of a machine as
// one table: a row per side, a column per state, the growth. Each
// (loops, other) pair of the second state goes into the summary as "scale".
func (rep *Report) TwoStates(title, note string, states [2]string, res [2][]*Series) {
	rep.Printf("### %s\n\n%s\n\n", title, note)
	rep.Printf("| command | %s: median (p10–p90) ms | %s: median (p10–p90) ms | growth |\n|:---|---:|---:|---:|\n", states[0], states[1])
	for i := range res[0] {
		a, b := res[0][i], res[1][i]
		rep.Printf("| `%s` | %s (%s–%s) | %s (%s–%s) | %.2f× |\n", a.Name,
			MS(a.Median()), MS(Quantile(a.D, 0.1)), MS(Quantile(a.D, 0.9)),
			MS(b.Median()), MS(Quantile(b.D, 0.1)), MS(Quantile(b.D, 0.9)), Ratio(b.Median(), a.Median()))
	}
	rep.Printf("\n")
	for i := 1; i < len(res[1]); i++ {
		if res[1][0].Loops && !res[1][i].Loops && !res[1][i].Ref {
			rep.AddSummary(SummaryRow{"scale", title + ", " + states[1], res[1][0].Label, res[1][i].Label, res[1][0].Median(), res[1][i].Median()})
		}
	}
}

// Render is the report's text, as of end, with the load average then.
func (rep *Report) Render(end time.Time, loadEnd string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Benchmarks\n\n")
	fmt.Fprintf(&b, "Generated by `make bench` (`cmd/loops-bench`) on %s in %s; %d recorded rounds per fast comparison, %d warm-up (`RUNS=%d`).",
		rep.Start.UTC().Format("2006-01-02"), end.Sub(rep.Start).Round(time.Second), rep.Runs, rep.Warmup, rep.Runs)
	fmt.Fprintf(&b, " Load average at the start %s, at the end %s.\n\n", rep.LoadStart, loadEnd)
	fmt.Fprintf(&b, "Rerun, as root or with sudo: `make bench` (estimated 4–6 minutes); `make bench RUNS=100` for more rounds; `make bench BENCH_QUICK=1` to check that it runs (1 minute); `make bench BENCH_ONLY=net,block` for some suites (%s). Everything it makes (namespaces, images, mounts, loop devices, sound servers, in a temporary directory) is removed at exit, also on failure or Ctrl-C.\n\n", strings.Join(rep.Suites, ", "))
	if rep.Quick {
		fmt.Fprintf(&b, "> **Quick mode** (`make bench BENCH_QUICK=1`): a few rounds and a smaller ISO, to check that the\n> benchmark runs. These numbers are not for comparing; run `make bench` on a quiet machine.\n\n")
	}
	if len(rep.failures) > 0 {
		fmt.Fprintf(&b, "**Not measured in this run:**\n\n")
		for _, f := range rep.failures {
			fmt.Fprintf(&b, "- %s\n", strings.ReplaceAll(rep.Paths.Short(f), "\n", " "))
		}
		fmt.Fprintf(&b, "\n")
	}
	b.WriteString(rep.Head.String())
	fmt.Fprintf(&b, "\nSuites and their wall time: %s.\n\n", strings.Join(rep.durations, ", "))
	fmt.Fprintf(&b, "## Summary: is loops ahead?\n\n")
	fmt.Fprintf(&b, "Each row: loops against what a user would run instead, medians from the tables below (rows marked \"reference\" there, such as reading the image file itself, are limits, not alternatives, and are left out here).\n\n")
	fmt.Fprintf(&b, "| area | comparison | loops | median | instead | median | loops ÷ instead | loops ahead |\n|:---|:---|:---|---:|:---|---:|---:|:---|\n")
	for _, s := range rep.summary {
		r := Ratio(s.L, s.O)
		fmt.Fprintf(&b, "| %s | %s | `%s` | %s ms | `%s` | %s ms | %.2f | %s |\n", s.Area, s.What, s.Loops, MS(s.L), s.Other, MS(s.O), r, Verdict(r))
	}
	b.WriteString("\n")
	b.WriteString(method)
	b.WriteString("\n")
	if rep.Startup != "" {
		b.WriteString(rep.Startup)
		b.WriteString("\n")
	}
	b.WriteString(rep.body.String())
	return b.String()
}
