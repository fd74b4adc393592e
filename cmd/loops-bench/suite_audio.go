package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// soundEnv is the environment of a private sound server: its own runtime
// directory, home and configuration, no session bus, no inherited server.
func soundEnv(dir string, extra ...string) []string {
	var env []string
	for _, kv := range os.Environ() {
		k, _, _ := strings.Cut(kv, "=")
		switch {
		case strings.HasPrefix(k, "PULSE_"), strings.HasPrefix(k, "XDG_"), strings.HasPrefix(k, "SUDO_"),
			k == "HOME", k == "DBUS_SESSION_BUS_ADDRESS", k == "PIPEWIRE_REMOTE":
			continue
		}
		env = append(env, kv)
	}
	return append(env, append([]string{"XDG_RUNTIME_DIR=" + dir + "/run", "HOME=" + dir + "/home", "XDG_CONFIG_HOME=" + dir + "/config", "XDG_STATE_HOME=" + dir + "/state"}, extra...)...)
}

func writeFile(path, text string) {
	os.MkdirAll(filepath.Dir(path), 0o755)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		fail("%v", err)
	}
}

func waitServer(env []string, what string) {
	pactl, err := exec.LookPath("pactl")
	if err != nil {
		fail("pactl not found (make deps)")
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := exec.Command(pactl, "info")
		c.Env = env
		if c.Run() == nil {
			return
		}
		if time.Now().After(deadline) {
			fail("%s did not answer within 20 s (logs in the work directory)", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// startPulse starts a private PulseAudio with null sinks a and b (as
// docs/bench-audio.sh did) and returns its clients' environment.
func startPulse() []string {
	dir := mkdir(filepath.Join(workDir, "pa"))
	for _, d := range []string{"run", "home", "state"} {
		mkdir(filepath.Join(dir, d))
	}
	os.Chmod(filepath.Join(dir, "run"), 0o700)
	writeFile(filepath.Join(dir, "config/pulse/client.conf"), "autospawn = no\n")
	env := soundEnv(dir)
	daemon(env, "pa.log", mustPath("pulseaudio"), "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
		"--load=module-native-protocol-unix", "--load=module-null-sink sink_name=a", "--load=module-null-sink sink_name=b")
	waitServer(env, "PulseAudio")
	return env
}

// startPipewire starts a private PipeWire, WirePlumber (headless) and
// pipewire-pulse, and loads null sinks a and b.
func startPipewire() []string {
	dir := mkdir(filepath.Join(workDir, "pw"))
	for _, d := range []string{"run", "home", "state"} {
		mkdir(filepath.Join(dir, d))
	}
	os.Chmod(filepath.Join(dir, "run"), 0o700)
	writeFile(filepath.Join(dir, "config/wireplumber/main.lua.d/51-headless.lua"),
		"alsa_monitor.enabled = false\ndefault_access.properties[\"enable-flatpak-portal\"] = false\n")
	writeFile(filepath.Join(dir, "config/wireplumber/bluetooth.lua.d/51-headless.lua"), "bluez_monitor.enabled = false\n")
	writeFile(filepath.Join(dir, "config/pulse/client.conf"), "autospawn = no\n")
	env := soundEnv(dir)
	daemon(env, "pipewire.log", mustPath("pipewire"))
	sock := filepath.Join(dir, "run", "pipewire-0")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			fail("pipewire did not make %s within 20 s", sock)
		}
	}
	daemon(env, "wireplumber.log", mustPath("wireplumber"))
	daemon(env, "pipewire-pulse.log", mustPath("pipewire-pulse"))
	waitServer(env, "pipewire-pulse")
	for _, s := range []string{"a", "b"} {
		c := exec.Command(mustPath("pactl"), "load-module", "module-null-sink", "sink_name="+s)
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			fail("null sink %s on PipeWire: %v: %s", s, err, out)
		}
	}
	// WirePlumber links streams to the sinks once it has seen them.
	time.Sleep(500 * time.Millisecond)
	return env
}

func mustPath(name string) string {
	p, err := exec.LookPath(name)
	if err != nil {
		fail("%s not found (make deps)", name)
	}
	return p
}

func audioSuite(r *runner, rep *report) {
	rep.printf("## Audio: loops audio vs pactl (module-loopback)\n\n")
	rep.printf("On a private PulseAudio and a private PipeWire (pipewire-pulse, WirePlumber without ALSA or Bluetooth) started for the run, each with two null sinks a and b; the loopback is a.monitor → b. %d rounds.\n\n", runs)
	for _, srv := range []struct {
		name  string
		start func() []string
	}{{"PulseAudio", startPulse}, {"PipeWire", startPipewire}} {
		env := srv.start()
		srvEnv := envDiff(env)
		on := loopsCmd("audio", "on", "--source", "a.monitor", "--sink", "b", "--latency", "50ms")
		off := loopsCmd("audio", "off")
		res := r.measure(runs, warmup,
			sd(true, on, off).with(srvEnv...).named("loops audio on --source a.monitor --sink b --latency 50ms; loops audio off").labelled("loops audio on; off"),
			sd(false, cmd("pactl", "load-module", "module-loopback", "source=a.monitor", "sink=b", "latency_msec=50"), cmd("pactl", "unload-module", "{out}")).with(srvEnv...).named("pactl load-module module-loopback source=a.monitor sink=b latency_msec=50; pactl unload-module N").labelled("pactl load-module; unload-module"))
		rep.table("audio", srv.name+": loopback on + off", "", res)

		r.once(srvEnv, on)
		res = r.measure(runs, warmup, sd(true, loopsCmd("audio", "status")).with(srvEnv...), sd(false, cmd("pactl", "list", "modules", "short")).with(srvEnv...), sd(false, cmd("pactl", "list", "modules")).with(srvEnv...))
		r.once(srvEnv, off)
		rep.table("audio", srv.name+": status with one loopback on", "`loops audio status` also shows the server, its defaults and each loopback's real route.", res)

		reps := max(1, runs/13)
		rep.printf("### %s: measured loopback latency\n\n", srv.name)
		rep.printf("`loops audio on --source a.monitor --sink b --latency L`, then `loops audio measure --source a.monitor --sink b --json` (chirps played into a, found by cross-correlation at a.monitor and at b.monitor), then `loops audio off`; %d measurement(s) per latency, median of their `delay_ms`.\n\n", reps)
		rep.printf("| requested | measured median ms | all measurements ms |\n|---:|---:|:---|\n")
		for _, lat := range []int{20, 50, 200} {
			var got []time.Duration
			var all []string
			for range reps {
				r.once(srvEnv, loopsCmd("audio", "on", "--source", "a.monitor", "--sink", "b", "--latency", fmt.Sprintf("%dms", lat)))
				out := r.once(srvEnv, loopsCmd("audio", "measure", "--source", "a.monitor", "--sink", "b", "--json"))
				r.once(srvEnv, off)
				var m struct {
					DelayMs float64 `json:"delay_ms"`
					Missing int     `json:"missing"`
				}
				if err := json.Unmarshal([]byte(out), &m); err != nil {
					fail("loops audio measure --json: %v: %q", err, out)
				}
				got = append(got, time.Duration(m.DelayMs*float64(time.Millisecond)))
				s := fmt.Sprintf("%.1f", m.DelayMs)
				if m.Missing > 0 {
					s += fmt.Sprintf(" (%d chirps missing)", m.Missing)
				}
				all = append(all, s)
			}
			rep.printf("| %d ms | %.1f | %s |\n", lat, float64(quantile(got, 0.5))/float64(time.Millisecond), strings.Join(all, ", "))
		}
		rep.printf("\n")
	}
}

// envDiff is what a server's environment sets, for side.env (which
// replaces the same variables of the base environment).
func envDiff(env []string) []string {
	base := map[string]string{}
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		base[k] = v
	}
	var d []string
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		if bv, ok := base[k]; !ok || bv != v {
			d = append(d, kv)
		}
	}
	// Unset what the server's environment dropped.
	keep := map[string]bool{}
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep[k] = true
	}
	for k := range base {
		if !keep[k] && (strings.HasPrefix(k, "PULSE_") || k == "DBUS_SESSION_BUS_ADDRESS" || k == "PIPEWIRE_REMOTE") {
			d = append(d, k) // no "=": unset
		}
	}
	return d
}

