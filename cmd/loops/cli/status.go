package cli

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/loops-cli/loops/audioloop"
	"github.com/loops-cli/loops/netloop"
)

// The overview (`loops` alone) and `loops status` gather the three
// loopbacks side by side. Each section is read on its own goroutine and
// degrades on its own: a missing sound server or a permission error fills
// that section's "error" and never fails the others.

// statusJSON is the --json document of `loops status`.
type statusJSON struct {
	Schema int              `json:"schema"`
	Net    netSectionJSON   `json:"net"`
	Block  blockSectionJSON `json:"block"`
	Audio  audioSectionJSON `json:"audio"`
}

type netSectionJSON struct {
	Up           bool     `json:"up"`
	Addresses    []string `json:"addresses"`
	LoopbackOnly int      `json:"listeners_loopback_only"`
	Wildcard     int      `json:"listeners_wildcard"`
	Error        string   `json:"error,omitempty"`
}

type blockSectionJSON struct {
	Devices []blockDeviceJSON `json:"devices"`
	Mounts  int               `json:"mounts"`
	Error   string            `json:"error,omitempty"`
}

type blockDeviceJSON struct {
	Device      string   `json:"device"` // /dev/loopN, or "" for a userspace mount
	Image       string   `json:"image"`
	FSType      string   `json:"fstype,omitempty"`
	Mountpoints []string `json:"mountpoints"`
}

type audioSectionJSON struct {
	Server        string              `json:"server,omitempty"` // "PulseAudio", "PipeWire"
	Address       string              `json:"address,omitempty"`
	DefaultSource string              `json:"default_source,omitempty"`
	DefaultSink   string              `json:"default_sink,omitempty"`
	Loopbacks     []audioLoopbackJSON `json:"loopbacks"`
	Error         string              `json:"error,omitempty"`
}

type audioLoopbackJSON struct {
	Module  uint32 `json:"module"`
	Source  string `json:"source"`
	Sink    string `json:"sink"`
	Latency int    `json:"latency_msec"`
	Loops   bool   `json:"loops"`
	State   string `json:"state"`
}

// gatherStatus reads the three sections at once; audioTimeout bounds the
// sound server's part.
func gatherStatus(audioOpts audioloop.Options) statusJSON {
	doc := statusJSON{Schema: schemaVersion}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); doc.Net = netSection() }()
	go func() { defer wg.Done(); doc.Block = blockSection() }()
	go func() { defer wg.Done(); doc.Audio = audioSection(audioOpts) }()
	wg.Wait()
	return doc
}

func netSection() netSectionJSON {
	s := netSectionJSON{Addresses: []string{}}
	c, err := netloop.Open(netloop.Target{})
	if err != nil {
		s.Error = err.Error()
		return s
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		s.Error = err.Error()
		return s
	}
	s.Up = st.Up
	for _, a := range st.Addrs {
		s.Addresses = append(s.Addresses, a.Prefix.String())
	}
	if ls, err := c.Listeners(netloop.ListenerOptions{UDP: true}); err == nil {
		for _, l := range ls {
			if l.LoopbackOnly() {
				s.LoopbackOnly++
			} else {
				s.Wildcard++
			}
		}
	}
	return s
}

func blockSection() blockSectionJSON {
	s := blockSectionJSON{Devices: []blockDeviceJSON{}}
	h := blockHost()
	devs, err := h.List()
	if err != nil {
		s.Error = err.Error()
		if errors.Is(err, fs.ErrPermission) {
			s.Error += " (loop devices need root to inspect fully)"
		}
	}
	for _, d := range devs {
		j := blockDeviceJSON{Device: d.Path, Image: d.BackingFile, FSType: d.FSType, Mountpoints: d.Mountpoints}
		if j.Mountpoints == nil {
			j.Mountpoints = []string{}
		}
		s.Mounts += len(d.Mountpoints)
		s.Devices = append(s.Devices, j)
	}
	if ms, err := h.UserspaceMounts(); err == nil {
		for _, m := range ms {
			s.Mounts++
			s.Devices = append(s.Devices, blockDeviceJSON{Image: m.Source, FSType: m.FSType, Mountpoints: []string{m.Mountpoint}})
		}
	}
	return s
}

