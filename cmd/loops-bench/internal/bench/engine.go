// Package bench is the engine and the report of loops-bench (`make
// bench`): sides of real execs timed alternating, A B A B …, their
// medians and percentiles, the markdown report with the ratios loops ÷
// the other tool, and the merge of a partial run into the report file.
// It holds no package state; failures are errors.
package bench

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"slices"
	"strings"
	"time"
)

// A Step is one exec. "{out}" in an argument is replaced by the previous
// step's standard output, trimmed (losetup -d {out}).
type Step struct {
	Argv []string
	OK   []int // exit codes accepted besides 0
	err  error // the program was not found (Command)
}

// Command makes a step, resolving the program through PATH once, here, so
// that no timed exec pays a PATH search. A program that is not installed
// makes a step the Runner refuses, saying so.
func Command(argv ...string) Step {
	p, err := exec.LookPath(argv[0])
	if err != nil {
		return Step{Argv: argv, err: fmt.Errorf("%s not found (make deps installs it)", argv[0])}
	}
	return Step{Argv: append([]string{p}, argv[1:]...)}
}

// Allow accepts exit codes besides 0.
func (s Step) Allow(codes ...int) Step {
	s.OK = append(slices.Clone(s.OK), codes...)
	return s
}

// A Side is one thing timed: its timed steps run back to back and their
// times are summed; setup and cleanup run before and after, untimed.
type Side struct {
	Name    string
	Label   string // short name for the summary (default: Name)
	Loops   bool
	Ref     bool     // a limit or a reference (the image itself, no owners): not in the summary
	Env     []string // replaces the base environment's variables of the same name
	Setup   []Step
	Timed   []Step
	Cleanup []Step
}

// Series are the recorded times of one side.
type Series struct {
	Name  string
	Label string
	Loops bool
	Ref   bool
	D     []time.Duration
	Exits map[int]int // exit codes of the last timed step, other than 0
}

// Median is the median of the recorded times.
func (s *Series) Median() time.Duration { return Quantile(s.D, 0.5) }

// Quantile is the q-quantile of ds, linearly interpolated between ranks.
func Quantile(ds []time.Duration, q float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	pos := q * float64(len(s)-1)
	lo := int(pos)
	if lo+1 >= len(s) {
		return s[lo]
	}
	f := pos - float64(lo)
	return s[lo] + time.Duration(f*float64(s[lo+1]-s[lo]))
}

// ErrInterrupted: the Runner's context ended.
var ErrInterrupted = errors.New("interrupted")

// A Runner execs steps with stdout and stderr going to files (never pipes:
// a daemon that keeps them open, fuseiso's, must not hold up the wait).
type Runner struct {
	Ctx  context.Context
	Base []string // the environment of every step
	Out  *os.File
	Err  *os.File
	// Name writes a step for a message (short paths); nil: as it is.
	Name func(Step) string
	// Log tells progress (nil: nothing).
	Log func(format string, a ...any)
}

func (r *Runner) name(s Step) string {
	if r.Name != nil {
		return r.Name(s)
	}
	return strings.Join(s.Argv, " ")
}

// MergeEnv is base with extra's variables replacing those of the same
// name; a bare name in extra unsets it.
func MergeEnv(base, extra []string) []string {
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
		if strings.Contains(kv, "=") {
			env = append(env, kv)
		}
	}
	return env
}

// Exec runs one step and returns its wall time (start to reaped), its
// output and its exit code.
func (r *Runner) Exec(env []string, s Step, prev string) (time.Duration, string, int, error) {
	if s.err != nil {
		return 0, "", -1, s.err
	}
	argv := make([]string, len(s.Argv))
	for i, a := range s.Argv {
		argv[i] = strings.ReplaceAll(a, "{out}", prev)
	}
	for _, f := range []*os.File{r.Out, r.Err} {
		f.Truncate(0)
		f.Seek(0, 0)
	}
	c := exec.CommandContext(r.Ctx, argv[0], argv[1:]...)
	c.Env = env
	c.Stdout, c.Stderr = r.Out, r.Err
	t0 := time.Now()
	err := c.Run()
	d := time.Since(t0)
	out := readSmall(r.Out.Name())
	code := 0
	if err != nil {
		var ee *exec.ExitError
		if !errors.As(err, &ee) || r.Ctx.Err() != nil {
			return d, out, -1, fmt.Errorf("%s: %w", r.name(Step{Argv: argv}), err)
		}
		code = ee.ExitCode()
		if !slices.Contains(s.OK, code) {
			return d, out, code, fmt.Errorf("%s: exit %d: %s", r.name(Step{Argv: argv}), code, strings.TrimSpace(readSmall(r.Err.Name())))
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

// Steps runs steps in order; the total is the sum of their times.
func (r *Runner) Steps(env []string, ss []Step) (time.Duration, string, int, error) {
	var total time.Duration
	out, code := "", 0
	for _, s := range ss {
		d, o, c, err := r.Exec(env, s, out)
		total += d
		out, code = o, c
		if err != nil {
			return total, out, code, err
		}
	}
	return total, out, code, nil
}

// Measure times the sides alternating A B C A B C …: warmup rounds first
// (not recorded), then runs recorded rounds. Setup and cleanup of a side
// run around its timed steps in every round, untimed. The first failure
// ends it.
func (r *Runner) Measure(runs, warmup int, sides ...Side) ([]*Series, error) {
	res := make([]*Series, len(sides))
	for i, s := range sides {
		res[i] = &Series{Name: s.Name, Label: s.Label, Loops: s.Loops, Ref: s.Ref, Exits: map[int]int{}}
		if res[i].Label == "" {
			res[i].Label = s.Name
		}
	}
	for round := -warmup; round < runs; round++ {
		for i, s := range sides {
			if r.Ctx.Err() != nil {
				return nil, ErrInterrupted
			}
			env := MergeEnv(r.Base, s.Env)
			if _, _, _, err := r.Steps(env, s.Setup); err != nil {
				r.Steps(env, s.Cleanup)
				return nil, fmt.Errorf("%s: setup: %w", s.Name, err)
			}
			d, _, code, err := r.Steps(env, s.Timed)
			_, _, _, cerr := r.Steps(env, s.Cleanup)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			if cerr != nil {
				return nil, fmt.Errorf("%s: cleanup: %w", s.Name, cerr)
			}
			if round >= 0 {
				res[i].D = append(res[i].D, d)
				if code != 0 {
					res[i].Exits[code]++
				}
			}
		}
	}
	return res, nil
}

// Once runs steps untimed, with env over the base environment, and
// returns the last one's output.
func (r *Runner) Once(env []string, ss ...Step) (string, error) {
	_, out, _, err := r.Steps(MergeEnv(r.Base, env), ss)
	return out, err
}

// Named is s with its name (the report's row) set.
func (s Side) Named(n string) Side { s.Name = n; return s }

// Labelled is s with its summary label set.
func (s Side) Labelled(l string) Side { s.Label = l; return s }

// Reference is s marked as a limit or a reference, not an alternative.
func (s Side) Reference() Side { s.Ref = true; return s }

// With is s with more environment variables (NAME=value, or NAME to
// unset).
func (s Side) With(env ...string) Side { s.Env = append(slices.Clone(s.Env), env...); return s }
