package server

import (
	"os"
	"slices"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop"
	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/userfs"
	"github.com/loops-cli/loops/internal/serveproto"
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

// The layers' keys come on the inherited fd the request names: read in
// full, matched to the layers that need one, the fd closed.
func TestReadLayers(t *testing.T) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		t.Fatal(err)
	}
	key := []byte("0123456789abcdef0123456789abcdef")
	w := os.NewFile(uintptr(p[1]), "w")
	layer.WriteKeys(w, [][]byte{key})
	w.Close()
	specs, keys, err := readLayers(&serveproto.Serve{Layers: []string{"luks:1048576:0"}, KeyFD: p[0]})
	if err != nil || len(specs) != 1 || specs[0].Kind != layer.KindLUKS || specs[0].Offset != 1<<20 || len(keys) != 1 || string(keys[0]) != string(key) {
		t.Fatalf("readLayers = %+v, %q, %v", specs, keys, err)
	}
	if err := unix.Close(p[0]); err == nil {
		t.Error("the key fd was left open")
	}
	if _, _, err := readLayers(&serveproto.Serve{Layers: []string{"luks:0:0"}, KeyFD: -1}); err == nil {
		t.Error("a LUKS layer without a key fd was taken")
	}
	if _, _, err := readLayers(&serveproto.Serve{Layers: []string{"zfs:0:0"}, KeyFD: -1}); err == nil {
		t.Error("an unknown layer was taken")
	}
}
