package main

import (
	"fmt"

	"github.com/loops-cli/loops/cmd/loops-bench/internal/bench"
)

// micSuite: `loops audio mic on` + `off` against the pactl commands a user
// types for the same virtual microphone, and the delay the mic path adds.
func (h *harness) micSuite() error {
	h.rep.Printf("## Virtual microphone: loops audio mic vs pactl\n\n")
	h.rep.Printf("On a private PulseAudio and a private PipeWire started for the run, each with two null sinks a and b. The mic is fed from sink a: `loops audio mic on --from a` loads a null sink, a remap source of its monitor and a loopback a.monitor → the null sink; the pactl side types the same three `pactl load-module` commands, then the three `pactl unload-module N` with the numbers they printed. %d rounds.\n\n", h.runs)
	for _, srv := range []struct {
		name  string
		start func() ([]string, error)
	}{{"PulseAudio", h.startPulse}, {"PipeWire", h.startPipewire}} {
		env, err := srv.start()
		if err != nil {
			return err
		}
		srvEnv := envDiff(env)
		on := h.loopsCmd("audio", "mic", "on", "--from", "a")
		off := h.loopsCmd("audio", "mic", "off")
		pactl := func(args ...string) bench.Step { return cmd(append([]string{"pactl"}, args...)...) }
		sides := []bench.ActSide{
			{Name: "loops audio mic on --from a; loops audio mic off", Label: "loops audio mic on; off", Loops: true, Env: srvEnv,
				Timed: []bench.Act{bench.Exec(on), bench.Exec(off)}},
			{Name: "pactl load-module module-null-sink, module-remap-source, module-loopback; pactl unload-module N ×3",
				Label: "pactl load-module ×3; unload-module ×3", Env: srvEnv,
				Timed: []bench.Act{
					{Step: pactl("load-module", "module-null-sink", "sink_name=mic_feed"), Save: "feed"},
					{Step: pactl("load-module", "module-remap-source", "master=mic_feed.monitor", "source_name=mic"), Save: "src"},
					{Step: pactl("load-module", "module-loopback", "source=a.monitor", "sink=mic_feed", "latency_msec=50"), Save: "lb"},
					bench.Exec(pactl("unload-module", "{lb}")),
					bench.Exec(pactl("unload-module", "{src}")),
					bench.Exec(pactl("unload-module", "{feed}")),
				}},
		}
		total, _, _, err := h.r.MeasureActs(h.runs, h.warmup, sides)
		if err != nil {
			return err
		}
		h.rep.Table("mic", srv.name+": virtual mic on + off", "loops also checks the feedback guard, keeps `on` idempotent and re-reads each module before unloading it.", total)

		reps := max(1, h.runs/13)
		h.rep.Printf("### %s: the delay the mic path adds\n\n", srv.name)
		h.rep.Printf("`loops audio mic on --from a --latency L`, then `loops audio measure --source loops-mic --sink a --json` (chirps played into a, found by cross-correlation at a.monitor and at the mic: the path a.monitor → loopback → null sink → remap source), then `loops audio mic off`; %d measurement(s) per latency, median of their `delay_ms`.\n\n", reps)
		if err := h.delayTable(srvEnv, "| loopback latency | mic delay, median ms | all measurements ms |", []int{20, 50}, reps,
			func(lat int) bench.Step {
				return h.loopsCmd("audio", "mic", "on", "--from", "a", "--latency", fmt.Sprintf("%dms", lat))
			},
			h.loopsCmd("audio", "measure", "--source", "loops-mic", "--sink", "a", "--json"), off); err != nil {
			return err
		}
		h.rep.Printf("\n")
	}
	return nil
}
