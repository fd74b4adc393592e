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

// statusJSON is the --json document of `loops status`: the documents of
// `loops net status`, `loops block list` and `loops audio status`, each
// with an "error" instead when its part could not be read.
type statusJSON struct {
	Schema int              `json:"schema"`
	Time   string           `json:"time,omitempty"` // --watch only
	Net    netSectionJSON   `json:"net"`
	Block  blockSectionJSON `json:"block"`
	Audio  audioSectionJSON `json:"audio"`
}

type netSectionJSON struct {
	*netStatusJSON
	Error string `json:"error,omitempty"`
}

type blockSectionJSON struct {
	*blockListJSON
	Error string `json:"error,omitempty"`
}

type audioSectionJSON struct {
	*audioStatusJSON
	Error string `json:"error,omitempty"`
}

// gatherStatus reads the three sections at once.
func gatherStatus(f *Factory, audioOpts audioloop.Options) statusJSON {
	doc := statusJSON{Schema: schemaVersion}
	var wg sync.WaitGroup
	wg.Add(3)
	go func() { defer wg.Done(); doc.Net = netSection(f) }()
	go func() { defer wg.Done(); doc.Block = blockSection(f) }()
	go func() { defer wg.Done(); doc.Audio = audioSection(f, audioOpts) }()
	wg.Wait()
	return doc
}

func netSection(f *Factory) netSectionJSON {
	c, err := f.Net(netloop.Target{})
	if err != nil {
		return netSectionJSON{Error: err.Error()}
	}
	defer c.Close()
	st, err := c.Status()
	if err != nil {
		return netSectionJSON{Error: err.Error()}
	}
	sum := summarizeListeners(c)
	d := netStatusDoc(c.Target(), st, sum)
	d.Schema = 0
	return netSectionJSON{netStatusJSON: &d}
}

func blockSection(f *Factory) blockSectionJSON {
	h := f.Block()
	devs, err := h.List()
	if err != nil {
		msg := err.Error()
		if errors.Is(err, fs.ErrPermission) {
			msg += " (loop devices need root to inspect fully)"
		}
		return blockSectionJSON{Error: msg}
	}
	fuse, _ := h.UserspaceMounts()
	index, _ := h.IndexMounts()
	d := blockListDoc(devs, fuse, index)
	d.Schema = 0
	return blockSectionJSON{blockListJSON: &d}
}

func audioSection(f *Factory, opts audioloop.Options) audioSectionJSON {
	c, err := f.Audio(opts)
	if err != nil {
		var ns *audioloop.NoServerError
		if errors.As(err, &ns) && len(ns.Tried) > 0 {
			return audioSectionJSON{Error: "none at " + strings.Join(ns.Tried, ", ")}
		}
		return audioSectionJSON{Error: oneLine(err)}
	}
	defer c.Close()
	d, _, err := audioStatusDoc(c, opts)
	if err != nil {
		return audioSectionJSON{Error: oneLine(err)}
	}
	d.Schema = 0
	return audioSectionJSON{audioStatusJSON: &d}
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
		plural(len(s.AddrInfo), "address", "addresses"), s.Listeners.LoopbackOnly)
}

func blockLine(s blockSectionJSON) string {
	if s.Error != "" {
		return "unknown: " + s.Error
	}
	mounts := len(s.Userspace) + len(s.Index)
	for _, d := range s.LoopDevices {
		mounts += len(d.Mountpoints)
	}
	return fmt.Sprintf("%s mounted; %s attached", plural(mounts, "image", "images"), plural(len(s.LoopDevices), "loop device", "loop devices"))
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
	if n := len(s.Mics); n > 0 {
		var names []string
		for _, m := range s.Mics {
			names = append(names, m.Name+" from "+micFeeds(m))
		}
		state += fmt.Sprintf("; %s: %s", plural(n, "virtual mic", "virtual mics"), strings.Join(names, ", "))
	}
	return fmt.Sprintf("%s on %s", state, s.Server.Kind)
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
func overviewRun(f *Factory) error {
	io := f.IO
	doc := gatherStatus(f, audioloop.Options{Timeout: overviewAudioTimeout})
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
	F     *Factory
	Audio audioloop.Options
	JSON  bool
	Watch time.Duration // --watch: refresh every Watch (0: once)
	Title string        // the command, for the --watch header
}

func newStatusCmd(f *Factory, runF func(*statusOptions) error) *cobra.Command {
	opts := &statusOptions{IO: f.IO, F: f}
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Show the three loopbacks together: lo, loop devices, audio loopbacks",
		Long: `Show the state of the three loopbacks at once: the network interface lo,
the loop devices and mounted images, and the sound server's loopbacks.
Each part is read on its own: no sound server, or no permission to see loop
devices, is reported in its section and does not fail the others.
With --watch the three are shown live. Needs no privilege.`,
		Example: "  $ loops status\n  $ loops status --json\n  $ loops status --watch=5s",
		Args:    watchArgs,
		RunE: func(cmd *cobra.Command, args []string) error {
			opts.Title = cmd.CommandPath()
			if runF != nil {
				return runF(opts)
			}
			return statusRun(opts)
		},
	}
	cmd.Flags().StringVar(&opts.Audio.Server, "server", "", "the sound `server` to ask (as loops audio --server)")
	cmd.Flags().BoolVar(&opts.JSON, "json", false, "print JSON")
	addWatchFlag(cmd, &opts.Watch)
	return cmd
}

