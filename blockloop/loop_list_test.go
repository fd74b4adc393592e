package blockloop

import (
	"testing"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// TestLoopOf: a btrfs mount shows an anonymous device; its source names
// the loop device.
func TestLoopOf(t *testing.T) {
	ms, err := kernfile.ParseMountinfo([]byte("40 36 7:3 / /media/a rw - ext4 /dev/loop3 rw\n" +
		"41 36 0:55 / /media/butter ro,nosuid,nodev - btrfs /dev/loop12 ro,space_cache=v2\n"))
	if err != nil || len(ms) != 2 {
		t.Fatalf("%v, %v", ms, err)
	}
	if n, ok := loopOf(ms[0]); !ok || n != 3 {
		t.Errorf("ext4 on 7:3: loopOf = %d %v", n, ok)
	}
	if n, ok := loopOf(ms[1]); !ok || n != 12 || !ms[1].ReadOnly() {
		t.Errorf("btrfs on loop12: loopOf = %d %v", n, ok)
	}
}
