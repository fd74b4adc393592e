package kernfile

import (
	"os"
	"testing"
)

func TestParseMountinfo(t *testing.T) {
	in := "36 35 98:0 /mnt1 /mnt/parent\\040dir rw,noatime master:1 - ext3 /dev/root rw,errors=continue\n" +
		"40 36 7:3 / /media/My\\040Data\\011tab\\134back rw,nosuid,nodev shared:5 - ext4 /dev/loop3 rw\n" +
		"41 36 0:55 / /media/butter ro,nosuid,nodev - btrfs /dev/loop12 ro,space_cache=v2\n"
	ms, err := ParseMountinfo([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 3 {
		t.Fatalf("%d entries", len(ms))
	}
	if ms[0].Mountpoint != "/mnt/parent dir" || ms[0].FSType != "ext3" || ms[0].Major != 98 {
		t.Errorf("entry 0: %+v", ms[0])
	}
	if ms[1].Mountpoint != "/media/My Data\ttab\\back" || ms[1].Source != "/dev/loop3" || ms[1].ReadOnly() {
		t.Errorf("entry 1: %+v", ms[1])
	}
	if ms[2].Source != "/dev/loop12" || ms[2].Major != 0 || ms[2].Minor != 55 || !ms[2].ReadOnly() {
		t.Errorf("entry 2: %+v", ms[2])
	}
	if _, err := ParseMountinfo([]byte("garbage\n")); err == nil {
		t.Error("garbage parsed")
	}
}

// TestMountinfoOfThisProcess: the running kernel's mountinfo parses, and
// holds the root.
func TestMountinfoOfThisProcess(t *testing.T) {
	ms, err := Mountinfo("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	root := false
	for _, m := range ms {
		root = root || m.Mountpoint == "/"
	}
	if !root {
		t.Errorf("no / among %d mounts", len(ms))
	}
	if _, err := Mountinfo("/nonexistent/mountinfo"); !os.IsNotExist(err) {
		t.Errorf("missing file: %v", err)
	}
}

// TestSysInt: a number with its newline; 0 for what is not one.
func TestSysInt(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(dir+"/size", []byte("2048\n"), 0o644)
	os.WriteFile(dir+"/bad", []byte("x\n"), 0o644)
	if v := SysInt(dir, "size"); v != 2048 {
		t.Errorf("SysInt(size) = %d", v)
	}
	if v := SysInt(dir, "bad"); v != 0 {
		t.Errorf("SysInt(bad) = %d", v)
	}
	if v := SysInt(dir, "missing"); v != 0 {
		t.Errorf("SysInt(missing) = %d", v)
	}
	if f := SysFields(dir + "/size"); len(f) != 1 || f[0] != 2048 {
		t.Errorf("SysFields = %v", f)
	}
}
