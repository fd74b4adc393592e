package main

import (
	"fmt"
	"os/exec"
	"strings"
)

// goPackages hold the hot paths: netlink reads and sock_diag (netloop),
// loop devices, mounts and probing (blockloop), ISO directory lookup and
// reads (blockloop/iso9660, blockloop/userfs), module listing (audioloop).
var goPackages = []string{"./netloop", "./blockloop", "./blockloop/iso9660", "./blockloop/userfs", "./audioloop"}

func goSuite(r *runner, rep *report) {
	bt := "1s"
	if quick {
		bt = "1x"
	}
	args := append([]string{"test", "-p", "1", "-count", "1", "-run", "^$", "-bench", ".", "-benchmem", "-benchtime", bt}, goPackages...)
	c := exec.CommandContext(r.ctx, goBin, args...)
	c.Dir = repoDir
	out, err := c.CombinedOutput()
	rep.printf("## Go benchmarks (in process)\n\n")
	rep.printf("`go test %s` (as root, in the host namespace; benchmarks that need a server or root skip without them). The packages without a benchmark are listed with none.\n\n", strings.Join(args[1:], " "))
	rep.printf("| package | benchmark | runs | ns/op | other |\n|:---|:---|---:|---:|:---|\n")
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
		rep.printf("| %s | %s | %s | %s | %s |\n", pkg, trimProcs(f[0]), f[1], f[2], strings.Join(other, ", "))
		seen[pkg]++
	}
	for _, p := range goPackages {
		if seen[strings.TrimPrefix(p, "./")] == 0 {
			rep.printf("| %s | (none) | | | |\n", strings.TrimPrefix(p, "./"))
		}
	}
	rep.printf("\n")
	if err != nil {
		fail("go test -bench: %v: %s", err, lastLines(string(out), 15))
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	if len(l) > n {
		l = l[len(l)-n:]
	}
	return fmt.Sprint(strings.Join(l, "\n"))
}
