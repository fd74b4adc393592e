// Package audioloop manages the sound server's loopback: module-loopback,
// which echoes a source (line-in, a microphone, a sink's monitor) to a sink,
// on PulseAudio and on PipeWire (through pipewire-pulse). It is not the
// network loopback (package netloop) nor loop devices (package blockloop).
//
// A Client is one connection to the caller's sound server, found like
// libpulse finds it ($PULSE_SERVER, $XDG_RUNTIME_DIR/pulse/native, then
// /run/user/UID/pulse/native; under sudo, the invoking user's server). The
// connection sends process credentials and the cookie, and every request has
// a timeout, so a missing or hung server is an error, never a hang.
//
//	c, err := audioloop.Connect(audioloop.Options{})
//	if err != nil { … }
//	defer c.Close()
//	res, err := c.On(audioloop.OnRequest{Source: "USB Mic", Latency: 50 * time.Millisecond})
//
// Loops marks the loopbacks it loads with the stream property loops.id
// (see MarkProperty), so On is idempotent and Off unloads only those.
//
// A virtual microphone (MicOn, MicOff, Mics; mic.go) is the other way
// round: a source, not a monitor, that carries what plays to a sink or what
// one application plays (its streams moved through a null sink of the
// mic's, still heard), for a call or a recorder to take as a microphone.
// FollowMic, run by the caller as a long-lived client, moves the streams
// the application opens later.
//
// Nothing here needs privilege: the sound server is per user. Run as root
// under sudo, the package talks to the invoking user's server with that
// user's cookie.
//
// The package never prints, and leaves command lines and advice to its
// caller: it returns structs (On's risks as typed Warnings) and wrapped
// errors. Sentinels (ErrNoServer, ErrServerGone, ErrFeedback, ErrNoDevice,
// ErrAmbiguous, ErrModuleMissing, ErrNoSignal) are tested with errors.Is,
// and the error types (DeviceError, FeedbackError, NoSignalError…) carry
// the fields a caller needs for advice; errors.go lists them all.
package audioloop
