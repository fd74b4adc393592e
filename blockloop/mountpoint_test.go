package blockloop

import (
	"strings"
	"testing"
)

func TestMountpointName(t *testing.T) {
	tests := []struct{ label, image, want string }{
		{"My Data", "/x/disk.img", "My Data"},
		{"My Label/../x", "/x/a.iso", "My Label_.._x"},
		{"..", "/x/backup.img", "backup"},
		{".", "/x/backup.img", "backup"},
		{"", "/x/debian-12.iso", "debian-12"},
		{"", "/x/.hidden", ".hidden"},
		{"", "/x/..img", "disk"},
		{"a\\b", "/x/y", "a_b"},
		{"tab\there\nnl\x7f", "/x/y", "tab_here_nl_"},
		{"  spaced  ", "/x/y", "spaced"},
		{"ünïcödé 日本", "/x/y", "ünïcödé 日本"},
		{"bad\xffutf8", "/x/y", "bad_utf8"},
		{"\u200bzero", "/x/y", "_zero"},
		{strings.Repeat("é", 200), "/x/y", strings.Repeat("é", 120)},
	}
	for _, tt := range tests {
		if got := MountpointName(tt.label, tt.image); got != tt.want {
			t.Errorf("MountpointName(%q, %q) = %q, want %q", tt.label, tt.image, got, tt.want)
		}
	}
}
