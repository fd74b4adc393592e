package cli

import (
	"errors"
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
