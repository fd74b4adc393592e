package audioloop

import (
	"fmt"
	"sort"
	"strings"

	"github.com/jfreymuth/pulse/proto"
)

// Server kinds, from the server's package name.
const (
	KindPulseAudio = "PulseAudio"
	KindPipeWire   = "PipeWire"
)

// ServerInfo is what the server says about itself, like `pactl info`.
type ServerInfo struct {
	Kind          string // KindPulseAudio or KindPipeWire
	Package       string // "pulseaudio", "PulseAudio (on PipeWire 0.3.65)"
	Version       string // the package version
	User, Host    string // who runs it, where
	DefaultSink   string // name of the default sink ("" if none)
	DefaultSource string // name of the default source ("" if none)
	SampleRate    uint32 // default sample rate
}

// ServerInfo asks the server who it is, like `pactl info`.
func (c *Client) ServerInfo() (ServerInfo, error) {
	var r proto.GetServerInfoReply
	if err := c.request("get server info", &proto.GetServerInfo{}, &r); err != nil {
		return ServerInfo{}, err
	}
	return serverInfoFrom(r), nil
}

func serverInfoFrom(r proto.GetServerInfoReply) ServerInfo {
	kind := KindPulseAudio
	if strings.Contains(strings.ToLower(r.PackageName), "pipewire") {
		kind = KindPipeWire
	}
	for _, p := range []*string{&r.DefaultSinkName, &r.DefaultSourceName} {
		if strings.HasPrefix(*p, "@DEFAULT_") { // pipewire-pulse: none chosen yet
			*p = ""
		}
	}
	return ServerInfo{Kind: kind, Package: r.PackageName, Version: r.PackageVersion,
		User: r.Username, Host: r.Hostname,
		DefaultSink: r.DefaultSinkName, DefaultSource: r.DefaultSourceName,
		SampleRate: r.DefaultSampleSpec.Rate}
}

// Device is a sink or a source.
type Device struct {
	Index       uint32
	Name        string // the server's name (alsa_output.…, a.monitor)
	Description string // the human name ("Built-in Audio Analog Stereo")
	State       string // "running", "idle", "suspended" or "unknown"
	Default     bool   // the server's default sink or source
	// MonitorOf is, for a monitor source, the name of the sink it monitors.
	MonitorOf string
	// Monitor is, for a sink, the name of its monitor source.
	Monitor    string
	Card       uint32 // index of the card, or NoIndex
	FormFactor string // device.form_factor: "internal", "speaker", "microphone", "headset"…
	Bus        string // device.bus: "pci", "usb", "bluetooth"…
	ActivePort string // the active port ("analog-output-speaker"), if any
	Properties map[string]string
}

// NoIndex is the server's "none" index (a device without a card, a stream
// without a module).
const NoIndex = proto.Undefined

func stateName(s uint32) string {
	switch s {
	case 0:
		return "running"
	case 1:
		return "idle"
	case 2:
		return "suspended"
	}
	return "unknown"
}

func props(p proto.PropList) map[string]string {
	m := make(map[string]string, len(p))
	for k, v := range p {
		if len(v) > 0 && v[len(v)-1] == 0 {
			m[k] = string(v[:len(v)-1])
		}
	}
	return m
}

// Sinks lists the sinks, like `pactl list sinks short`, in index order.
func (c *Client) Sinks() ([]Device, error) {
	si, err := c.ServerInfo()
	if err != nil {
		return nil, err
	}
	return c.sinks(si)
}

func (c *Client) sinks(si ServerInfo) ([]Device, error) {
	var r proto.GetSinkInfoListReply
	if err := c.request("list sinks", &proto.GetSinkInfoList{}, &r); err != nil {
		return nil, err
	}
	return sinksFrom(r, si), nil
}

