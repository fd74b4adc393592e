package audioloop

import (
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/jfreymuth/pulse/proto"
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
	Warnings []Warning
	Server   ServerInfo // who answered, read with the lists
}

// Warning is a risk On took without refusing: a FeedbackWarning,
// HowlWarning or DoubledWarning. String says it in a sentence.
type Warning interface {
	fmt.Stringer
	warning()
}

// FeedbackWarning: with Force, On loaded a loopback from a sink's monitor
// into that sink.
type FeedbackWarning struct{ Source, Sink string }

// HowlWarning: the source is a microphone and the sink speakers of the same
// card, so the air closes the loop.
type HowlWarning struct{ Source, Sink Device }

// DoubledWarning: Module, a loopback loops did not load, already echoes
// Source to Sink; Off with All unloads it.
type DoubledWarning struct {
	Module       uint32
	Source, Sink string
}

func (FeedbackWarning) warning() {}
func (HowlWarning) warning()     {}
func (DoubledWarning) warning()  {}

func (w FeedbackWarning) String() string {
	return fmt.Sprintf("%s is the monitor of %s: this loopback feeds its own output back", w.Source, w.Sink)
}

func (w HowlWarning) String() string {
	return fmt.Sprintf("%s and %s are a microphone and speakers of the same card: expect howling; use headphones or keep the volume low", w.Source.Description, w.Sink.Description)
}

func (w DoubledWarning) String() string {
	return fmt.Sprintf("module %d (not loops') already echoes %s to %s: the signal is doubled", w.Module, w.Source, w.Sink)
}

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
	res, err := snap.onPair(req)
	if err != nil {
		return nil, err
	}
	args, err := LoopbackArgs(res.Source.Name, res.Sink.Name, req.Latency)
	if err != nil {
		return nil, err
	}
	mine := res.pairLoopbacks(snap.loopbacks())
	if len(mine) == 1 && mine[0].Args == args {
		res.Action, res.Loopback = ActionUnchanged, mine[0]
		return res, nil
	}
	module, err := c.loadLoopback(args)
	if err != nil {
		return nil, err
	}
	res.Action = ActionLoaded
	if err := c.replaceOld(res, mine, module); err != nil {
		return res, err
	}
	// Its streams are being created now: 'status' shows the real route.
	res.Loopback = loopbackFromArgs(module, args)
	res.Loopback.State = "starting"
	return res, c.settleRace(res, module)
}

// onPair resolves the devices of req and refuses, or warns about, feedback.
func (snap *snapshot) onPair(req OnRequest) (*OnResult, error) {
	si := serverInfoFrom(snap.info)
	src, err := resolveOrDefault("source", req.Source, si.DefaultSource, sourcesFrom(snap.sources, si))
	if err != nil {
		return nil, err
	}
	snk, err := resolveOrDefault("sink", req.Sink, si.DefaultSink, sinksFrom(snap.sinks, si))
	if err != nil {
		return nil, err
	}
	res := &OnResult{Source: src, Sink: snk, Server: si}
	if src.MonitorOf != "" && src.MonitorOf == snk.Name {
		if !req.Force {
			return nil, &FeedbackError{Source: src.Name, Sink: snk.Name, Defaults: req.Source == "" && req.Sink == ""}
		}
		res.Warnings = append(res.Warnings, FeedbackWarning{src.Name, snk.Name})
	}
	if w, ok := howlWarning(src, snk); ok {
		res.Warnings = append(res.Warnings, w)
	}
	return res, nil
}

// pairLoopbacks returns loops' loopbacks for the pair of res, and warns
// about others' loopbacks of the same pair.
func (res *OnResult) pairLoopbacks(lbs []Loopback) []Loopback {
	src, snk := res.Source.Name, res.Sink.Name
	var mine []Loopback
	for _, lb := range lbs {
		switch {
		case lb.Mic != "":
			// a mic's own loopback: MicOff's, not On's
		case lb.Loops && lb.ArgSource == src && lb.ArgSink == snk:
			mine = append(mine, lb)
		case !lb.Loops && (lb.Source == src || lb.ArgSource == src) && (lb.Sink == snk || lb.ArgSink == snk):
			res.Warnings = append(res.Warnings, DoubledWarning{lb.Module, src, snk})
		}
	}
	return mine
}

// loadLoopback loads module-loopback with args and returns its index.
func (c *Client) loadLoopback(args string) (uint32, error) {
	var rpl proto.LoadModuleReply
	if err := c.request("load module-loopback", &proto.LoadModule{Name: "module-loopback", Args: args}, &rpl); err != nil {
		var pe proto.Error
		if errors.As(err, &pe) && (pe == proto.ErrModuleInitializationFailed || pe == proto.ErrNoSuchEntity) {
			return 0, fmt.Errorf("%w (arguments %s): %w", ErrModuleMissing, args, err)
		}
		return 0, err
	}
	return rpl.ModuleIndex, nil
}

// replaceOld unloads loops' old loopbacks of the pair, once module, the new
// one, is loaded: no moment without the echo.
func (c *Client) replaceOld(res *OnResult, old []Loopback, module uint32) error {
	for _, lb := range old {
		if _, err := c.unloadChecked(lb); err != nil {
			return fmt.Errorf("loaded module %d, but could not unload the old loopback %d: %w", module, lb.Module, err)
		}
		res.Action = ActionReplaced
		res.Replaced = append(res.Replaced, lb.Module)
	}
	return nil
}

// settleRace handles another loops that loaded the same pair at the same
// moment (no lock spans two processes): every racer keeps the lowest module
// of the pair and unloads the others, so one loopback stays.
func (c *Client) settleRace(res *OnResult, module uint32) error {
	var after snapshot
	if err := c.fetch(&after, false); err != nil {
		return nil
	}
	var twins []Loopback
	for _, lb := range after.loopbacks() { // sorted by module
		if lb.Loops && lb.Mic == "" && lb.ArgSource == res.Source.Name && lb.ArgSink == res.Sink.Name {
			twins = append(twins, lb)
		}
	}
	if len(twins) < 2 {
		return nil
	}
	for _, lb := range twins[1:] {
		if _, err := c.unloadChecked(lb); err != nil {
			return fmt.Errorf("loaded module %d, but could not unload module %d, a second loopback of the same pair loaded at the same time: %w", module, lb.Module, err)
		}
	}
	if twins[0].Module != module {
		res.Loopback = twins[0]
		if res.Action == ActionLoaded {
			res.Action = ActionUnchanged
		}
	}
	return nil
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

// howlWarning warns about a microphone and built-in speakers of the same
// card: the acoustic path closes the loop and it howls.
func howlWarning(src, snk Device) (HowlWarning, bool) {
	if src.MonitorOf != "" || src.Card == NoIndex || src.Card != snk.Card {
		return HowlWarning{}, false
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
		return HowlWarning{}, false
	}
	return HowlWarning{src, snk}, ff(src, "mic", "internal", "webcam") && ff(snk, "speaker", "internal")
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

// Off turns off loops' loopbacks (with All, every module-loopback but those
// of loops' virtual microphones, which MicOff turns off), like
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
		if lb.Mic != "" {
			continue // a virtual microphone's: MicOff unloads it
		}
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
	return c.unloadModuleChecked(lb.Module, "module-loopback", lb.Args)
}

// gone: PulseAudio says no such entity for an unknown index, PipeWire
// access denied.
func gone(err error) bool {
	return errors.Is(err, proto.ErrNoSuchEntity) || errors.Is(err, proto.ErrAccessDenied)
}
