package audioloop

import (
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

// A virtual microphone ("mic") is a source that carries what plays to a
// sink, or what one application plays, so that a call or a recorder can
// take it as a microphone while it is still heard. It is made of modules
// every server has (the usual recipe, done in one step and undone in one):
//
//	NAME_feed  module-null-sink      what the mic carries is played into it
//	NAME       module-remap-source   of NAME_feed.monitor: a source that is
//	                                 not a monitor, so browsers list it
//	loopback   SINK.monitor → NAME_feed            (--from SINK)
//	NAME_app   module-null-sink      the application's streams are moved
//	                                 here (--from APP), and two loopbacks
//	                                 take its monitor to the sink they played
//	                                 to (still heard) and to NAME_feed
//	loopback   SOURCE → NAME_feed                  (--with-mic SOURCE)
//
// Every module carries the property loops.mic=NAME and its role
// (loops.mic.role) in its *_properties argument, so MicOn is idempotent and
// MicOff unloads exactly these. Streams an application opens later are
// moved by FollowMic, a client that waits for them (see mic_follow.go).

// DefaultMicName is the mic's source name when none is given.
const DefaultMicName = "loops-mic"

// Properties that mark a mic's modules and its follower client.
const (
	MicProperty      = "loops.mic"          // the mic's name, on each of its modules
	MicRoleProperty  = "loops.mic.role"     // feed, source, app, from, hear, with
	MicAppProperty   = "loops.mic.app"      // the application, on the app sink
	FollowerProperty = "loops.mic.follower" // the mic's name, on FollowMic's client
)

// Roles of a mic's modules, in load order.
const (
	MicRoleFeed   = "feed"   // null sink NAME_feed
	MicRoleSource = "source" // remap source NAME
	MicRoleApp    = "app"    // null sink NAME_app (--from APP)
	MicRoleHear   = "hear"   // loopback NAME_app.monitor → the app's sink
	MicRoleFrom   = "from"   // loopback SINK.monitor (or NAME_app.monitor) → NAME_feed
	MicRoleWith   = "with"   // loopback SOURCE → NAME_feed (--with-mic)
)

var micRoleOrder = []string{MicRoleFeed, MicRoleSource, MicRoleApp, MicRoleHear, MicRoleFrom, MicRoleWith}

// MicRequest says which mic to turn on.
type MicRequest struct {
	// Name is the mic's source name (DefaultMicName if ""): letters,
	// digits, '.', '_' and '-'.
	Name string
	// Description is what apps show in their device list (default "Loops
	// Mic", or "Loops Mic NAME" for another name). No quotes or backslashes.
	Description string
	// From is a sink (name, index or part of its description) whose sound
	// goes into the mic, or an application (application.name or binary, any
	// case) whose streams go into it; "" is the default sink. "sink:X" and
	// "app:X" say which one is meant.
	From string
	// WithMic is a source (a real microphone) mixed into the mic; "" none.
	WithMic string
	// Latency of the mic's loopbacks (DefaultLatency if 0).
	Latency time.Duration
}

// Mic is a virtual microphone as it is on the server.
type Mic struct {
	Name        string
	Description string
	Source      Device // the mic's source (Index NoIndex when missing)
	FeedSink    string // NAME_feed
	// FromSink is the sink it is fed from (--from SINK), App the
	// application (--from APP): its streams are moved to AppSink and heard
	// on HearSink.
	FromSink          string
	App               string
	AppSink, HearSink string
	WithMic           string // the source mixed in, "" if none
	LatencyMsec       int
	Modules           []MicModule
	Loopbacks         []Loopback // its loopbacks, with their real route and state
	// AppStreams are the application's streams on AppSink now.
	AppStreams []Stream
	// Follower is the client index of the follower that moves the app's
	// new streams (FollowMic), or NoIndex when none runs.
	Follower uint32
	// Missing lists the roles the mic should have but lacks (a module was
	// unloaded by hand): the mic is broken; MicOn mends it.
	Missing []string
}

// MicModule is one module of a mic.
type MicModule struct {
	Index uint32
	Name  string // module-null-sink, module-remap-source, module-loopback
	Role  string
	Args  string
	ID    string // its loops.id (for the startup configuration)
}

// Stream is an application's playback stream (a sink input).
type Stream struct {
	Index  uint32
	App    string // application.name
	Binary string // application.process.binary
	Media  string // media.name
	Sink   string // the sink it plays to now
}

// MicResult is what MicOn did.
type MicResult struct {
	Action   string      // ActionLoaded, ActionUnchanged or ActionReplaced
	Mic      Mic         // the mic now
	Loaded   []MicModule // modules loaded
	Unloaded []MicModule // modules of the previous mic unloaded
	Moved    []Stream    // app streams moved to the app sink (Sink: where they were)
	Server   ServerInfo
}

// MicOffResult is what MicOff did.
type MicOffResult struct {
	Mics      []string    // the mics turned off
	Unloaded  []MicModule // modules unloaded
	MovedBack []Stream    // app streams moved back (Sink: where they went)
	Followers []uint32    // follower clients ended
	Server    ServerInfo
}

// micSinks are the names of a mic's null sinks.
func micFeedSink(name string) string { return name + "_feed" }
func micAppSink(name string) string  { return name + "_app" }

func micDescription(req MicRequest) string {
	if req.Description != "" {
		return req.Description
	}
	if req.Name == DefaultMicName {
		return "Loops Mic"
	}
	return "Loops Mic " + req.Name
}

// checkMicName: a name that is a plain device name on both servers.
func checkMicName(name string) error {
	if name == "" || len(name) > 64 {
		return fmt.Errorf("%w: %q (1 to 64 characters)", ErrBadMicName, name)
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '.' || r == '_' || r == '-') {
			return fmt.Errorf("%w: %q (letters, digits, '.', '_' and '-' only)", ErrBadMicName, name)
		}
	}
	return nil
}