func statusRun(opts *statusOptions) error {
	if opts.Watch > 0 {
		return runWatch(opts.IO, watchSpec{Interval: opts.Watch, Title: opts.Title, JSON: opts.JSON},
			func(io *IOStreams, first bool) error { return statusFrame(io, opts, true) })
	}
	return statusFrame(opts.IO, opts, false)
}

// statusFrame reads the three loopbacks and prints them once; watching, the
// JSON is one line with a "time".
func statusFrame(io *IOStreams, opts *statusOptions, watching bool) error {
	doc := gatherStatus(opts.F, opts.Audio)
	if opts.JSON && watching {
		doc.Time = watchTime()
		return writeJSONLine(io.Out, doc)
	}
	if opts.JSON {
		return writeJSON(io.Out, doc)
	}
	if !io.IsTerminal() {
		t := newTable(io)
		if n := doc.Net; n.Error != "" {
			t.add("net", "error", n.Error)
		} else {
			var addrs []string
			for _, a := range n.AddrInfo {
				addrs = append(addrs, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
			}
			t.add("net", boolWord(n.Up), strings.Join(addrs, ","), fmt.Sprint(n.Listeners.LoopbackOnly))
		}
		if b := doc.Block; b.Error != "" {
			t.add("block", "error", b.Error)
		} else {
			for _, d := range b.LoopDevices {
				t.add("block", d.Name, d.shownFile(), dash(d.FSType), strings.Join(d.Mountpoints, ","))
			}
			for _, m := range b.Userspace {
				t.add("block", "-", m.BackFile, m.FSType, m.Mountpoint)
			}
			for _, m := range b.Index {
				t.add("block", "-", m.BackFile, m.FSType, m.Mountpoint)
			}
		}
		if a := doc.Audio; a.Error != "" {
			t.add("audio", "error", a.Error)
		} else {
			for _, l := range a.Loopbacks {
				t.add("audio", fmt.Sprint(l.Module), l.Source, l.Sink, fmt.Sprint(l.LatencyMs), owner(l.Loops), l.State)
			}
			for _, m := range a.Mics {
				t.add("audio", "mic", m.Name, dash(firstNonEmpty(m.FromSink, m.App)), fmt.Sprint(m.LatencyMs), "loops", m.State)
			}
		}
		return t.render()
	}
	w := io.Out
	fmt.Fprintln(w, "NET    network interface lo")
	fmt.Fprintf(w, "       %s\n", netLine(doc.Net))
	if doc.Net.Error == "" && len(doc.Net.AddrInfo) > 0 {
		var addrs []string
		for _, a := range doc.Net.AddrInfo {
			addrs = append(addrs, fmt.Sprintf("%s/%d", a.Local, a.PrefixLen))
		}
		fmt.Fprintf(w, "       addresses: %s\n", strings.Join(addrs, ", "))
	}
	fmt.Fprintln(w, "\nBLOCK  loop devices and mounted images")
	fmt.Fprintf(w, "       %s\n", blockLine(doc.Block))
	if b := doc.Block; b.Error == "" && len(b.LoopDevices)+len(b.Userspace)+len(b.Index) > 0 {
		t := newTable(io, "       DEVICE", "IMAGE", "TYPE", "MOUNTED AT")
		for _, d := range b.LoopDevices {
			t.add("       "+d.Name, d.shownFile(), dash(d.FSType), dash(strings.Join(d.Mountpoints, ", ")))
		}
		for _, m := range b.Userspace {
			t.add("       (userspace)", m.BackFile, m.FSType, m.Mountpoint)
		}
		for _, m := range b.Index {
			t.add("       (erofs index)", m.BackFile, m.FSType, m.Mountpoint)
		}
		t.render()
	}
	fmt.Fprintln(w, "\nAUDIO  sound server loopbacks")
	fmt.Fprintf(w, "       %s\n", audioLine(doc.Audio))
	if a := doc.Audio; a.Error == "" && len(a.Loopbacks) > 0 {
		t := newTable(io, "       MODULE", "SOURCE", "SINK", "LATENCY", "BY", "STATE")
		for _, l := range a.Loopbacks {
			lat := "default"
			if l.LatencyMs > 0 {
				lat = fmt.Sprintf("%d ms", l.LatencyMs)
			}
			t.add(fmt.Sprintf("       %d", l.Module), l.Source, l.Sink, lat, owner(l.Loops), l.State)
		}
		t.render()
	}
	return nil
}