func sinksFrom(r proto.GetSinkInfoListReply, si ServerInfo) []Device {
	out := make([]Device, 0, len(r))
	for _, s := range r {
		p := props(s.Properties)
		out = append(out, Device{Index: s.SinkIndex, Name: s.SinkName, Description: s.Device,
			State: stateName(s.State), Default: s.SinkName == si.DefaultSink, Monitor: s.MonitorSourceName,
			Card: s.CardIndex, FormFactor: p["device.form_factor"], Bus: p["device.bus"], ActivePort: s.ActivePortName, Properties: p})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Sources lists the sources, monitors included, like `pactl list sources
// short`, in index order.
func (c *Client) Sources() ([]Device, error) {
	si, err := c.ServerInfo()
	if err != nil {
		return nil, err
	}
	return c.sources(si)
}

func (c *Client) sources(si ServerInfo) ([]Device, error) {
	var r proto.GetSourceInfoListReply
	if err := c.request("list sources", &proto.GetSourceInfoList{}, &r); err != nil {
		return nil, err
	}
	return sourcesFrom(r, si), nil
}

func sourcesFrom(r proto.GetSourceInfoListReply, si ServerInfo) []Device {
	out := make([]Device, 0, len(r))
	for _, s := range r {
		p := props(s.Properties)
		d := Device{Index: s.SourceIndex, Name: s.SourceName, Description: s.Device,
			State: stateName(s.State), Default: s.SourceName == si.DefaultSource,
			Card: s.CardIndex, FormFactor: p["device.form_factor"], Bus: p["device.bus"], ActivePort: s.ActivePortName, Properties: p}
		// The field is named MonitorSource… but holds monitor_of_sink.
		if s.MonitorSourceIndex != proto.Undefined {
			d.MonitorOf = s.MonitorSourceName
		}
		out = append(out, d)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Loopback is one module-loopback, loops' or anyone's, with its real route.
type Loopback struct {
	Module uint32 // module index (what `pactl unload-module` takes)
	Args   string // the module arguments, verbatim
	// Loops is true for a loopback loops loaded (marked with MarkProperty);
	// ID is the mark's value.
	Loops bool
	ID    string
	// Mic is the virtual microphone this loopback belongs to (see MicOn),
	// "" for a plain loopback.
	Mic string
	// ArgSource and ArgSink are the devices the arguments name ("" when the
	// arguments leave them to the server's defaults).
	ArgSource, ArgSink string
	// Source and Sink are where the streams are now, read from the source
	// output and the sink input: they differ from the arguments after a
	// device went away and the server moved the streams. "" if unknown.
	Source, Sink string
	// LatencyMsec is the requested latency_msec, 0 when not given (the
	// server's default: 200 ms on PulseAudio, none on PipeWire).
	LatencyMsec int
	// State: "running" (both streams flowing), "corked" (paused, usually a
	// suspended device), "unlinked" (a stream is on no device: its device
	// went away and there is no default to move to), or "starting" (streams
	// not yet created).
	State string
	// SinkInput and SourceOutput are the stream indexes, or NoIndex.
	SinkInput, SourceOutput uint32
}

// MarkProperty is the sink-input property by which loops recognises its own
// loopbacks; its value is the pair's ID.
const MarkProperty = "loops.id"

// Loopbacks lists every module-loopback, like `pactl list modules` filtered
// to module-loopback, with the real route from the stream lists.
func (c *Client) Loopbacks() ([]Loopback, error) {
	var snap snapshot
	if err := c.fetch(&snap, false); err != nil {
		return nil, err
	}
	return snap.loopbacks(), nil
}

// snapshot is the server's state as one set of lists, fetched at once.
type snapshot struct {
	info    proto.GetServerInfoReply
	sinks   proto.GetSinkInfoListReply
	sources proto.GetSourceInfoListReply
	mods    proto.GetModuleInfoListReply
	sis     proto.GetSinkInputInfoListReply
	sos     proto.GetSourceOutputInfoListReply
	clients proto.GetClientInfoListReply // only for mics (fetchMics)
}

// fetch sends every list request at once and waits for all the answers:
// one round trip instead of six, which is most of a command's time. The
// server info is asked only with withInfo.
func (c *Client) fetch(snap *snapshot, withInfo bool) error {
	type call struct {
		op  string
		req proto.RequestArgs
		rpl proto.Reply
	}
	calls := []call{
		{"list sinks", &proto.GetSinkInfoList{}, &snap.sinks},
		{"list sources", &proto.GetSourceInfoList{}, &snap.sources},
		{"list modules", &proto.GetModuleInfoList{}, &snap.mods},
		{"list sink inputs", &proto.GetSinkInputInfoList{}, &snap.sis},
		{"list source outputs", &proto.GetSourceOutputInfoList{}, &snap.sos},
	}
	if withInfo {
		calls = append(calls, call{"get server info", &proto.GetServerInfo{}, &snap.info})
	}
	errs := make(chan error, len(calls))
	for _, cl := range calls {
		go func() { errs <- c.request(cl.op, cl.req, cl.rpl) }()
	}
	var first error
	for range calls {
		if err := <-errs; err != nil && first == nil {
			first = err
		}
	}
	return first
}

func (snap *snapshot) loopbacks() []Loopback {
	sinkName := map[uint32]string{}
	for _, s := range snap.sinks {
		sinkName[s.SinkIndex] = s.SinkName
	}
	sourceName := map[uint32]string{}
	for _, s := range snap.sources {
		sourceName[s.SourceIndex] = s.SourceName
	}
	var out []Loopback
	for _, m := range snap.mods {
		if m.ModuleName != "module-loopback" {
			continue
		}
		lb := loopbackFromArgs(m.ModuleIndex, m.ModuleArgs)
		lb.State = "starting"
		var siCorked, soCorked, haveSI, haveSO bool
		for _, x := range snap.sis {
			if x.ModuleIndex == m.ModuleIndex {
				lb.SinkInput, lb.Sink, siCorked, haveSI = x.SinkInputIndex, sinkName[x.SinkIndex], x.Corked, true
			}
		}
		for _, x := range snap.sos {
			if x.ModuleIndex == m.ModuleIndex {
				lb.SourceOutput, lb.Source, soCorked, haveSO = x.SourceOutpuIndex, sourceName[x.SourceIndex], x.Corked, true
			}
		}
		switch {
		case haveSI && haveSO && (lb.Sink == "" || lb.Source == ""):
			lb.State = "unlinked"
		case haveSI && haveSO && (siCorked || soCorked):
			lb.State = "corked"
		case haveSI && haveSO:
			lb.State = "running"
		}
		out = append(out, lb)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Module < out[j].Module })
	return out
}

// loopbackFromArgs reads what a module-loopback's arguments ask for.
func loopbackFromArgs(idx uint32, args string) Loopback {
	lb := Loopback{Module: idx, Args: args, SinkInput: NoIndex, SourceOutput: NoIndex}
	kv, err := ParseModuleArgs(args)
	if err != nil {
		return lb
	}
	lb.ArgSource, lb.ArgSink = kv["source"], kv["sink"]
	fmt.Sscan(kv["latency_msec"], &lb.LatencyMsec)
	if p, ok := kv["sink_input_properties"]; ok {
		if pl, err := ParseModuleArgs(p); err == nil {
			if id, ok := pl[MarkProperty]; ok {
				lb.Loops, lb.ID = true, id
			}
			lb.Mic = pl[MicProperty]
		}
	}
	return lb
}
