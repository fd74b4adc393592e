package bench

import (
	"fmt"
	"slices"
	"sort"
	"strings"
	"time"
)

// An Act is one step of a sequence: an exec (timed from fork to reap, as
// in Measure) or, where no command does it, a function (killing a daemon
// and waiting for it to end). Save keeps the exec's output under a name
// that later arguments use as {name}.
type Act struct {
	Step  Step
	Fn    func(vars map[string]string) error
	Save  string
	First bool // the reader's step: its output is "files=N bytes=B first_ns=T"
}

// Exec is the act that runs s.
func Exec(s Step) Act { return Act{Step: s} }

// An ActSide is a Side of acts.
type ActSide struct {
	Name, Label string
	Loops, Ref  bool
	Env         []string
	Setup       []Act // untimed
	Timed       []Act
	Cleanup     []Act // untimed
}

// RunActs runs acts in order; it returns their summed time and the time
// to the end of the first file read (the acts before the reader plus the
// reader's own time to its first file), and the reader's output.
func (r *Runner) RunActs(env []string, vars map[string]string, acts []Act) (total, first time.Duration, out string, err error) {
	for _, a := range acts {
		if a.Fn != nil {
			t0 := time.Now()
			err = a.Fn(vars)
			total += time.Since(t0)
			if err != nil {
				return
			}
			continue
		}
		s := a.Step
		s.Argv = slices.Clone(a.Step.Argv)
		for i, x := range s.Argv {
			for k, v := range vars {
				x = strings.ReplaceAll(x, "{"+k+"}", v)
			}
			s.Argv[i] = x
		}
		var d time.Duration
		var o string
		d, o, _, err = r.Exec(env, s, "")
		if err != nil {
			total += d
			return
		}
		if a.Save != "" {
			vars[a.Save] = o
		}
		if a.First {
			var files, bytes, ns int64
			if _, e := fmt.Sscanf(o, "files=%d bytes=%d first_ns=%d", &files, &bytes, &ns); e != nil {
				err = fmt.Errorf("%s: output %q", r.name(s), o)
				return
			}
			first = total + time.Duration(ns)
			out = o
		}
		total += d
	}
	return
}

// MeasureActs is Measure for sides of acts: rounds alternate the sides,
// setup and cleanup untimed; it returns the total times, the times to the
// first file, and what each side's reader read ("files=N bytes=B" and how
// many rounds read that), which should be the same for every side.
func (r *Runner) MeasureActs(n, warm int, sides []ActSide) (total, first []*Series, reads []map[string]int, err error) {
	for _, s := range sides {
		lb := s.Label
		if lb == "" {
			lb = s.Name
		}
		total = append(total, &Series{Name: s.Name, Label: lb, Loops: s.Loops, Ref: s.Ref, Exits: map[int]int{}})
		first = append(first, &Series{Name: s.Name, Label: lb, Loops: s.Loops, Ref: s.Ref, Exits: map[int]int{}})
		reads = append(reads, map[string]int{})
	}
	for round := -warm; round < n; round++ {
		for i, s := range sides {
			if r.Ctx.Err() != nil {
				return nil, nil, nil, ErrInterrupted
			}
			vars, env := map[string]string{}, MergeEnv(r.Base, s.Env)
			if _, _, _, err := r.RunActs(env, vars, s.Setup); err != nil {
				r.RunActs(env, vars, s.Cleanup)
				return nil, nil, nil, fmt.Errorf("%s: setup: %w", s.Name, err)
			}
			d, f, out, err := r.RunActs(env, vars, s.Timed)
			_, _, _, cerr := r.RunActs(env, vars, s.Cleanup)
			if err != nil {
				return nil, nil, nil, fmt.Errorf("%s: %w", s.Name, err)
			}
			if cerr != nil {
				return nil, nil, nil, fmt.Errorf("%s: cleanup: %w", s.Name, cerr)
			}
			if got, _, _ := strings.Cut(out, " first_ns="); got != "" {
				if (len(reads[i]) == 0 || reads[i][got] == 0) && r.Log != nil {
					r.Log("%s: read %s", total[i].Label, got)
				}
				reads[i][got]++
			}
			if round >= 0 {
				total[i].D = append(total[i].D, d)
				first[i].D = append(first[i].D, f)
			}
		}
	}
	return total, first, reads, nil
}

// ReadBytes is the most bytes any side read (for rates), and a note when
// the sides did not all read the same files and bytes.
func ReadBytes(sides []ActSide, reads []map[string]int) (int64, string) {
	var most int64
	all := map[string]bool{}
	var per []string
	for i, m := range reads {
		var seen []string
		for got, k := range m {
			var f, b int64
			fmt.Sscanf(got, "files=%d bytes=%d", &f, &b)
			most = max(most, b)
			all[got] = true
			seen = append(seen, fmt.Sprintf("%d files, %d bytes (%d×)", f, b, k))
		}
		if len(seen) > 0 {
			sort.Strings(seen)
			label := sides[i].Label
			if label == "" {
				label = sides[i].Name
			}
			per = append(per, fmt.Sprintf("%s: %s", label, strings.Join(seen, "; ")))
		}
	}
	if len(all) <= 1 {
		return most, ""
	}
	return most, "**The sides did not read the same files and bytes** (counted by the reader, rounds with warm-up): " + strings.Join(per, " — ") + "."
}

// ReadRates is the read rate of each side at its median (bytes read in
// the median time), by short names.
func ReadRates(res []*Series, bytes int64, names ...string) string {
	var p []string
	for i, s := range res {
		if m := s.Median(); m > 0 && i < len(names) {
			p = append(p, fmt.Sprintf("%s %.0f MB/s", names[i], float64(bytes)/1e6/m.Seconds()))
		}
	}
	return strings.Join(p, ", ")
}

// Throughputs is the throughput of each side at its median for mib MiB
// read, by the side's name up to " (".
func Throughputs(res []*Series, mib int) string {
	var p []string
	for _, s := range res {
		name, _, _ := strings.Cut(s.Name, " (")
		if m := s.Median(); m > 0 {
			p = append(p, fmt.Sprintf("%s %.0f MiB/s", name, float64(mib)/m.Seconds()))
		}
	}
	return strings.Join(p, ", ")
}