func audioSection(opts audioloop.Options) audioSectionJSON {
	s := audioSectionJSON{Loopbacks: []audioLoopbackJSON{}}
	c, err := audioloop.Connect(opts)
	if err != nil {
		var ns *audioloop.NoServerError
		if errors.As(err, &ns) && len(ns.Tried) > 0 {
			s.Error = "none at " + strings.Join(ns.Tried, ", ")
		} else {
			s.Error = oneLine(err)
		}
		return s
	}
	defer c.Close()
	s.Address = c.Addr()
	if info, err := c.ServerInfo(); err == nil {
		s.Server, s.DefaultSource, s.DefaultSink = info.Kind, info.DefaultSource, info.DefaultSink
	}
	lbs, err := c.Loopbacks()
	if err != nil {
		s.Error = oneLine(err)
		return s
	}
	for _, l := range lbs {
		s.Loopbacks = append(s.Loopbacks, audioLoopbackJSON{
			Module: l.Module, Source: firstNonEmpty(l.Source, l.ArgSource), Sink: firstNonEmpty(l.Sink, l.ArgSink),
			Latency: l.LatencyMsec, Loops: l.Loops, State: l.State,
		})
	}
	return s
}

func oneLine(err error) string {
	s := err.Error()
	if i := strings.IndexByte(s, '\n'); i >= 0 {
		s = s[:i]
	}
	return s
}

