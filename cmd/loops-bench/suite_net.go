package main

import (
	"fmt"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// nsName is a namespace name unique to this run.
func nsName(what string) string { return fmt.Sprintf("loopsbench-%s-%d", what, os.Getpid()) }

// listenersSpec: what a small machine has on loopback: a web app on
// 127.0.0.1, a database on ::1, a server on all addresses, a DNS stub.
const listenersSpec = "tcp:127.0.0.1:8080,tcp:[::1]:5432,tcp:0.0.0.0:2222,udp:127.0.0.53:53,tcp:127.0.0.53:53"

func (h *harness) netSuite() error {
	ns, err := h.newNetns(nsName("net"))
	if err != nil {
		return err
	}
	if err := quiet("ip", "-n", ns, "addr", "add", "127.0.0.53/8", "dev", "lo"); err != nil {
		return err
	}
	if _, err := h.hold(ns, "-listen", listenersSpec); err != nil {
		return err
	}

	h.rep.Printf("## Network: loops net vs ip, ifconfig, ss\n\n")
	h.rep.Printf("In a fresh network namespace (lo up, 127.0.0.1, 127.0.0.53, ::1; TCP listeners on 127.0.0.1:8080, [::1]:5432, 0.0.0.0:2222, 127.0.0.53:53 and UDP 127.0.0.53:53, held by one helper process), every command started inside it (see Method). %d rounds.\n\n", h.runs)

	status := h.sd(true, h.loopsCmd("net", "status"))
	err = inNetns(ns, func() error {
		// The commands started here see the namespace, not the host.
		out, err := h.r.Once(nil, cmd("ss", "-Hltn"))
		if err != nil {
			return err
		}
		if !strings.Contains(out, ":8080") || strings.Count(out, "LISTEN") != 4 {
			return fmt.Errorf("the namespace's listeners are not what ss sees from its thread: %q", out)
		}
		if err := h.table("net", "lo status", "", status, h.sd(false, cmd("ip", "-s", "addr", "show", "lo")), h.sd(false, cmd("ifconfig", "lo"))); err != nil {
			return err
		}
		three := h.sd(false, cmd("ip", "-s", "link", "show", "lo"), cmd("ip", "addr", "show", "lo"), cmd("ss", "-ltnp")).Labelled("ip -s link; ip addr; ss -ltnp")
		if err := h.table("net", "the three commands a user types today, or one",
			"The three are run as three execs and summed per round (no shell).", status, three); err != nil {
			return err
		}
		if err := h.table("net", "listeners", "`ss -ltnup` lists UDP too, as loops does.",
			h.sd(true, h.loopsCmd("net", "listeners")), h.sd(false, cmd("ss", "-ltnp")), h.sd(false, cmd("ss", "-ltnup"))); err != nil {
			return err
		}
		if err := h.table("", "start-up floor: a command that reads nothing",
			"What starting each program costs on this machine (a static Go binary of several MiB against small C programs linked to libc; page faults are what costs most here). Part of every loops row above and below.",
			h.sd(true, h.loopsCmd("--help")), h.sd(false, cmd("ip", "-V")), h.sd(false, cmd("ss", "-V")), h.sd(false, cmd("true"))); err != nil {
			return err
		}
		return h.table("", "the doctor: `loops net check`, total time",
			"Real round trips on 127.0.0.1, ::1 and 127.0.0.2, the hosts file, name resolution order; there is no single classic command to compare it with.",
			h.sd(true, h.loopsCmd("net", "check").Allow(1)))
	})
	if err != nil {
		return err
	}
	return h.table("net", "lo status from outside the namespace",
		"Started in the host namespace; `loops --netns` and `ip -n` switch to the namespace by themselves.",
		h.sd(true, h.loopsCmd("net", "--netns", ns, "status")).Named("loops net --netns NS status"),
		h.sd(false, cmd("ip", "-n", ns, "-s", "addr", "show", "lo")).Named("ip -n NS -s addr show lo"))
}

func (h *harness) scaleAddrs() error {
	ns, err := h.newNetns(nsName("addrs"))
	if err != nil {
		return err
	}
	sides := []bench.Side{h.sd(true, h.loopsCmd("net", "status")), h.sd(false, cmd("ip", "-s", "addr", "show", "lo"))}
	var res [2][]*bench.Series
	measure := func(i int) func() error {
		return func() (err error) { res[i], err = h.measure(sides...); return err }
	}
	if err := inNetns(ns, measure(0)); err != nil {
		return err
	}
	batch := filepath.Join(h.work, "addrs.batch")
	var b strings.Builder
	for i := 1; i <= 254; i++ {
		fmt.Fprintf(&b, "addr add 127.1.0.%d/8 dev lo\n", i)
	}
	if err := os.WriteFile(batch, []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := quiet("ip", "-n", ns, "-batch", batch); err != nil {
		return err
	}
	if err := inNetns(ns, measure(1)); err != nil {
		return err
	}
	h.rep.TwoStates("256 addresses on lo", fmt.Sprintf("A fresh namespace: lo with its 2 addresses (127.0.0.1, ::1), then with 254 more (127.1.0.1–254/8), 256 in all. %d rounds each, alternating.", h.runs),
		[2]string{"2 addresses", "256 addresses"}, res)
	return nil
}

func (h *harness) scaleConns() error {
	const conns = 10000
	ns, err := h.newNetns(nsName("conns"))
	if err != nil {
		return err
	}
	if _, err := h.hold(ns, "-listen", listenersSpec); err != nil {
		return err
	}
	test := filepath.Join(h.work, "netloop.test")
	c := exec.Command(h.goBin, "test", "-c", "-o", test, "./netloop")
	c.Dir = h.repo
	if out, err := c.CombinedOutput(); err != nil {
		return fmt.Errorf("go test -c ./netloop: %v: %s", err, out)
	}
	goBench := bench.Step{Argv: []string{test, "-test.run", "^$", "-test.bench", "^(BenchmarkListeners|BenchmarkSocketDiagAllStates)$", "-test.benchtime", fmt.Sprintf("%dx", max(20, h.runs*5))}}
	sides := []bench.Side{h.sd(true, h.loopsCmd("net", "listeners")), h.sd(false, cmd("ss", "-ltnp")), h.sd(false, cmd("ss", "-ltn")).Reference()}
	var res [2][]*bench.Series
	var gob [2]map[string]string
	measure := func(i int) (err error) {
		if res[i], err = h.measure(sides...); err != nil {
			return err
		}
		out, err := h.r.Once(nil, goBench)
		gob[i] = parseBench(out)
		return err
	}
	if err := inNetns(ns, func() error { return measure(0) }); err != nil {
		return err
	}
	stopConns, err := h.holdConns(ns, conns)
	if err != nil {
		return err
	}
	est := 0
	err = inNetns(ns, func() error {
		out, err := h.r.Once(nil, cmd("ss", "-Htn", "state", "established"))
		if err != nil {
			return err
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				est++
			}
		}
		return measure(1)
	})
	stopConns()
	if err != nil {
		return err
	}
	h.rep.TwoStates(fmt.Sprintf("listeners with %d established connections", conns),
		fmt.Sprintf("A fresh namespace with the 5 listeners of the net section, then also %d established TCP connections on 127.0.0.1 (%d sockets in state ESTABLISHED seen by `ss`: both ends), held by two more helper processes (one accepts, one dials). %d rounds each. `loops net listeners` asks sock_diag for LISTEN (TCP) and unconnected (UDP) sockets only, so the kernel does not walk the connections; `ss -l` also sends a state filter. Both `loops` and `ss -p` find each socket's process by reading every `/proc/PID/fd`, and the helpers holding the connections have %d descriptors: that part grows for both (`ss -ltn`, without processes, shows the rest).", conns, est, h.runs, 2*conns),
		[2]string{"0 connections", fmt.Sprintf("%d connections", conns)}, res)
	h.rep.Printf("In process, the same namespace (netloop's Go benchmarks, ns/op; `BenchmarkListeners` is the LISTEN-only request of `loops net listeners`, both families, without owners; `BenchmarkSocketDiagAllStates` is what asking for all states, as vishvananda/netlink's `SocketDiagTCP` does, costs for the same answer):\n\n")
	h.rep.Printf("| benchmark | 0 connections ns/op | %d connections ns/op | growth |\n|:---|---:|---:|---:|\n", conns)
	for _, name := range []string{"BenchmarkListeners", "BenchmarkSocketDiagAllStates"} {
		a, b := gob[0][name], gob[1][name]
		var fa, fb float64
		fmt.Sscan(a, &fa)
		fmt.Sscan(b, &fb)
		g := ""
		if fa > 0 {
			g = fmt.Sprintf("%.2f×", fb/fa)
		}
		h.rep.Printf("| %s | %s | %s | %s |\n", name, a, b, g)
	}
	h.rep.Printf("\n")
	return nil
}

// parseBench maps benchmark names (without the -N suffix) to ns/op.
func parseBench(out string) map[string]string {
	m := map[string]string{}
	for _, l := range strings.Split(out, "\n") {
		f := strings.Fields(l)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		for i := 2; i+1 < len(f); i++ {
			if f[i+1] == "ns/op" {
				m[trimProcs(f[0])] = f[i]
			}
		}
	}
	return m
}

func trimProcs(name string) string {
	if i := strings.LastIndexByte(name, '-'); i > 0 {
		if _, err := strconv.Atoi(name[i+1:]); err == nil {
			return name[:i]
		}
	}
	return name
}
