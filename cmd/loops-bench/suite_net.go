package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
)

// sd is a side named after its timed steps.
func sd(loops bool, timed ...step) side {
	var n []string
	for _, s := range timed {
		n = append(n, s.String())
	}
	return side{name: strings.Join(n, "; "), loops: loops, timed: timed}
}

func (s side) named(n string) side { s.name = n; return s }

func (s side) labelled(l string) side { s.label = l; return s }

func (s side) reference() side { s.ref = true; return s }

func (s side) with(env ...string) side { s.env = append(s.env, env...); return s }

func loopsCmd(args ...string) step { return step{argv: append([]string{loopsBin}, args...)} }

// nsName is a namespace name unique to this run.
func nsName(what string) string { return fmt.Sprintf("loopsbench-%s-%d", what, os.Getpid()) }

// listenersSpec: what a small machine has on loopback: a web app on
// 127.0.0.1, a database on ::1, a server on all addresses, a DNS stub.
const listenersSpec = "tcp:127.0.0.1:8080,tcp:[::1]:5432,tcp:0.0.0.0:2222,udp:127.0.0.53:53,tcp:127.0.0.53:53"

func netSuite(r *runner, rep *report) {
	ns := newNetns(nsName("net"))
	if err := quiet("ip", "-n", ns, "addr", "add", "127.0.0.53/8", "dev", "lo"); err != nil {
		fail("%v", err)
	}
	hold(ns, "-listen", listenersSpec)

	rep.printf("## Network: loops net vs ip, ifconfig, ss\n\n")
	rep.printf("In a fresh network namespace (lo up, 127.0.0.1, 127.0.0.53, ::1; TCP listeners on 127.0.0.1:8080, [::1]:5432, 0.0.0.0:2222, 127.0.0.53:53 and UDP 127.0.0.53:53, held by one helper process), every command started inside it (see Method). %d rounds.\n\n", runs)

	status := sd(true, loopsCmd("net", "status"))
	inNetns(ns, func() {
		// The commands started here see the namespace, not the host.
		if out := r.once(nil, cmd("ss", "-Hltn")); !strings.Contains(out, ":8080") || strings.Count(out, "LISTEN") != 4 {
			fail("the namespace's listeners are not what ss sees from its thread: %q", out)
		}
		res := r.measure(runs, warmup, status, sd(false, cmd("ip", "-s", "addr", "show", "lo")), sd(false, cmd("ifconfig", "lo")))
		rep.table("net", "lo status", "", res)

		three := sd(false, cmd("ip", "-s", "link", "show", "lo"), cmd("ip", "addr", "show", "lo"), cmd("ss", "-ltnp")).labelled("ip -s link; ip addr; ss -ltnp")
		res = r.measure(runs, warmup, status, three)
		rep.table("net", "the three commands a user types today, or one",
			"The three are run as three execs and summed per round (no shell).", res)

		res = r.measure(runs, warmup, sd(true, loopsCmd("net", "listeners")), sd(false, cmd("ss", "-ltnp")), sd(false, cmd("ss", "-ltnup")))
		rep.table("net", "listeners", "`ss -ltnup` lists UDP too, as loops does.", res)

		res = r.measure(runs, warmup, sd(true, loopsCmd("--help")), sd(false, cmd("ip", "-V")), sd(false, cmd("ss", "-V")), sd(false, cmd("true")))
		rep.table("", "start-up floor: a command that reads nothing",
			"What starting each program costs on this machine (a static Go binary of several MiB against small C programs linked to libc; page faults are what costs most here). Part of every loops row above and below.", res)

		res = r.measure(runs, warmup, sd(true, loopsCmd("net", "check").allow(1)))
		rep.table("", "the doctor: `loops net check`, total time",
			"Real round trips on 127.0.0.1, ::1 and 127.0.0.2, the hosts file, name resolution order; there is no single classic command to compare it with.", res)
	})
	res := r.measure(runs, warmup, sd(true, loopsCmd("net", "--netns", ns, "status")).named("loops net --netns NS status"),
		sd(false, cmd("ip", "-n", ns, "-s", "addr", "show", "lo")).named("ip -n NS -s addr show lo"))
	rep.table("net", "lo status from outside the namespace",
		"Started in the host namespace; `loops --netns` and `ip -n` switch to the namespace by themselves.", res)
}

// twoStates measures the same sides in two states of a namespace and
// writes one table: a row per side, a column per state.
func (rep *report) twoStates(title, note string, states [2]string, res [2][]*series) {
	rep.printf("### %s\n\n%s\n\n", title, note)
	rep.printf("| command | %s: median (p10–p90) ms | %s: median (p10–p90) ms | growth |\n|:---|---:|---:|---:|\n", states[0], states[1])
	for i := range res[0] {
		a, b := res[0][i], res[1][i]
		rep.printf("| `%s` | %s (%s–%s) | %s (%s–%s) | %.2f× |\n", a.name,
			ms(a.median()), ms(quantile(a.d, 0.1)), ms(quantile(a.d, 0.9)),
			ms(b.median()), ms(quantile(b.d, 0.1)), ms(quantile(b.d, 0.9)), ratio(b.median(), a.median()))
	}
	rep.printf("\n")
	for i := 1; i < len(res[1]); i++ {
		if res[1][0].loops && !res[1][i].loops && !res[1][i].ref {
			rep.summary = append(rep.summary, sumRow{"scale", title + ", " + states[1], res[1][0].label, res[1][i].label, res[1][0].median(), res[1][i].median()})
		}
	}
}