// checkPropValue: a value that fits in single quotes inside a proplist in
// double quotes, on both servers.
func checkPropValue(what, v string) error {
	if strings.ContainsAny(v, "'\"\\") {
		return fmt.Errorf("%w: %s %q contains a quote or a backslash", ErrUnquotable, what, v)
	}
	for _, r := range v {
		if r < 0x20 || r == 0x7f {
			return fmt.Errorf("%w: %s %q contains a control character", ErrUnquotable, what, v)
		}
	}
	return nil
}

// micProps is the *_properties value of a mic module.
func micProps(name, role string, extra ...string) string {
	p := fmt.Sprintf("%s=%s-%s %s=%s %s=%s", MarkProperty, name, role, MicProperty, name, MicRoleProperty, role)
	for i := 0; i+1 < len(extra); i += 2 {
		p += fmt.Sprintf(" %s='%s'", extra[i], extra[i+1])
	}
	return `"` + p + `"`
}

// micModuleSpec is a module a mic needs: its name, role and arguments.
type micModuleSpec struct {
	Name, Role, Args string
}

func nullSinkSpec(mic, role, sink, desc string, extra ...string) micModuleSpec {
	return micModuleSpec{"module-null-sink", role, fmt.Sprintf("sink_name=%s sink_properties=%s", sink,
		micProps(mic, role, append([]string{"device.description", desc}, extra...)...))}
}

func micLoopbackSpec(mic, role, source, sink string, ms int) (micModuleSpec, error) {
	qs, err := QuoteModuleArg(source)
	if err != nil {
		return micModuleSpec{}, fmt.Errorf("source: %w", err)
	}
	qk, err := QuoteModuleArg(sink)
	if err != nil {
		return micModuleSpec{}, fmt.Errorf("sink: %w", err)
	}
	p := micProps(mic, role, "media.name", "loops mic "+mic+" ("+role+")")
	return micModuleSpec{"module-loopback", role, fmt.Sprintf("source=%s sink=%s latency_msec=%d sink_input_properties=%s source_output_properties=%s",
		qs, qk, ms, p, p)}, nil
}

// micMark reads the mic mark of a module's arguments: the mic's name, the
// module's role and its loops.id, from sink_properties, source_properties
// or sink_input_properties.
func micMark(args string) (mic, role, id string, extra map[string]string) {
	kv, err := ParseModuleArgs(args)
	if err != nil {
		return
	}
	for _, k := range []string{"sink_input_properties", "sink_properties", "source_properties"} {
		p, ok := kv[k]
		if !ok {
			continue
		}
		pl, err := ParseModuleArgs(p)
		if err != nil || pl[MicProperty] == "" {
			continue
		}
		return pl[MicProperty], pl[MicRoleProperty], pl[MarkProperty], pl
	}
	return
}