// statusSuite: `loops` and `loops status` end to end, with a sound server
// and with none reachable.
func statusSuite(r *runner, rep *report) {
	env := envDiff(startPulse())
	none := append(append([]string{}, env...), "PULSE_SERVER=unix:"+filepath.Join(workDir, "no-such-server", "native"))
	rep.printf("## `loops` and `loops status`, end to end\n\n")
	rep.printf("The overview (`loops`) and `loops status` read lo, the loop devices and the sound server's loopbacks; the classic equivalent is three commands, timed as three execs summed. \"no server\": `PULSE_SERVER` names a socket that does not exist. %d rounds.\n\n", runs)
	three := func() side {
		return sd(false, cmd("ip", "addr", "show", "lo"), cmd("losetup", "-a"), cmd("pactl", "list", "modules", "short").allow(1))
	}
	for _, c := range []struct {
		name string
		env  []string
	}{{"with PulseAudio running", env}, {"with no sound server reachable", none}} {
		res := r.measure(runs, warmup,
			sd(true, loopsCmd()).named("loops").with(c.env...),
			sd(true, loopsCmd("status")).with(c.env...),
			three().with(c.env...).labelled("ip addr; losetup -a; pactl list modules short"))
		rep.table("status", "`loops` and `loops status`, "+c.name, "", res)
		// The summary compares loops status (the second loops row) too.
		rep.summary = append(rep.summary, sumRow{"status", "`loops status`, " + c.name, res[1].label, res[2].label, res[1].median(), res[2].median()})
	}
}
