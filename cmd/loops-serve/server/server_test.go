package server

import (
	"io"
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

func TestParse(t *testing.T) {
	o, err := Parse([]string{"--image", "/i.iso", "--type", "udf", "--offset", "512", "--sizelimit", "4096", "--uid", "1000", "--umask", "022", "/mnt", "--disk"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	want := Options{Image: "/i.iso", Type: "udf", Offset: 512, SizeLimit: 4096, UID: 1000, GID: -1, Umask: "022", Disk: true, Mountpoint: "/mnt"}
	if *o != want {
		t.Fatalf("got %+v, want %+v", *o, want)
	}
	o, err = Parse([]string{"--image", "/vm.qcow2", "--raw-disk", "/run/loops/disks/1"}, io.Discard)
	if err != nil || !o.RawDisk || o.Type != "iso9660" || o.UID != -1 || o.Mountpoint != "/run/loops/disks/1" {
		t.Fatalf("got %+v, %v", o, err)
	}
	for _, bad := range [][]string{{"--image", "/i.iso"}, {"--image", "/i.iso", "/a", "/b"}, {"--nope", "/a"}} {
		if _, err := Parse(bad, io.Discard); err == nil {
			t.Errorf("Parse(%q) took it", bad)
		}
	}
}