// mics reads every mic from the snapshot's modules, streams and clients.
func (snap *snapshot) mics() map[string]*Mic {
	si := serverInfoFrom(snap.info)
	sources := sourcesFrom(snap.sources, si)
	sinkName := map[uint32]string{}
	for _, s := range snap.sinks {
		sinkName[s.SinkIndex] = s.SinkName
	}
	lbs := map[uint32]Loopback{}
	for _, lb := range snap.loopbacks() {
		lbs[lb.Module] = lb
	}
	out := map[string]*Mic{}
	for _, m := range snap.mods {
		name, role, id, props := micMark(m.ModuleArgs)
		if name == "" || !moduleOfRole(m.ModuleName, role) {
			continue
		}
		mic := out[name]
		if mic == nil {
			mic = &Mic{Name: name, FeedSink: micFeedSink(name), Follower: NoIndex, Source: Device{Index: NoIndex, Name: name}}
			out[name] = mic
		}
		mic.Modules = append(mic.Modules, MicModule{Index: m.ModuleIndex, Name: m.ModuleName, Role: role, Args: m.ModuleArgs, ID: id})
		switch role {
		case MicRoleSource:
			mic.Description = props["device.description"]
		case MicRoleApp:
			mic.App, mic.AppSink = props[MicAppProperty], micAppSink(name)
		case MicRoleHear, MicRoleFrom, MicRoleWith:
			lb := lbs[m.ModuleIndex]
			mic.Loopbacks = append(mic.Loopbacks, lb)
			mic.LatencyMsec = lb.LatencyMsec
			switch role {
			case MicRoleHear:
				mic.HearSink = lb.ArgSink
			case MicRoleFrom:
				if lb.ArgSource != micAppSink(name)+".monitor" {
					mic.FromSink = strings.TrimSuffix(lb.ArgSource, ".monitor")
				}
			case MicRoleWith:
				mic.WithMic = lb.ArgSource
			}
		}
	}
	for _, mic := range out {
		sort.Slice(mic.Modules, func(i, j int) bool {
			return roleRank(mic.Modules[i].Role) < roleRank(mic.Modules[j].Role)
		})
		for _, s := range sources {
			if s.Name == mic.Name {
				mic.Source = s
			}
		}
		if mic.App != "" {
			mic.FromSink = ""
			mic.AppStreams = snap.streamsOn(mic.AppSink, sinkName)
		}
		mic.Missing = mic.missing()
	}
	for _, cl := range snap.clients {
		p := props(cl.Properties)
		if mic := out[p[FollowerProperty]]; mic != nil {
			mic.Follower = cl.ClientIndex
		}
	}
	return out
}

func roleRank(role string) int {
	for i, r := range micRoleOrder {
		if r == role {
			return i
		}
	}
	return len(micRoleOrder)
}

func moduleOfRole(module, role string) bool {
	switch role {
	case MicRoleFeed, MicRoleApp:
		return module == "module-null-sink"
	case MicRoleSource:
		return module == "module-remap-source"
	case MicRoleHear, MicRoleFrom, MicRoleWith:
		return module == "module-loopback"
	}
	return false
}

// missing lists the roles a complete mic of this kind lacks.
func (m *Mic) missing() []string {
	want := []string{MicRoleFeed, MicRoleSource, MicRoleFrom}
	if m.App != "" {
		want = append(want, MicRoleHear)
	}
	var out []string
	for _, w := range want {
		found := false
		for _, mod := range m.Modules {
			found = found || mod.Role == w
		}
		if !found {
			out = append(out, w)
		}
	}
	return out
}

// streamsOn lists the applications' streams (not modules') on sink.
func (snap *snapshot) streamsOn(sink string, sinkName map[uint32]string) []Stream {
	var out []Stream
	for _, st := range snap.appStreams(sinkName) {
		if st.Sink == sink {
			out = append(out, st)
		}
	}
	return out
}

// appStreams lists the sink inputs that applications opened (not modules'
// nor loops' own), in index order.
func (snap *snapshot) appStreams(sinkName map[uint32]string) []Stream {
	// PulseAudio gives a client's stream the protocol module as its owner;
	// a module's own streams (a loopback's) are not an application's.
	modName := map[uint32]string{}
	for _, m := range snap.mods {
		modName[m.ModuleIndex] = m.ModuleName
	}
	var out []Stream
	for _, x := range snap.sis {
		if x.ModuleIndex != NoIndex && !strings.HasPrefix(modName[x.ModuleIndex], "module-native-protocol") {
			continue
		}
		p := props(x.Properties)
		if p[MicProperty] != "" || p["media.role"] == "test" && strings.HasPrefix(p["media.name"], "loops ") {
			continue
		}
		out = append(out, Stream{Index: x.SinkInputIndex, App: p["application.name"], Binary: p["application.process.binary"],
			Media: x.MediaName, Sink: sinkName[x.SinkIndex]})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Index < out[j].Index })
	return out
}

