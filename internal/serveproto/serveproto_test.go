package serveproto

import (
	"errors"
	"flag"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// Every request type, as loops builds them: Args then Parse gives the
// same request back.
func TestRoundTrip(t *testing.T) {
	for _, r := range []Request{
		&Serve{Image: "/i.iso", Type: "udf", Offset: 512, SizeLimit: 4096, UID: 1000, GID: -1, Umask: 0o22, Disk: true, KeyFD: -1, Mountpoint: "/mnt"},
		&Serve{Image: "/vm.qcow2", RawDisk: true, UID: -1, GID: -1, Umask: -1, KeyFD: -1, Mountpoint: "/run/loops/disks/1"},
		&Serve{Image: "/vm.qcow2", RawDisk: true, Disk: true, UID: -1, GID: -1, Umask: -1, Layers: []string{"luks:1048576:0", "lvm:0:0:vg/lv"}, KeyFD: 4, PVFDs: []int{5, 6}, Mountpoint: "/run/loops/disks/2"},
		&Serve{Image: "/a b/-odd.img", Type: "vfat", UID: 0, GID: 0, Umask: 0, KeyFD: -1, Mountpoint: "-mnt"}, // root, umask 0, an operand like a flag
		&Serve{Image: "/sd.img", Type: "vfat", Offset: 4194304, ReadWrite: true, UID: -1, GID: -1, Umask: -1, KeyFD: -1, Log: "/run/loops/log/mnt.log", Mountpoint: "/mnt"},
		&Serve{Image: "/i.iso", UID: -1, GID: -1, Umask: 0o777, Map: "off", KeyFD: -1, Mountpoint: "/m"},
		&ReadDisk{Image: "/vm.qcow2"},
		&ReadDisk{Image: "--image"},
		&WriteIndex{Image: "/sd.img", Type: "vfat", Offset: 1 << 20, SizeLimit: 8 << 20, UID: 1234, GID: 5678, Umask: 0o27, CompactMtime: true},
		&WriteIndex{Image: "/-i.iso", UID: -1, GID: -1, Umask: -1, Map: "off"},
	} {
		args := Args(r)
		got, err := Parse(args)
		if err != nil {
			t.Errorf("Parse(Args(%+v)) = %q: %v", r, args, err)
			continue
		}
		if !reflect.DeepEqual(got, r) {
			t.Errorf("Parse(%q) = %+v, want %+v", args, got, r)
		}
	}
}

// What the server's command line looks like: tools find a server by it.
func TestArgs(t *testing.T) {
	got := Args(&Serve{Image: "/vm.qcow2", RawDisk: true, UID: -1, GID: -1, Umask: -1, KeyFD: -1, Mountpoint: "/run/loops/disks/1"})
	want := []string{"__serve", "--image", "/vm.qcow2", "--raw-disk=true", "--", "/run/loops/disks/1"}
	if !slices.Equal(got, want) {
		t.Errorf("raw disk: %q, want %q", got, want)
	}
	got = Args(&Serve{Image: "/i.iso", Type: "udf", Offset: 1 << 20, UID: 0, GID: -1, Umask: 0o27, KeyFD: -1, Mountpoint: "/m"})
	want = []string{"__serve", "--image", "/i.iso", "--offset", "1048576", "--type", "udf", "--uid", "0", "--umask", "27", "--", "/m"}
	if !slices.Equal(got, want) {
		t.Errorf("udf: %q, want %q", got, want)
	}
	if got, want := Args(&ReadDisk{Image: "/vm.qcow2"}), []string{"__read-disk", "--", "/vm.qcow2"}; !slices.Equal(got, want) {
		t.Errorf("read disk: %q, want %q", got, want)
	}
}

// Command lines written by hand (or by an older loops): flags and the
// operand in any order, defaults for what is not given.
func TestParseByHand(t *testing.T) {
	r, err := Parse([]string{"__serve", "--image", "/i.iso", "/mnt", "--disk", "--umask", "022"})
	if err != nil {
		t.Fatal(err)
	}
	want := &Serve{Image: "/i.iso", Disk: true, UID: -1, GID: -1, Umask: 0o22, KeyFD: -1, Mountpoint: "/mnt"}
	if !reflect.DeepEqual(r, want) {
		t.Errorf("got %+v, want %+v", r, want)
	}
	r, err = Parse([]string{"__read-disk", "/vm.vdi"})
	if err != nil || r.(*ReadDisk).Image != "/vm.vdi" {
		t.Errorf("read disk: %+v, %v", r, err)
	}
}

func TestParseRefuses(t *testing.T) {
	for _, bad := range [][]string{
		nil,
		{"serve", "/mnt"},
		{"--image", "/i.iso", "/mnt"}, // no command
		{"__SERVE", "/mnt"},
		{"__serve", "--image", "/i.iso"}, // no mount point
		{"__serve", "--image", "/i.iso", "/a", "/b"},   // two
		{"__serve", "--image", "/i.iso", ""},           // empty
		{"__serve", "--nope", "/a"},                    // unknown flag
		{"__serve", "--offset", "12k", "/a"},           // not a number
		{"__serve", "--uid", "root", "/a"},             // not a number
		{"__serve", "--umask", "0999", "/a"},           // not octal
		{"__serve", "--umask", "1000", "/a"},           // more than 0777
		{"__serve", "--disk=maybe", "/a"},              // not a bool
		{"__serve", "--image"},                         // a flag without its value
		{"__read-disk"},                                // no image
		{"__read-disk", "/a.qcow2", "/b.qcow2"},        // two
		{"__read-disk", "--image", "/a.qcow2", "/a"},   // it has no flags
		{"__read-disk", "--", "/a.qcow2", "--", "/b"},  // two after --
		{"__serve", "--image", "/i", "--", "/a", "/b"}, // two after --
	} {
		r, err := Parse(bad)
		if err == nil {
			t.Errorf("Parse(%q) took it: %+v", bad, r)
		} else if !errors.Is(err, ErrUsage) {
			t.Errorf("Parse(%q): %v, not ErrUsage", bad, err)
		}
	}
	if _, err := Parse([]string{"__serve", "--help"}); !errors.Is(err, flag.ErrHelp) {
		t.Errorf("--help: %v, want flag.ErrHelp", err)
	}
}

func TestAnswer(t *testing.T) {
	if err := ReadAnswer(Answer(nil) + "\n"); err != nil {
		t.Errorf("ready read back as %v", err)
	}
	err := ReadAnswer(Answer(errors.New("no reader for ntfs\n(try the kernel)")))
	if err == nil || err.Error() != "no reader for ntfs (try the kernel)" {
		t.Errorf("error read back as %v", err)
	}
	for _, line := range []string{"", "read", "ready now", "Error: x"} {
		if err := ReadAnswer(line); !errors.Is(err, ErrNoAnswer) {
			t.Errorf("ReadAnswer(%q) = %v, want ErrNoAnswer", line, err)
		}
	}
}

func TestUsage(t *testing.T) {
	var b strings.Builder
	Usage(&b, ServeCommand)
	for _, want := range []string{"loops-serve __serve [flags] MOUNTPOINT", "-image", "-raw-disk", "-umask"} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("usage lacks %q:\n%s", want, b.String())
		}
	}
}
