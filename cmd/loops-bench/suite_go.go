package main

import (
	"fmt"
	"os/exec"
	"strings"
)

// goPackages hold the hot paths: netlink reads and sock_diag (netloop),
// loop devices and mounts (blockloop), probing (blockloop/probe), ISO directory lookup and
// reads (blockloop/iso9660, blockloop/userfs), module listing (audioloop).
var goPackages = []string{"./netloop", "./blockloop", "./blockloop/probe", "./blockloop/iso9660", "./blockloop/userfs", "./audioloop"}

func (h *harness) goSuite() error {
	bt := "1s"
	if h.quick {
		bt = "1x"
	}
	args := append([]string{"test", "-p", "1", "-count", "1", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", bt}, goPackages...)
	c := exec.CommandContext(h.r.Ctx, h.goBin, args...)
	c.Dir = h.repo
	out, err := c.CombinedOutput()
	h.rep.Printf("## Go benchmarks (in process)\n\n")
	h.rep.Printf("`go test %s` (as root, in the host namespace; benchmarks that need a server or root skip without them). The packages without a benchmark are listed with none.\n\n", strings.Join(args[1:], " "))
	h.rep.Printf("| package | benchmark | runs | ns/op | other |\n|:---|:---|---:|---:|:---|\n")
	pkg := ""
	seen := map[string]int{}
	for _, l := range strings.Split(string(out), "\n") {
		if p, ok := strings.CutPrefix(l, "pkg: "); ok {
			pkg = strings.TrimPrefix(p, "github.com/loops-cli/loops/")
			continue
		}
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") || f[3] != "ns/op" {
			continue
		}
		var other []string
		for i := 4; i+1 < len(f); i += 2 {
			other = append(other, f[i]+" "+f[i+1])
		}
		h.rep.Printf("| %s | %s | %s | %s | %s |\n", pkg, trimProcs(f[0]), f[1], f[2], strings.Join(other, ", "))
		seen[pkg]++
	}
	for _, p := range goPackages {
		if seen[strings.TrimPrefix(p, "./")] == 0 {
			h.rep.Printf("| %s | (none) | | | |\n", strings.TrimPrefix(p, "./"))
		}
	}
	h.rep.Printf("\n")
	if err != nil {
		return fmt.Errorf("go test -bench: %v: %s", err, lastLines(string(out), 15))
	}
	return nil
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return fmt.Sprint(strings.Join(l, "\n"))
}