func scaleAddrs(r *runner, rep *report) {
	ns := newNetns(nsName("addrs"))
	sides := []side{sd(true, loopsCmd("net", "status")), sd(false, cmd("ip", "-s", "addr", "show", "lo"))}
	var res [2][]*series
	inNetns(ns, func() { res[0] = r.measure(runs, warmup, sides...) })
	batch := filepath.Join(workDir, "addrs.batch")
	var b strings.Builder
	for i := 1; i <= 254; i++ {
		fmt.Fprintf(&b, "addr add 127.1.0.%d/8 dev lo\n", i)
	}
	os.WriteFile(batch, []byte(b.String()), 0o644)
	if err := quiet("ip", "-n", ns, "-batch", batch); err != nil {
		fail("%v", err)
	}
	inNetns(ns, func() { res[1] = r.measure(runs, warmup, sides...) })
	rep.twoStates("256 addresses on lo", fmt.Sprintf("A fresh namespace: lo with its 2 addresses (127.0.0.1, ::1), then with 254 more (127.1.0.1–254/8), 256 in all. %d rounds each, alternating.", runs),
		[2]string{"2 addresses", "256 addresses"}, res)
}

func scaleConns(r *runner, rep *report) {
	const conns = 10000
	ns := newNetns(nsName("conns"))
	hold(ns, "-listen", listenersSpec)
	test := filepath.Join(workDir, "netloop.test")
	c := exec.Command(goBin, "test", "-c", "-o", test, "./netloop")
	c.Dir = repoDir
	if out, err := c.CombinedOutput(); err != nil {
		fail("go test -c ./netloop: %v: %s", err, out)
	}
	goBench := step{argv: []string{test, "-test.run", "^$", "-test.bench", "^(BenchmarkListeners|BenchmarkSocketDiagAllStates)$", "-test.benchtime", fmt.Sprintf("%dx", max(20, runs*5))}}
	sides := []side{sd(true, loopsCmd("net", "listeners")), sd(false, cmd("ss", "-ltnp")), sd(false, cmd("ss", "-ltn")).reference()}
	var res [2][]*series
	var gob [2]map[string]string
	inNetns(ns, func() {
		res[0] = r.measure(runs, warmup, sides...)
		gob[0] = parseBench(r.once(nil, goBench))
	})
	h := holdConns(ns, conns)
	est := 0
	inNetns(ns, func() {
		out := r.once(nil, cmd("ss", "-Htn", "state", "established"))
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) != "" {
				est++
			}
		}
		res[1] = r.measure(runs, warmup, sides...)
		gob[1] = parseBench(r.once(nil, goBench))
	})
	h()
	rep.twoStates(fmt.Sprintf("listeners with %d established connections", conns),
		fmt.Sprintf("A fresh namespace with the 5 listeners of the net section, then also %d established TCP connections on 127.0.0.1 (%d sockets in state ESTABLISHED seen by `ss`: both ends), held by two more helper processes (one accepts, one dials). %d rounds each. `loops net listeners` asks sock_diag for LISTEN (TCP) and unconnected (UDP) sockets only, so the kernel does not walk the connections; `ss -l` also sends a state filter. Both `loops` and `ss -p` find each socket's process by reading every `/proc/PID/fd`, and the helpers holding the connections have %d descriptors: that part grows for both (`ss -ltn`, without processes, shows the rest).", conns, est, runs, 2*conns),
		[2]string{"0 connections", fmt.Sprintf("%d connections", conns)}, res)
	rep.printf("In process, the same namespace (netloop's Go benchmarks, ns/op; `BenchmarkListeners` is the LISTEN-only request of `loops net listeners`, both families, without owners; `BenchmarkSocketDiagAllStates` is what asking for all states, as vishvananda/netlink's `SocketDiagTCP` does, costs for the same answer):\n\n")
	rep.printf("| benchmark | 0 connections ns/op | %d connections ns/op | growth |\n|:---|---:|---:|---:|\n", conns)
	for _, name := range []string{"BenchmarkListeners", "BenchmarkSocketDiagAllStates"} {
		a, b := gob[0][name], gob[1][name]
		var fa, fb float64
		fmt.Sscan(a, &fa)
		fmt.Sscan(b, &fb)
		g := ""
		if fa > 0 {
			g = fmt.Sprintf("%.2f×", fb/fa)
		}
		rep.printf("| %s | %s | %s | %s |\n", name, a, b, g)
	}
	rep.printf("\n")
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
