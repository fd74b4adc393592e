package audioloop

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

var (
	// ErrFeedback: the source is the monitor of the sink, so the loopback
	// would echo its own output forever (a howl, or an endless digital echo).
	ErrFeedback = errors.New("feedback loop")
	// ErrModuleMissing: the server could not load module-loopback (the
	// module is not installed, or module loading is disabled).
	ErrModuleMissing = errors.New("module-loopback could not be loaded")
	// ErrBadLatency: the latency is outside 1 ms … 30 s.
	ErrBadLatency = errors.New("latency out of range")
)

// DefaultLatency is the latency On asks for when none is given. It is always
// passed explicitly: PulseAudio's own default is 200 ms, PipeWire has none.
const DefaultLatency = 50 * time.Millisecond

// OnRequest says which loopback to turn on.
type OnRequest struct {
	// Source and Sink are a name, an index or a (unique part of a)
	// description; "" means the server's default.
	Source, Sink string
	// Latency is the end-to-end latency asked for (DefaultLatency if 0),
	// rounded to whole milliseconds, 1 ms … 30 s.
	Latency time.Duration
	// Force loads a loopback even when the source is the sink's monitor.
	Force bool
}

// Actions On reports.
const (
	ActionLoaded    = "loaded"    // a new loopback
	ActionUnchanged = "unchanged" // the same loopback was already there
	ActionReplaced  = "replaced"  // loops' loopback for the pair had other options
)

// OnResult is what On did.
type OnResult struct {
	Action       string
	Loopback     Loopback // the loopback now in place
	Source, Sink Device   // the devices it connects
	Replaced     []uint32 // module indexes of loops' loopbacks it replaced
	// Warnings are risks that did not stop On: a microphone and speakers of
	// the same card, another (not loops') loopback for the same pair.
	Warnings []string
	Server   ServerInfo // who answered, read with the lists
}

// FeedbackError is On's refusal of a source that is the sink's monitor. It
// matches ErrFeedback.
type FeedbackError struct {
	Source, Sink string
	Defaults     bool // both came from the server's defaults
}

func (e *FeedbackError) Error() string {
	if e.Defaults {
		return fmt.Sprintf("the default source %s is the monitor of the default sink %s: the loopback would feed its own output back forever", e.Source, e.Sink)
	}
	return fmt.Sprintf("source %s is the monitor of sink %s: the loopback would feed its own output back forever", e.Source, e.Sink)
}

func (e *FeedbackError) Is(target error) bool { return target == ErrFeedback }

// PairID is the mark loops puts on the loopback from source to sink (device
// names): stable, so the same pair is recognised across runs.
func PairID(source, sink string) string {
	h := fnv.New64a()
	h.Write([]byte(source))
	h.Write([]byte{0})
	h.Write([]byte(sink))
	return fmt.Sprintf("%016x", h.Sum64())
}

// LoopbackArgs returns the module-loopback arguments loops uses for a
// loopback from source to sink: device names quoted for both servers, the
// latency always explicit, and the loops.id mark on both streams. It uses no
// argument PipeWire does not know.
func LoopbackArgs(source, sink string, latency time.Duration) (string, error) {
	ms := int((latency + time.Millisecond/2) / time.Millisecond)
	if ms < 1 || ms > 30000 {
		return "", fmt.Errorf("%w: %v (1ms … 30s)", ErrBadLatency, latency)
	}
	qs, err := QuoteModuleArg(source)
	if err != nil {
		return "", fmt.Errorf("source: %w", err)
	}
	qk, err := QuoteModuleArg(sink)
	if err != nil {
		return "", fmt.Errorf("sink: %w", err)
	}
	id := PairID(source, sink)
	return fmt.Sprintf("source=%s sink=%s latency_msec=%d sink_input_properties=%s=%s source_output_properties=%s=%s",
		qs, qk, ms, MarkProperty, id, MarkProperty, id), nil
}

