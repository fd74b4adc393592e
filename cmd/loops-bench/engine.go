package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"sort"
	"strings"
	"time"
)

// A step is one exec. "{out}" in an argument is replaced by the previous
// step's standard output, trimmed (losetup -d {out}).
type step struct {
	argv []string
	ok   []int // exit codes accepted besides 0
}

// cmd makes a step, resolving the program through PATH once, here, so that
// no timed exec pays a PATH search.
func cmd(argv ...string) step {
	p, err := exec.LookPath(argv[0])
	if err != nil {
		fail("%s not found (make deps installs it)", argv[0])
	}
	a := append([]string{p}, argv[1:]...)
	return step{argv: a}
}

func (s step) allow(codes ...int) step { s.ok = append(s.ok, codes...); return s }

func (s step) String() string {
	a := append([]string{}, s.argv...)
	for i, x := range a {
		a[i] = shortPath(x)
	}
	return strings.Join(a, " ")
}

// A side is one thing timed: its timed steps run back to back and their
// times are summed; setup and cleanup run before and after, untimed.
type side struct {
	name    string
	label   string // short name for the summary (default: name)
	loops   bool
	ref     bool     // a limit or a reference (the image itself, no owners): not in the summary
	env     []string // replaces the base environment's variables of the same name
	setup   []step
	timed   []step
	cleanup []step
}

type series struct {
	name  string
	label string
	loops bool
	ref   bool
	d     []time.Duration
	exits map[int]int // exit codes of the last timed step, other than 0
}

func (s *series) median() time.Duration { return quantile(s.d, 0.5) }

// quantile is the q-quantile of ds, linearly interpolated between ranks.
func quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	f := pos - float64(lo)
	return s[lo] + time.Duration(f*float64(s[lo+1]-s[lo]))
}

// runner execs steps with stdout and stderr going to files (never pipes:
// a daemon that keeps them open, fuseiso's, must not hold up the wait).
type runner struct {
	ctx  context.Context
	base []string
	out  *os.File
	errf *os.File
}

func mergeEnv(base, extra []string) []string {
	if len(extra) == 0 {
		return base
	}
	drop := map[string]bool{}
	for _, kv := range extra {
		k, _, _ := strings.Cut(kv, "=")
		drop[k] = true
	}
	var env []string
	for _, kv := range base {
		k, _, _ := strings.Cut(kv, "=")
		if !drop[k] {
			env = append(env, kv)
		}
	}
	for _, kv := range extra {
		if strings.Contains(kv, "=") { // a bare name unsets it
			env = append(env, kv)
		}
	}
	return env
}

// exec runs one step and returns its wall time (start to reaped), its
// output and its exit code.
func (r *runner) exec(env []string, s step, prev string) (time.Duration, string, int, error) {
	argv := make([]string, len(s.argv))
	for i, a := range s.argv {
		argv[i] = strings.ReplaceAll(a, "{out}", prev)
	}
	for _, f := range []*os.File{r.out, r.errf} {
		f.Truncate(0)
		f.Seek(0, 0)
	}
	c := exec.CommandContext(r.ctx, argv[0], argv[1:]...)
	c.Env = env
	c.Stdout, c.Stderr = r.out, r.errf
	t0 := time.Now()
	err := c.Run()
	d := time.Since(t0)
	out := readSmall(r.out.Name())
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || r.ctx.Err() != nil {
			return d, out, -1, fmt.Errorf("%s: %v", step{argv: argv}, err)
		}
		code = ee.ExitCode()
		okc := false
		for _, c := range s.ok {
			okc = okc || c == code
		}
		if !okc {
			return d, out, code, fmt.Errorf("%s: exit %d: %s", step{argv: argv}, code, strings.TrimSpace(readSmall(r.errf.Name())))
		}
	}
	return d, strings.TrimSpace(out), code, nil
}

func readSmall(path string) string {
	f, err := os.Open(path)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, 1<<20)
	n, _ := f.Read(b)
	return string(b[:n])
}

// steps runs steps in order; the total is the sum of their times.
func (r *runner) steps(env []string, ss []step) (time.Duration, string, int, error) {
	var total time.Duration
	out, code := "", 0
	for _, s := range ss {
		d, o, c, err := r.exec(env, s, out)
		total += d
		out, code = o, c
		if err != nil {
			return total, out, code, err
		}
	}
	return total, out, code, nil
}

// measure times the sides alternating A B C A B C ...: warmup rounds first
// (not recorded), then runs recorded rounds. Setup and cleanup of a side
// run around its timed steps in every round, untimed.
func (r *runner) measure(runs, warmup int, sides ...side) []*series {
	res := make([]*series, len(sides))
	for i, s := range sides {
		res[i] = &series{name: s.name, label: s.label, loops: s.loops, ref: s.ref, exits: map[int]int{}}
		if res[i].label == "" {
			res[i].label = s.name
		}
	}
	for round := -warmup; round < runs; round++ {
		for i, s := range sides {
			if err := r.ctx.Err(); err != nil {
				fail("interrupted")
			}
			env := mergeEnv(r.base, s.env)
			if _, _, _, err := r.steps(env, s.setup); err != nil {
				r.steps(env, s.cleanup)
				fail("%s: setup: %v", s.name, err)
			}
			d, _, code, err := r.steps(env, s.timed)
			_, _, _, cerr := r.steps(env, s.cleanup)
			if err != nil {
				fail("%s: %v", s.name, err)
			}
			if cerr != nil {
				fail("%s: cleanup: %v", s.name, cerr)
			}
			if round >= 0 {
				res[i].d = append(res[i].d, d)
				if code != 0 {
					res[i].exits[code]++
				}
			}
		}
	}
	return res
}

// once runs steps untimed and returns the output, failing on error.
func (r *runner) once(env []string, ss ...step) string {
	_, out, _, err := r.steps(mergeEnv(r.base, env), ss)
	if err != nil {
		fail("%v", err)
	}
	return out
}

// benchError is what fail panics with; a suite that fails is reported and
// the next one runs.
type benchError struct{ msg string }

func fail(format string, a ...any) { panic(benchError{fmt.Sprintf(format, a...)}) }
