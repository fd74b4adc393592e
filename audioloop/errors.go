package audioloop

import (
	"errors"
	"fmt"
	"strings"
)

// Sentinel errors, for errors.Is.
var (
	// ErrNoServer: no sound server answered at any of the places tried.
	ErrNoServer = errors.New("no sound server")
	// ErrServerGone: the server closed the connection or stopped answering
	// during the command.
	ErrServerGone = errors.New("the sound server went away")
	// ErrAccessDenied: the server refused the connection or the request.
	ErrAccessDenied = errors.New("the sound server refused access")

	// ErrNoDevice: no sink or source matches the name, index or description
	// given, or there is no default one.
	ErrNoDevice = errors.New("no such device")
	// ErrAmbiguous: several devices match a part of a description.
	ErrAmbiguous = errors.New("ambiguous device")

	// ErrFeedback: the source is the monitor of the sink, so the loopback
	// would echo its own output forever (a howl, or an endless digital echo).
	ErrFeedback = errors.New("feedback loop")
	// ErrModuleMissing: the server could not load module-loopback (the
	// module is not installed, or module loading is disabled).
	ErrModuleMissing = errors.New("module-loopback could not be loaded")
	// ErrBadLatency: the latency is outside 1 ms … 30 s.
	ErrBadLatency = errors.New("latency out of range")
	// ErrUnquotable: a value cannot be written as a module argument that both
	// PulseAudio and PipeWire read back unchanged.
	ErrUnquotable = errors.New("value cannot be quoted as a module argument")

	// ErrBadMicName: a mic name that is not a plain device name.
	ErrBadMicName = errors.New("bad mic name")
	// ErrModuleFailed: the server could not load a module a mic needs
	// (module-null-sink, module-remap-source or module-loopback).
	ErrModuleFailed = errors.New("a module could not be loaded")
	// ErrNoMicFrom: --from names no sink and no application playing now.
	ErrNoMicFrom = errors.New("no such sink or application")

	// ErrNoSignal: the test signal did not come out at the far end.
	ErrNoSignal = errors.New("the test signal did not arrive")
)

// NoServerError says which servers were tried and why each failed. It
// matches ErrNoServer with errors.Is.
type NoServerError struct {
	Tried []string // the addresses tried, in order
	Errs  []error  // why each failed
}

func (e *NoServerError) Error() string {
	var b strings.Builder
	b.WriteString("no sound server: ")
	for i, t := range e.Tried {
		if i > 0 {
			b.WriteString("; ")
		}
		fmt.Fprintf(&b, "%s: %v", t, e.Errs[i])
	}
	if len(e.Tried) == 0 {
		b.WriteString("nowhere to look (no PULSE_SERVER, XDG_RUNTIME_DIR or /run/user/UID)")
	}
	return b.String()
}

func (e *NoServerError) Is(target error) bool { return target == ErrNoServer }

// Unwrap returns the per-address errors, so errors.Is finds an errno there.
func (e *NoServerError) Unwrap() []error { return e.Errs }

// OpError is a failed request: the operation and the server's error. It
// unwraps to the proto.Error (proto.ErrNoSuchEntity…) or the sentinel.
type OpError struct {
	Op  string
	Err error
}

func (e *OpError) Error() string { return e.Op + ": " + e.Err.Error() }
func (e *OpError) Unwrap() error { return e.Err }

// DeviceError is a failed lookup of a sink or source; Candidates holds the
// matches of an ambiguous query, or every device of the kind when none
// matched. It matches ErrNoDevice or ErrAmbiguous.
type DeviceError struct {
	Kind       string // "sink" or "source"
	Query      string
	Ambiguous  bool
	Candidates []Device
}

func (e *DeviceError) Error() string {
	switch {
	case e.Ambiguous:
		return fmt.Sprintf("%q matches %d %ss", e.Query, len(e.Candidates), e.Kind)
	case e.Query == "":
		return fmt.Sprintf("no default %s", e.Kind)
	}
	return fmt.Sprintf("no %s %q (by name, index or description)", e.Kind, e.Query)
}

func (e *DeviceError) Is(target error) bool {
	return (target == ErrAmbiguous && e.Ambiguous) || (target == ErrNoDevice && !e.Ambiguous)
}

// FeedbackError is the refusal of a source that is the sink's monitor (by
// On, unless forced, and by Measure). It matches ErrFeedback.
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

// NoSignalError is Measure's report of a test signal that did not arrive.
// It matches ErrNoSignal.
type NoSignalError struct {
	Played string // the sink the signal was played into
	At     string // the source where it is missing
	// Ref: At is the reference recording, before the path: the sink did not
	// play it (muted or suspended). Otherwise nothing crossed the path (no
	// loopback on).
	Ref bool
}

func (e *NoSignalError) Error() string {
	if e.Ref {
		return fmt.Sprintf("%v: no chirp in %s either (is %s muted or suspended?)", ErrNoSignal, e.At, e.Played)
	}
	return fmt.Sprintf("%v: played into %s, nothing came out at %s", ErrNoSignal, e.Played, e.At)
}

func (e *NoSignalError) Is(target error) bool { return target == ErrNoSignal }

// MicFeedbackError is MicOn's refusal of a mic that would hear itself: fed
// from its own sink, from a sink a loopback plays the mic into, or with
// itself as the microphone mixed in. It matches ErrFeedback.
type MicFeedbackError struct {
	Mic    string
	Sink   string // the sink it would be fed from, or ""
	Source string // the source it would mix in, or ""
	Module uint32 // the loopback that closes the loop, if that is why
	Why    string
}

func (e *MicFeedbackError) Error() string {
	what := "fed from sink " + e.Sink
	if e.Source != "" {
		what = "mixed with source " + e.Source
	}
	return fmt.Sprintf("the mic %s would be %s, and %s: it would feed its own output back forever", e.Mic, what, e.Why)
}

func (e *MicFeedbackError) Is(target error) bool { return target == ErrFeedback }

// MicFromError is a --from that names no sink and no application playing
// now; Sinks and Apps (one stream per application) are what exists. It
// matches ErrNoMicFrom.
type MicFromError struct {
	Query string
	Kind  string // "sink" or "app" when the query said so, else ""
	Sinks []Device
	Apps  []Stream
}

func (e *MicFromError) Error() string {
	switch e.Kind {
	case "sink":
		return fmt.Sprintf("no sink %q (by name, index or description)", e.Query)
	case "app":
		return fmt.Sprintf("no application %q is playing (by application.name or binary)", e.Query)
	}
	return fmt.Sprintf("no sink and no application playing now is %q", e.Query)
}

func (e *MicFromError) Is(target error) bool { return target == ErrNoMicFrom }