func firstNonEmpty(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// netLine, blockLine and audioLine are the one-line states of the overview.
func netLine(s netSectionJSON) string {
	switch {
	case s.Error != "":
		return "unknown: " + s.Error
	case !s.Up:
		return "lo is DOWN: connections to 127.0.0.1 hang (sudo loops net up)"
	}
	return fmt.Sprintf("lo is up with %s; %d service(s) listen on loopback only",
		plural(len(s.Addresses), "address", "addresses"), s.LoopbackOnly)
}

func blockLine(s blockSectionJSON) string {
	if s.Error != "" && len(s.Devices) == 0 {
		return "unknown: " + s.Error
	}
	attached := 0
	for _, d := range s.Devices {
		if d.Device != "" {
			attached++
		}
	}
	return fmt.Sprintf("%s mounted; %s attached", plural(s.Mounts, "image", "images"), plural(attached, "loop device", "loop devices"))
}

func audioLine(s audioSectionJSON) string {
	if s.Error != "" {
		return "no sound server reachable (" + s.Error + "); 'loops audio status' says more"
	}
	mine, others := 0, 0
	for _, l := range s.Loopbacks {
		if l.Loops {
			mine++
		} else {
			others++
		}
	}
	state := "audio loopback off"
	if mine+others > 0 {
		state = fmt.Sprintf("audio loopback on (%s, %d of them loops')", plural(mine+others, "loopback", "loopbacks"), mine)
	}
	return fmt.Sprintf("%s on %s", state, s.Server)
}

func plural(n int, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// overviewAudioTimeout keeps `loops` fast when no sound server answers.
const overviewAudioTimeout = 300 * time.Millisecond

// overviewRun is `loops` with no arguments.
func overviewRun(io *IOStreams) error {
	doc := gatherStatus(audioloop.Options{Timeout: overviewAudioTimeout})
	w := io.Out
	fmt.Fprintln(w, `loops: the three Linux loopbacks, kept apart ('loops explain' tells them apart)`)
	block := func(name, what, state string, next ...string) {
		fmt.Fprintf(w, "\n%-6s %s\n", name, what)
		fmt.Fprintf(w, "       now: %s\n", state)
		fmt.Fprintf(w, "       try: %s\n", strings.Join(next, "   "))
	}
	block("net", "the network interface lo: 127.0.0.1, ::1, localhost", netLine(doc.Net),
		"loops net status", "loops net check", "loops net listeners")
	block("block", "loop devices: an image file (.iso, .img) mounted as a disk", blockLine(doc.Block),
		"sudo loops mount IMAGE", "loops block list", "loops block probe IMAGE")
	block("audio", "the sound server's loopback: a source echoed to a sink", audioLine(doc.Audio),
		"loops audio status", "loops audio on", "loops audio sources")
	return nil
}

type statusOptions struct {
	IO    *IOStreams
	Audio audioloop.Options
	JSON  bool
}

func newStatusCmd(f *Factory, runF func(*statusOptions) error) *cobra.Command {
	opts := &statusOptions{IO: f.IO}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the three loopbacks together: lo, loop devices, audio loopbacks",
		Long: `Show the state of the three loopbacks at once: the network interface lo,
the loop devices and mounted images, and the sound server's loopbacks.
Each part is read on its own: no sound server, or no permission to see loop
devices, is reported in its section and does not fail the others.
Needs no privilege.`,
		Example: "  $ loops status\n  $ loops status --json",
		Args:    exactArgs(0, "no arguments"),
		RunE: func(cmd *cobra.Command, args []string) error {
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Audio.Server, "server", "", "the sound `server` to ask (as loops audio --server)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	return cmd
}

func statusRun(opts *statusOptions) error {
	doc := gatherStatus(opts.Audio)
	if opts.JSON {
		return writeJSON(opts.IO.Out, doc)
	}
	io := opts.IO
	if !io.IsTerminal() {
		t := newTable(io)
		n := doc.Net
		t.add("net", boolWord(n.Up), strings.Join(n.Addresses, ","), fmt.Sprint(n.LoopbackOnly), n.Error)
		for _, d := range doc.Block.Devices {
			t.add("block", dash(d.Device), d.Image, dash(d.FSType), strings.Join(d.Mountpoints, ","))
		}
		if doc.Block.Error != "" {
			t.add("block", "error", doc.Block.Error)
		}
		for _, l := range doc.Audio.Loopbacks {
			t.add("audio", fmt.Sprint(l.Module), l.Source, l.Sink, fmt.Sprint(l.Latency), boolWord(l.Loops), l.State)
		}
		if doc.Audio.Error != "" {
			t.add("audio", "error", doc.Audio.Error)
		}
		return t.render()
	}
	w := io.Out
	fmt.Fprintln(w, "NET    network interface lo")
	fmt.Fprintf(w, "       %s\n", netLine(doc.Net))
	if len(doc.Net.Addresses) > 0 {
		fmt.Fprintf(w, "       addresses: %s\n", strings.Join(doc.Net.Addresses, ", "))
	}
	fmt.Fprintln(w, "\nBLOCK  loop devices and mounted images")
	fmt.Fprintf(w, "       %s\n", blockLine(doc.Block))
	if len(doc.Block.Devices) > 0 {
		t := newTable(io, "       DEVICE", "IMAGE", "TYPE", "MOUNTED AT")
		for _, d := range doc.Block.Devices {
			dev := d.Device
			if dev == "" {
				dev = "(userspace)"
			}
			t.add("       "+dev, d.Image, dash(d.FSType), dash(strings.Join(d.Mountpoints, ", ")))
		}
		t.render()
	}
	fmt.Fprintln(w, "\nAUDIO  sound server loopbacks")
	fmt.Fprintf(w, "       %s\n", audioLine(doc.Audio))
	if len(doc.Audio.Loopbacks) > 0 {
		t := newTable(io, "       MODULE", "SOURCE", "SINK", "LATENCY", "BY", "STATE")
		for _, l := range doc.Audio.Loopbacks {
			by := "other"
			if l.Loops {
				by = "loops"
			}
			lat := "default"
			if l.Latency > 0 {
				lat = fmt.Sprintf("%d ms", l.Latency)
			}
			t.add(fmt.Sprintf("       %d", l.Module), l.Source, l.Sink, lat, by, l.State)
		}
		t.render()
	}
	return nil
}