// Streams lists the applications' playback streams (not modules' nor
// loops' own), like `pactl list sink-inputs`. It needs no privilege.
func (c *Client) Streams() ([]Stream, error) {
	var snap snapshot
	if err := c.fetch(&snap, false); err != nil {
		return nil, err
	}
	sinkName := map[uint32]string{}
	for _, s := range snap.sinks {
		sinkName[s.SinkIndex] = s.SinkName
	}
	return snap.appStreams(sinkName), nil
}

// AppMatches: the stream belongs to app (its application.name or binary,
// any case).
func (st Stream) AppMatches(app string) bool {
	return app != "" && (strings.EqualFold(st.App, app) || strings.EqualFold(st.Binary, app))
}

// fetchMics fetches the lists a mic needs, clients included.
func (c *Client) fetchMics(snap *snapshot) error {
	errs := make(chan error, 2)
	go func() { errs <- c.fetch(snap, true) }()
	go func() { errs <- c.request("list clients", &proto.GetClientInfoList{}, &snap.clients) }()
	err1, err2 := <-errs, <-errs
	return errors.Join(err1, err2)
}

// Mics lists the virtual microphones loops made, by name, like `pactl
// list modules` filtered to loops' marks. It needs no privilege.
func (c *Client) Mics() ([]Mic, ServerInfo, error) {
	var snap snapshot
	if err := c.fetchMics(&snap); err != nil {
		return nil, ServerInfo{}, err
	}
	var out []Mic
	for _, m := range snap.mics() {
		out = append(out, *m)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out, serverInfoFrom(snap.info), nil
}

// micPlan is what a mic needs: the modules in load order, and the app
// streams to move to its app sink.
type micPlan struct {
	specs []micModuleSpec
	move  []Stream
	from  Device // the sink fed from (SINK mode)
	app   string
}

// plan resolves req against the server and builds the modules it needs,
// refusing feedback. cur is the mic of that name now, or nil.
func (snap *snapshot) plan(req MicRequest, cur *Mic) (*micPlan, error) {
	si := serverInfoFrom(snap.info)
	sinks, sources := sinksFrom(snap.sinks, si), sourcesFrom(snap.sources, si)
	sinkName := map[uint32]string{}
	for _, s := range sinks {
		sinkName[s.Index] = s.Name
	}
	name, feed, app := req.Name, micFeedSink(req.Name), micAppSink(req.Name)
	ms := int((req.Latency + time.Millisecond/2) / time.Millisecond)
	if ms < 1 || ms > 30000 {
		return nil, fmt.Errorf("%w: %v (1ms … 30s)", ErrBadLatency, req.Latency)
	}
	p := &micPlan{specs: []micModuleSpec{
		nullSinkSpec(name, MicRoleFeed, feed, micDescription(req)+" (feed)"),
		{"module-remap-source", MicRoleSource, fmt.Sprintf("source_name=%s master=%s.monitor source_properties=%s", name, feed,
			micProps(name, MicRoleSource, "device.description", micDescription(req), "device.icon_name", "audio-input-microphone"))},
	}}
	streams := snap.appStreams(sinkName)
	sink, appName, err := resolveMicFrom(req.From, si, sinks, streams)
	if err != nil {
		return nil, err
	}
	own := func(s string) bool { return s == feed || s == app }
	if appName != "" {
		p.app = appName
		if err := checkPropValue("application", appName); err != nil {
			return nil, err
		}
		hear := ""
		if cur != nil && strings.EqualFold(cur.App, appName) && cur.HearSink != "" {
			hear = cur.HearSink
		}
		for _, st := range streams {
			if !st.AppMatches(appName) {
				continue
			}
			if !own(st.Sink) {
				p.move = append(p.move, st)
				if hear == "" {
					hear = st.Sink // "" while PipeWire has not linked a new stream yet
				}
			}
		}
		if hear == "" {
			hear = si.DefaultSink
		}
		if hear == "" {
			return nil, &DeviceError{Kind: "sink", Candidates: sinks}
		}
		if own(hear) {
			return nil, &MicFeedbackError{Mic: name, Sink: hear, Why: "it is the mic's own sink"}
		}
		from, err := micLoopbackSpec(name, MicRoleFrom, app+".monitor", feed, ms)
		if err != nil {
			return nil, err
		}
		hearSpec, err := micLoopbackSpec(name, MicRoleHear, app+".monitor", hear, ms)
		if err != nil {
			return nil, err
		}
		p.specs = append(p.specs, nullSinkSpec(name, MicRoleApp, app, micDescription(req)+": "+appName, MicAppProperty, appName), hearSpec, from)
	} else {
		p.from = sink
		if own(sink.Name) {
			return nil, &MicFeedbackError{Mic: name, Sink: sink.Name, Why: "it is the mic's own sink"}
		}
		// A loopback (not this mic's) that plays the mic into that sink
		// would close the loop.
		for _, lb := range snap.loopbacks() {
			if lb.Mic == name {
				continue
			}
			src, snk := firstOf(lb.Source, lb.ArgSource), firstOf(lb.Sink, lb.ArgSink)
			if (src == name || src == feed+".monitor") && snk == sink.Name {
				return nil, &MicFeedbackError{Mic: name, Sink: sink.Name, Module: lb.Module,
					Why: fmt.Sprintf("module %d plays the mic into it", lb.Module)}
			}
		}
		from, err := micLoopbackSpec(name, MicRoleFrom, sink.Monitor, feed, ms)
		if err != nil {
			return nil, err
		}
		p.specs = append(p.specs, from)
	}
	if req.WithMic != "" {
		src, err := Resolve("source", req.WithMic, sources)
		if err != nil {
			return nil, err
		}
		if src.Name == name || src.Name == feed+".monitor" {
			return nil, &MicFeedbackError{Mic: name, Source: src.Name, Why: "it is the mic itself"}
		}
		with, err := micLoopbackSpec(name, MicRoleWith, src.Name, feed, ms)
		if err != nil {
			return nil, err
		}
		p.specs = append(p.specs, with)
	}
	return p, nil
}

// resolveMicFrom finds what --from names: an exact sink (name, index,
// description), else an application playing now, else a unique part of a
// sink's name or description.
func resolveMicFrom(q string, si ServerInfo, sinks []Device, streams []Stream) (Device, string, error) {
	kind := ""
	if k, rest, ok := strings.Cut(q, ":"); ok && (k == "sink" || k == "app") {
		kind, q = k, rest
	}
	if q == "" && kind != "app" {
		d, err := resolveOrDefault("sink", "", si.DefaultSink, sinks)
		return d, "", err
	}
	if kind != "app" {
		for _, d := range sinks {
			if d.Name == q || fmt.Sprint(d.Index) == q || strings.EqualFold(d.Description, q) {
				return d, "", nil
			}
		}
	}
	if kind != "sink" {
		for _, st := range streams {
			if st.AppMatches(q) {
				return Device{}, q, nil
			}
		}
	}
	if kind != "app" {
		d, err := Resolve("sink", q, sinks)
		if err == nil || errors.Is(err, ErrAmbiguous) {
			return d, "", err
		}
	}
	e := &MicFromError{Query: q, Kind: kind}
	if kind != "app" {
		e.Sinks = sinks
	}
	if kind != "sink" {
		seen := map[string]bool{}
		for _, st := range streams {
			n := firstOf(st.App, st.Binary)
			if !seen[strings.ToLower(n)] {
				seen[strings.ToLower(n)] = true
				e.Apps = append(e.Apps, st)
			}
		}
	}
	return Device{}, "", e
}

// MicOn turns a virtual microphone on (see the comment at the top of this
// file), like the three or four `pactl load-module` commands of the usual
// recipe: a second identical MicOn loads nothing; MicOn with other options
// loads what differs and unloads what is no longer needed, keeping the
// mic's source (apps recording it keep it). With From an application, its
// streams are moved to the mic's app sink; the caller runs FollowMic for
// the streams it opens later. It needs no privilege.
func (c *Client) MicOn(req MicRequest) (*MicResult, error) {
	if req.Name == "" {
		req.Name = DefaultMicName
	}
	if req.Latency == 0 {
		req.Latency = DefaultLatency
	}
	if err := checkMicName(req.Name); err != nil {
		return nil, err
	}
	if err := checkPropValue("description", micDescription(req)); err != nil {
		return nil, err
	}
	var snap snapshot
	if err := c.fetchMics(&snap); err != nil {
		return nil, err
	}
	cur := snap.mics()[req.Name]
	p, err := snap.plan(req, cur)
	if err != nil {
		return nil, err
	}
	res := &MicResult{Action: ActionUnchanged, Server: serverInfoFrom(snap.info)}
	var have []MicModule
	if cur != nil {
		have = cur.Modules
	}
	load, stale := diffMic(p.specs, have)
	// A sink or source replaced by one of the same name must go first (the
	// names are unique), and with it everything that uses it; loopbacks
	// alone are replaced after the new ones run, so the mic never gaps.
	first := false
	for _, m := range stale {
		first = first || m.Name != "module-loopback"
	}
	if first {
		load, stale = diffMic(p.specs, nil)
		stale = have
	}
	appChanged := cur != nil && cur.App != "" && !strings.EqualFold(cur.App, p.app)
	unloadStale := func() error {
		if len(stale) == 0 {
			return nil
		}
		// The follower of an app sink about to go would linger until its
		// next event, and MicOn's caller would take it for the new one.
		for _, m := range stale {
			if m.Role == MicRoleApp && cur.Follower != NoIndex {
				if err := c.request("end the mic follower", &proto.KillClient{ClientIndex: cur.Follower}, nil); err != nil && !gone(err) {
					return err
				}
				cur.Follower = NoIndex
			}
		}
		if appChanged {
			if _, err := c.moveBack(cur, nil); err != nil {
				return err
			}
		}
		un, err := c.unloadMicModules(stale)
		res.Unloaded = un
		return err
	}
	if first {
		if err := unloadStale(); err != nil {
			return res, err
		}
	}
	for _, sp := range load {
		idx, err := c.loadModule(sp.Name, sp.Args)
		if err != nil {
			return res, c.undoLoads(res, err)
		}
		_, _, id, _ := micMark(sp.Args)
		res.Loaded = append(res.Loaded, MicModule{Index: idx, Name: sp.Name, Role: sp.Role, Args: sp.Args, ID: id})
	}
	for _, st := range p.move {
		if err := c.request(fmt.Sprintf("move sink input %d", st.Index), &proto.MoveSinkInput{SinkInputIndex: st.Index, DeviceIndex: NoIndex, DeviceName: micAppSink(req.Name)}, nil); err != nil && !gone(err) {
			return res, err
		}
		res.Moved = append(res.Moved, st)
	}
	if !first {
		if err := unloadStale(); err != nil {
			return res, err
		}
	}
	switch {
	case cur != nil && len(res.Loaded)+len(res.Unloaded) > 0:
		res.Action = ActionReplaced
	case cur == nil:
		res.Action = ActionLoaded
	}
	var after snapshot
	if err := c.fetchMics(&after); err != nil {
		return res, err
	}
	if m := after.mics()[req.Name]; m != nil {
		res.Mic = *m
	}
	return res, nil
}

// diffMic splits specs into those to load and have into those no spec
// keeps (by module name and exact arguments).
func diffMic(specs []micModuleSpec, have []MicModule) (load []micModuleSpec, stale []MicModule) {
	kept := map[uint32]bool{}
	for _, sp := range specs {
		found := false
		for _, m := range have {
			if !kept[m.Index] && m.Name == sp.Name && m.Args == sp.Args {
				kept[m.Index], found = true, true
				break
			}
		}
		if !found {
			load = append(load, sp)
		}
	}
	for _, m := range have {
		if !kept[m.Index] {
			stale = append(stale, m)
		}
	}
	return load, stale
}

// undoLoads unloads what MicOn loaded before err, so a failed MicOn
// leaves nothing behind.
func (c *Client) undoLoads(res *MicResult, err error) error {
	loaded := res.Loaded
	res.Loaded = nil
	if _, uerr := c.unloadMicModules(loaded); uerr != nil {
		return fmt.Errorf("%w (and undoing: %w)", err, uerr)
	}
	return err
}

// loadModule loads a module and returns its index.
func (c *Client) loadModule(name, args string) (uint32, error) {
	var rpl proto.LoadModuleReply
	if err := c.request("load "+name, &proto.LoadModule{Name: name, Args: args}, &rpl); err != nil {
		var pe proto.Error
		if errors.As(err, &pe) && (pe == proto.ErrModuleInitializationFailed || pe == proto.ErrNoSuchEntity) {
			return 0, fmt.Errorf("%w: %s %s: %w", ErrModuleFailed, name, args, err)
		}
		return 0, err
	}
	return rpl.ModuleIndex, nil
}

// unloadMicModules unloads mods, loopbacks first, then the sources and
// sinks they use, each re-read just before (PipeWire reuses indexes).
func (c *Client) unloadMicModules(mods []MicModule) ([]MicModule, error) {
	mods = append([]MicModule(nil), mods...)
	sort.SliceStable(mods, func(i, j int) bool { return roleRank(mods[i].Role) > roleRank(mods[j].Role) })
	var done []MicModule
	for _, m := range mods {
		ok, err := c.unloadModuleChecked(m.Index, m.Name, m.Args)
		if err != nil {
			return done, err
		}
		if ok {
			done = append(done, m)
		}
	}
	return done, nil
}

// unloadModuleChecked unloads module idx if it still is name with args.
func (c *Client) unloadModuleChecked(idx uint32, name, args string) (bool, error) {
	var m proto.GetModuleInfoReply
	if err := c.request("get module info", &proto.GetModuleInfo{ModuleIndex: idx}, &m); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	if m.ModuleName != name || m.ModuleArgs != args {
		return false, nil
	}
	if err := c.request(fmt.Sprintf("unload module %d", idx), &proto.UnloadModule{ModuleIndex: idx}, nil); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// moveBack moves the app streams on mic's app sink back to the sink they
// were heard on (streams, or those on the app sink now if nil).
func (c *Client) moveBack(mic *Mic, streams []Stream) ([]Stream, error) {
	if streams == nil {
		streams = mic.AppStreams
	}
	var out []Stream
	for _, st := range streams {
		if mic.HearSink == "" {
			break // the server moves them to the default sink when the app sink goes
		}
		err := c.request(fmt.Sprintf("move sink input %d", st.Index), &proto.MoveSinkInput{SinkInputIndex: st.Index, DeviceIndex: NoIndex, DeviceName: mic.HearSink}, nil)
		if err != nil && !gone(err) {
			return out, err
		}
		if err == nil {
			st.Sink = mic.HearSink
			out = append(out, st)
		}
	}
	return out, nil
}

// MicOff turns off the mic called name (every loops mic if ""): it ends
// its follower, moves the application's streams back to the sink they
// played to, and unloads the mic's modules and nothing else, each re-read
// just before. It needs no privilege.
func (c *Client) MicOff(name string) (*MicOffResult, error) {
	var snap snapshot
	if err := c.fetchMics(&snap); err != nil {
		return nil, err
	}
	res := &MicOffResult{Server: serverInfoFrom(snap.info)}
	mics := snap.mics()
	names := []string{name}
	if name == "" {
		names = nil
		for n := range mics {
			names = append(names, n)
		}
		sort.Strings(names)
	}
	for _, n := range names {
		mic := mics[n]
		if mic == nil {
			continue
		}
		res.Mics = append(res.Mics, n)
		if mic.Follower != NoIndex {
			if err := c.request("end the mic follower", &proto.KillClient{ClientIndex: mic.Follower}, nil); err != nil && !gone(err) {
				return res, err
			}
			res.Followers = append(res.Followers, mic.Follower)
		}
		// Streams the follower moved in the meantime are there too.
		var now snapshot
		if err := c.fetch(&now, false); err != nil {
			return res, err
		}
		if m := now.mics()[n]; m != nil {
			mic.AppStreams = m.AppStreams
		}
		moved, err := c.moveBack(mic, nil)
		res.MovedBack = append(res.MovedBack, moved...)
		if err != nil {
			return res, err
		}
		un, err := c.unloadMicModules(mic.Modules)
		res.Unloaded = append(res.Unloaded, un...)
		if err != nil {
			return res, err
		}
	}
	return res, nil
}

// MicPersistEntries are the startup-configuration entries of mic, in load
// order (see Persist). An application's routing is not among them: it
// needs FollowMic, which the startup configuration cannot run.
func MicPersistEntries(mic Mic) []PersistEntry {
	var out []PersistEntry
	for _, m := range mic.Modules {
		out = append(out, PersistEntry{ID: m.ID, Module: m.Name, Args: m.Args, Mic: mic.Name})
	}
	return out
}