// On turns on one loopback from a source to a sink, like `pactl load-module
// module-loopback source=S sink=K latency_msec=N`, but safely: it refuses a
// source that is the sink's own monitor (unless Force), does nothing when
// loops' loopback for the pair is already there with the same options, and
// replaces it when the options differ. It needs no privilege.
func (c *Client) On(req OnRequest) (*OnResult, error) {
	if req.Latency == 0 {
		req.Latency = DefaultLatency
	}
	var snap snapshot
	if err := c.fetch(&snap, true); err != nil {
		return nil, err
	}
	si := serverInfoFrom(snap.info)
	sinks, sources := sinksFrom(snap.sinks, si), sourcesFrom(snap.sources, si)
	src, err := resolveOrDefault("source", req.Source, si.DefaultSource, sources)
	if err != nil {
		return nil, err
	}
	snk, err := resolveOrDefault("sink", req.Sink, si.DefaultSink, sinks)
	if err != nil {
		return nil, err
	}
	res := &OnResult{Source: src, Sink: snk, Server: si}
	if src.MonitorOf != "" && src.MonitorOf == snk.Name {
		if !req.Force {
			return nil, &FeedbackError{Source: src.Name, Sink: snk.Name, Defaults: req.Source == "" && req.Sink == ""}
		}
		res.Warnings = append(res.Warnings, fmt.Sprintf("%s is the monitor of %s: this loopback feeds its own output back", src.Name, snk.Name))
	}
	if w := micSpeakerWarning(src, snk); w != "" {
		res.Warnings = append(res.Warnings, w)
	}
	args, err := LoopbackArgs(src.Name, snk.Name, req.Latency)
	if err != nil {
		return nil, err
	}
	lbs := snap.loopbacks()
	var mine []Loopback
	for _, lb := range lbs {
		switch {
		case lb.Loops && lb.ArgSource == src.Name && lb.ArgSink == snk.Name:
			mine = append(mine, lb)
		case !lb.Loops && (lb.Source == src.Name || lb.ArgSource == src.Name) && (lb.Sink == snk.Name || lb.ArgSink == snk.Name):
			res.Warnings = append(res.Warnings, fmt.Sprintf("module %d (not loops') already echoes %s to %s: the signal is doubled ('loops audio off --all' removes it)", lb.Module, src.Name, snk.Name))
		}
	}
	if len(mine) == 1 && mine[0].Args == args {
		res.Action, res.Loopback = ActionUnchanged, mine[0]
		return res, nil
	}
	var rpl proto.LoadModuleReply
	if err := c.request("load module-loopback", &proto.LoadModule{Name: "module-loopback", Args: args}, &rpl); err != nil {
		var pe proto.Error
		if errors.As(err, &pe) && (pe == proto.ErrModuleInitializationFailed || pe == proto.ErrNoSuchEntity) {
			return nil, fmt.Errorf("%w (arguments %s): %w", ErrModuleMissing, args, err)
		}
		return nil, err
	}
	res.Action = ActionLoaded
	// The new one first, then the old ones: no moment without the echo.
	for _, old := range mine {
		if _, err := c.unloadChecked(old); err != nil {
			return res, fmt.Errorf("loaded module %d, but could not unload the old loopback %d: %w", rpl.ModuleIndex, old.Module, err)
		}
		res.Action = ActionReplaced
		res.Replaced = append(res.Replaced, old.Module)
	}
	// Its streams are being created now: 'status' shows the real route.
	res.Loopback = loopbackFromArgs(rpl.ModuleIndex, args)
	res.Loopback.State = "starting"
	// Another loops may have loaded the same pair at the same moment (no
	// lock spans two processes): every racer keeps the lowest module of the
	// pair and unloads the others, so one loopback stays.
	var after snapshot
	if err := c.fetch(&after, false); err != nil {
		return res, nil
	}
	var twins []Loopback
	for _, lb := range after.loopbacks() { // sorted by module
		if lb.Loops && lb.ArgSource == src.Name && lb.ArgSink == snk.Name {
			twins = append(twins, lb)
		}
	}
	if len(twins) > 1 {
		for _, lb := range twins[1:] {
			if _, err := c.unloadChecked(lb); err != nil {
				return res, fmt.Errorf("loaded module %d, but could not unload module %d, a second loopback of the same pair loaded at the same time: %w", rpl.ModuleIndex, lb.Module, err)
			}
		}
		if twins[0].Module != rpl.ModuleIndex {
			res.Loopback = twins[0]
			if res.Action == ActionLoaded {
				res.Action = ActionUnchanged
			}
		}
	}
	return res, nil
}

