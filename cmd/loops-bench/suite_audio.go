package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
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

// writeFiles writes each path (its directory made) with its text.
func writeFiles(files map[string]string) error {
	for path, text := range files {
		os.MkdirAll(filepath.Dir(path), 0o755)
		if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
			return err
		}
	}
	return nil
}

func waitServer(env []string, what string) error {
	pactl, err := toolPath("pactl")
	if err != nil {
		return err
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		c := exec.Command(pactl, "info")
		c.Env = env
		if c.Run() == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within 20 s (logs in the work directory)", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// soundDirs makes a private sound server's directories under dir.
func soundDirs(dir string) error {
	if err := mkdirs(filepath.Join(dir, "run"), filepath.Join(dir, "home"), filepath.Join(dir, "state")); err != nil {
		return err
	}
	return os.Chmod(filepath.Join(dir, "run"), 0o700)
}

// startPulse starts a private PulseAudio with null sinks a and b (as
// docs/bench-audio.sh did) and returns its clients' environment.
func (h *harness) startPulse() ([]string, error) {
	dir := filepath.Join(h.work, "pa")
	if err := soundDirs(dir); err != nil {
		return nil, err
	}
	if err := writeFiles(map[string]string{filepath.Join(dir, "config/pulse/client.conf"): "autospawn = no\n"}); err != nil {
		return nil, err
	}
	env := soundEnv(dir)
	pulseaudio, err := toolPath("pulseaudio")
	if err != nil {
		return nil, err
	}
	if err := h.daemon(env, "pa.log", pulseaudio, "-n", "--daemonize=no", "--exit-idle-time=-1", "--use-pid-file=no",
		"--load=module-native-protocol-unix", "--load=module-null-sink sink_name=a", "--load=module-null-sink sink_name=b"); err != nil {
		return nil, err
	}
	return env, waitServer(env, "PulseAudio")
}

// startPipewire starts a private PipeWire, WirePlumber (headless) and
// pipewire-pulse, and loads null sinks a and b.
func (h *harness) startPipewire() ([]string, error) {
	dir := filepath.Join(h.work, "pw")
	if err := soundDirs(dir); err != nil {
		return nil, err
	}
	if err := writeFiles(map[string]string{
		filepath.Join(dir, "config/wireplumber/main.lua.d/51-headless.lua"):      "alsa_monitor.enabled = false\ndefault_access.properties[\"enable-flatpak-portal\"] = false\n",
		filepath.Join(dir, "config/wireplumber/bluetooth.lua.d/51-headless.lua"): "bluez_monitor.enabled = false\n",
		filepath.Join(dir, "config/pulse/client.conf"):                           "autospawn = no\n",
	}); err != nil {
		return nil, err
	}
	env := soundEnv(dir)
	bins := map[string]string{}
	for _, name := range []string{"pipewire", "wireplumber", "pipewire-pulse", "pactl"} {
		p, err := toolPath(name)
		if err != nil {
			return nil, err
		}
		bins[name] = p
	}
	if err := h.daemon(env, "pipewire.log", bins["pipewire"]); err != nil {
		return nil, err
	}
	sock := filepath.Join(dir, "run", "pipewire-0")
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if _, err := os.Stat(sock); err == nil {
			break
		}
		if time.Now().After(deadline) {
			return nil, fmt.Errorf("pipewire did not make %s within 20 s", sock)
		}
	}
	if err := h.daemon(env, "wireplumber.log", bins["wireplumber"]); err != nil {
		return nil, err
	}
	if err := h.daemon(env, "pipewire-pulse.log", bins["pipewire-pulse"]); err != nil {
		return nil, err
	}
	if err := waitServer(env, "pipewire-pulse"); err != nil {
		return nil, err
	}
	for _, s := range []string{"a", "b"} {
		c := exec.Command(bins["pactl"], "load-module", "module-null-sink", "sink_name="+s)
		c.Env = env
		if out, err := c.CombinedOutput(); err != nil {
			return nil, fmt.Errorf("null sink %s on PipeWire: %v: %s", s, err, out)
		}
	}
	// WirePlumber links streams to the sinks once it has seen them.
	time.Sleep(500 * time.Millisecond)
	return env, nil
}

// toolPath is the path of an installed tool.
func toolPath(name string) (string, error) {
	p, err := exec.LookPath(name)
	if err != nil {
		return "", fmt.Errorf("%s not found (make deps)", name)
	}
	return p, nil
}

func (h *harness) audioSuite() error {
	h.rep.Printf("## Audio: loops audio vs pactl (module-loopback)\n\n")
	h.rep.Printf("On a private PulseAudio and a private PipeWire (pipewire-pulse, WirePlumber without ALSA or Bluetooth) started for the run, each with two null sinks a and b; the loopback is a.monitor → b. %d rounds.\n\n", h.runs)
	for _, srv := range []struct {
		name  string
		start func() ([]string, error)
	}{{"PulseAudio", h.startPulse}, {"PipeWire", h.startPipewire}} {
		env, err := srv.start()
		if err != nil {
			return err
		}
		srvEnv := envDiff(env)
		on := h.loopsCmd("audio", "on", "--source", "a.monitor", "--sink", "b", "--latency", "50ms")
		off := h.loopsCmd("audio", "off")
		if err := h.table("audio", srv.name+": loopback on + off", "",
			h.sd(true, on, off).With(srvEnv...).Named("loops audio on --source a.monitor --sink b --latency 50ms; loops audio off").Labelled("loops audio on; off"),
			h.sd(false, cmd("pactl", "load-module", "module-loopback", "source=a.monitor", "sink=b", "latency_msec=50"), cmd("pactl", "unload-module", "{out}")).With(srvEnv...).Named("pactl load-module module-loopback source=a.monitor sink=b latency_msec=50; pactl unload-module N").Labelled("pactl load-module; unload-module")); err != nil {
			return err
		}

		if _, err := h.r.Once(srvEnv, on); err != nil {
			return err
		}
		res, err := h.measure(h.sd(true, h.loopsCmd("audio", "status")).With(srvEnv...), h.sd(false, cmd("pactl", "list", "modules", "short")).With(srvEnv...), h.sd(false, cmd("pactl", "list", "modules")).With(srvEnv...))
		if _, oerr := h.r.Once(srvEnv, off); err == nil {
			err = oerr
		}
		if err != nil {
			return err
		}
		h.rep.Table("audio", srv.name+": status with one loopback on", "`loops audio status` also shows the server, its defaults and each loopback's real route.", res)

		reps := max(1, h.runs/13)
		h.rep.Printf("### %s: measured loopback latency\n\n", srv.name)
		h.rep.Printf("`loops audio on --source a.monitor --sink b --latency L`, then `loops audio measure --source a.monitor --sink b --json` (chirps played into a, found by cross-correlation at a.monitor and at b.monitor), then `loops audio off`; %d measurement(s) per latency, median of their `delay_ms`.\n\n", reps)
		if err := h.delayTable(srvEnv, "| requested | measured median ms | all measurements ms |", []int{20, 50, 200}, reps,
			func(lat int) bench.Step {
				return h.loopsCmd("audio", "on", "--source", "a.monitor", "--sink", "b", "--latency", fmt.Sprintf("%dms", lat))
			},
			h.loopsCmd("audio", "measure", "--source", "a.monitor", "--sink", "b", "--json"), off); err != nil {
			return err
		}
		h.rep.Printf("\n")
	}
	return nil
}

// delayTable writes a table row per latency: reps times on(lat), measure
// (a `loops audio measure --json`) and off, the median and every delay_ms.
func (h *harness) delayTable(env []string, header string, lats []int, reps int, on func(lat int) bench.Step, measure, off bench.Step) error {
	h.rep.Printf("%s\n|---:|---:|:---|\n", header)
	for _, lat := range lats {
		var got []time.Duration
		var all []string
		for range reps {
			if _, err := h.r.Once(env, on(lat)); err != nil {
				return err
			}
			out, err := h.r.Once(env, measure)
			if _, oerr := h.r.Once(env, off); err == nil {
				err = oerr
			}
			if err != nil {
				return err
			}
			var m struct {
				DelayMs float64 `json:"delay_ms"`
				Missing int     `json:"missing"`
			}
			if err := json.Unmarshal([]byte(out), &m); err != nil {
				return fmt.Errorf("loops audio measure --json: %v: %q", err, out)
			}
			got = append(got, time.Duration(m.DelayMs*float64(time.Millisecond)))
			s := fmt.Sprintf("%.1f", m.DelayMs)
			if m.Missing > 0 {
				s += fmt.Sprintf(" (%d chirps missing)", m.Missing)
			}
			all = append(all, s)
		}
		h.rep.Printf("| %d ms | %.1f | %s |\n", lat, float64(bench.Quantile(got, 0.5))/float64(time.Millisecond), strings.Join(all, ", "))
	}
	return nil
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
func (h *harness) statusSuite() error {
	penv, err := h.startPulse()
	if err != nil {
		return err
	}
	env := envDiff(penv)
	none := append(append([]string{}, env...), "PULSE_SERVER=unix:"+filepath.Join(h.work, "no-such-server", "native"))
	h.rep.Printf("## `loops` and `loops status`, end to end\n\n")
	h.rep.Printf("The overview (`loops`) and `loops status` read lo, the loop devices and the sound server's loopbacks; the classic equivalent is three commands, timed as three execs summed. \"no server\": `PULSE_SERVER` names a socket that does not exist. %d rounds.\n\n", h.runs)
	three := func() bench.Side {
		return h.sd(false, cmd("ip", "addr", "show", "lo"), cmd("losetup", "-a"), cmd("pactl", "list", "modules", "short").Allow(1))
	}
	for _, c := range []struct {
		name string
		env  []string
	}{{"with PulseAudio running", env}, {"with no sound server reachable", none}} {
		res, err := h.measure(
			h.sd(true, h.loopsCmd()).Named("loops").With(c.env...),
			h.sd(true, h.loopsCmd("status")).With(c.env...),
			three().With(c.env...).Labelled("ip addr; losetup -a; pactl list modules short"))
		if err != nil {
			return err
		}
		h.rep.Table("status", "`loops` and `loops status`, "+c.name, "", res)
		// The summary compares loops status (the second loops row) too.
		h.rep.AddSummary(bench.SummaryRow{Area: "status", What: "`loops status`, " + c.name, Loops: res[1].Label, Other: res[2].Label, L: res[1].Median(), O: res[2].Median()})
	}
	return nil
}
