package cli

import (
	"slices"
	"strings"
	"testing"
)

// TestBranchesNameTheTree: the table a one-shot run picks its branch from
// lists every command of the whole tree, by its name and aliases.
func TestBranchesNameTheTree(t *testing.T) {
	io, _, _ := Test(false)
	f := NewFactory(io, nil)
	var built []string
	for _, c := range NewRootCmd(f).Commands() {
		if c.Name() == "help" || c.Name() == "completion" {
			continue // cobra's own, added at Execute
		}
		built = append(built, c.Name())
	}
	var listed []string
	for _, b := range branches {
		c := b.build(f)
		listed = append(listed, b.names[0])
		if got := append([]string{c.Name()}, c.Aliases...); !slices.Equal(got, b.names) {
			t.Errorf("branch %q: the command answers to %q", b.names[0], got)
		}
	}
	slices.Sort(listed) // Commands() is sorted
	if !slices.Equal(built, listed) {
		t.Errorf("whole tree has %q, the branch table %q", built, listed)
	}
}

// TestBranchRunEqualsWholeTree: a run that builds only its branch prints
// and exits exactly as one over the whole tree.
func TestBranchRunEqualsWholeTree(t *testing.T) {
	for _, args := range [][]string{
		{"net", "--help"},
		{"net", "status", "--help"},
		{"net", "statsu"},
		{"mount", "--help"},
		{"mount"},
		{"unmount", "--help"},
		{"block", "probe", "--bogus"},
		{"block", "list", "--help"},
		{"audio", "on", "--help"},
		{"explain", "block"},
		{"exit-codes"},
		{"status", "--help"},
	} {
		t.Run(strings.Join(args, " "), func(t *testing.T) {
			if b := branchNamed(args); b == nil || !slices.Contains(b.names, args[0]) {
				t.Fatalf("branchNamed(%q) = %v", args, b)
			}
			type result struct {
				code           int
				stdout, stderr string
			}
			one := func(only *branch) result {
				io, out, errOut := Test(false)
				f := NewFactory(io, args)
				root := newRootCmd(f, only)
				root.SetArgs(args)
				code := exitOK
				if cmd, err := root.ExecuteC(); err != nil {
					code = printError(f, cmd, err)
				}
				return result{code, out.String(), errOut.String()}
			}
			whole, branch := one(nil), one(branchNamed(args))
			if whole != branch {
				t.Errorf("whole tree: %+v\nbranch only: %+v", whole, branch)
			}
			if whole.stdout+whole.stderr == "" {
				t.Errorf("no output at all")
			}
		})
	}
	for _, args := range [][]string{nil, {"--help"}, {"help", "net"}, {"__complete", "mo"}, {"bogus"}, {"-h"}} {
		if b := branchNamed(args); b != nil {
			t.Errorf("branchNamed(%q) = %q, want the whole tree", args, b.names)
		}
	}
}