func resolveOrDefault(kind, query, def string, devs []Device) (Device, error) {
	if query != "" {
		return Resolve(kind, query, devs)
	}
	for _, d := range devs {
		if d.Name == def {
			return d, nil
		}
	}
	return Device{}, &DeviceError{Kind: kind, Candidates: devs}
}

// micSpeakerWarning warns about a microphone and built-in speakers of the
// same card: the acoustic path closes the loop and it howls.
func micSpeakerWarning(src, snk Device) string {
	if src.MonitorOf != "" || src.Card == NoIndex || src.Card != snk.Card {
		return ""
	}
	ff := func(d Device, words ...string) bool {
		s := strings.ToLower(d.FormFactor + " " + d.ActivePort)
		for _, w := range words {
			if strings.Contains(s, w) {
				return true
			}
		}
		return false
	}
	if ff(snk, "headphone", "headset") {
		return ""
	}
	if ff(src, "mic", "internal", "webcam") && ff(snk, "speaker", "internal") {
		return fmt.Sprintf("%s and %s are a microphone and speakers of the same card: expect howling; use headphones or keep the volume low", src.Description, snk.Description)
	}
	return ""
}

// OffRequest says which loopbacks to turn off.
type OffRequest struct {
	// All includes loopbacks that loops did not load.
	All bool
}

// OffResult is what Off did.
type OffResult struct {
	Unloaded []Loopback // what was unloaded
	Gone     []Loopback // already gone, or the index now names something else
	Spared   []Loopback // others' loopbacks left alone (without All)
	Server   ServerInfo // who answered, read with the lists
}

// Off turns off loops' loopbacks (with All, every module-loopback), like
// `pactl unload-module N` for each. Just before each unload it re-reads the
// module: PipeWire reuses module numbers at once, so a number read a moment
// ago may name another module now. It needs no privilege.
func (c *Client) Off(req OffRequest) (*OffResult, error) {
	var snap snapshot
	if err := c.fetch(&snap, true); err != nil {
		return nil, err
	}
	lbs := snap.loopbacks()
	res := &OffResult{Server: serverInfoFrom(snap.info)}
	for _, lb := range lbs {
		if !lb.Loops && !req.All {
			res.Spared = append(res.Spared, lb)
			continue
		}
		ok, err := c.unloadChecked(lb)
		if err != nil {
			return res, err
		}
		if ok {
			res.Unloaded = append(res.Unloaded, lb)
		} else {
			res.Gone = append(res.Gone, lb)
		}
	}
	return res, nil
}

// Unload unloads one module-loopback by index, after checking it is one,
// like `pactl unload-module N`. It reports false when it was already gone.
func (c *Client) Unload(lb Loopback) (bool, error) { return c.unloadChecked(lb) }

func (c *Client) unloadChecked(lb Loopback) (bool, error) {
	var m proto.GetModuleInfoReply
	if err := c.request("get module info", &proto.GetModuleInfo{ModuleIndex: lb.Module}, &m); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	if m.ModuleName != "module-loopback" || m.ModuleArgs != lb.Args {
		return false, nil
	}
	if err := c.request(fmt.Sprintf("unload module %d", lb.Module), &proto.UnloadModule{ModuleIndex: lb.Module}, nil); err != nil {
		if gone(err) {
			return false, nil
		}
		return false, err
	}
	return true, nil
}

// gone: PulseAudio says no such entity for an unknown index, PipeWire
// access denied.
func gone(err error) bool {
	return errors.Is(err, proto.ErrNoSuchEntity) || errors.Is(err, proto.ErrAccessDenied)
}
