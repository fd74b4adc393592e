package cli

import (
	"errors"
	"strings"
	"testing"

	"github.com/loops-cli/loops/audioloop"
)

// TestAudioWords: the CLI's words for audioloop's typed warnings and
// errors, as loops has always printed them.
func TestAudioWords(t *testing.T) {
	for _, tc := range []struct {
		w    audioloop.Warning
		want string
	}{
		{audioloop.FeedbackWarning{Source: "a.monitor", Sink: "a"}, "a.monitor is the monitor of a: this loopback feeds its own output back"},
		{audioloop.HowlWarning{Source: audioloop.Device{Description: "Mic"}, Sink: audioloop.Device{Description: "Speakers"}},
			"Mic and Speakers are a microphone and speakers of the same card: expect howling; use headphones or keep the volume low"},
		{audioloop.DoubledWarning{Module: 7, Source: "a.monitor", Sink: "b"},
			"module 7 (not loops') already echoes a.monitor to b: the signal is doubled ('loops audio off --all' removes it)"},
	} {
		if got := audioWarning(tc.w); got != tc.want {
			t.Errorf("audioWarning(%#v) = %q, want %q", tc.w, got, tc.want)
		}
	}
	for _, tc := range []struct {
		err  error
		want string
	}{
		{&audioloop.NoSignalError{Played: "a", At: "b.monitor"},
			"the test signal did not arrive: played into a, nothing came out at b.monitor (is a loopback on? 'loops audio status')"},
		{&audioloop.NoSignalError{Played: "a", At: "a.monitor", Ref: true},
			"the test signal did not arrive: no chirp in a.monitor either (is a muted or suspended?)"},
	} {
		err := audioHint(tc.err, audioloop.Options{})
		if err.Error() != tc.want || !errors.Is(err, audioloop.ErrNoSignal) {
			t.Errorf("audioHint(%#v) = %q, want %q matching ErrNoSignal", tc.err, err, tc.want)
		}
	}
}

// TestMicHints: an unknown --from lists the sinks and the applications
// playing; a mic that would hear itself says how to avoid it.
func TestMicHints(t *testing.T) {
	hint := func(err error) string {
		var he *hintError
		if !errors.As(audioHint(err, audioloop.Options{}), &he) {
			t.Fatalf("audioHint(%v) has no hint", err)
		}
		return he.hint
	}
	h := hint(&audioloop.MicFromError{Query: "fierfox", Sinks: []audioloop.Device{{Index: 0, Name: "a", Description: "Alpha"}},
		Apps: []audioloop.Stream{{App: "Firefox", Binary: "firefox-esr"}}})
	if !strings.Contains(h, "  0  a  (Alpha)") || !strings.Contains(h, "  Firefox  firefox-esr") {
		t.Errorf("hint for an unknown --from = %q, want the sink a and the app Firefox listed", h)
	}
	if h := hint(&audioloop.MicFromError{Query: "x", Kind: "app"}); !strings.Contains(h, "No application is playing now") || strings.Contains(h, "sinks") {
		t.Errorf("hint for an unknown app:x with nothing playing = %q", h)
	}
	err := &audioloop.MicFeedbackError{Mic: "loops-mic", Sink: "b", Module: 7, Why: "module 7 plays the mic into it"}
	if !errors.Is(err, audioloop.ErrFeedback) || !strings.Contains(hint(err), "--from") {
		t.Errorf("hint for %v = %q, want advice naming --from", err, hint(err))
	}
	if want := "the mic loops-mic would be fed from sink b, and module 7 plays the mic into it: it would feed its own output back forever"; err.Error() != want {
		t.Errorf("MicFeedbackError = %q, want %q", err, want)
	}
}
