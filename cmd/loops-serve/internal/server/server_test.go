package server

import (
	"slices"
	"testing"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/userfs"
)

// The CLI decides what it can serve from blockloop.UserspaceTypes, without
// loading the readers; they must be the readers the server has.
func TestUserspaceTypesMatchTheReaders(t *testing.T) {
	want := userfs.Types()
	got := slices.Clone(blockloop.UserspaceTypes)
	slices.Sort(got)
	if !slices.Equal(got, want) {
		t.Fatalf("blockloop.UserspaceTypes = %v, the server's readers are %v", got, want)
	}
}

// A command line the server cannot take is a usage error (exit 2), told
// before anything is opened or mounted.
func TestMainRefusesUsage(t *testing.T) {
	for _, args := range [][]string{
		{"__serve", "--image", "/nonexistent.iso"},         // no mount point
		{"__mount", "--image", "/nonexistent.iso", "/mnt"}, // no such command
		{"--image", "/nonexistent.iso", "--umask", "8", "/nonexistent"},
		{"__read-disk"},
	} {
		if code := Main(args); code != 2 {
			t.Errorf("Main(%q) = %d, want 2", args, code)
		}
	}
}
