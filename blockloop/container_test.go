package blockloop

import (
	"errors"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/probe"
)

// TestContainerPlans: containers are not mounted; the error names what
// the image is, wraps ErrContainer (and ErrEncrypted for encrypted ones),
// and spells no command.
func TestContainerPlans(t *testing.T) {
	for typ, c := range containers {
		kind := probe.KindVolume
		if c.encrypted {
			kind = probe.KindCrypto
		}
		plan := Decide(PlanInput{Probe: &probe.Result{Kind: kind, Type: typ, Label: "vg0"}, Kernel: map[string]bool{"ext4": true}})
		var ce *ContainerError
		if plan.Route != RouteNone || !errors.Is(plan.Err, ErrContainer) || !errors.As(plan.Err, &ce) || ce.Type != typ {
			t.Errorf("%s: %+v", typ, plan)
			continue
		}
		if errors.Is(plan.Err, ErrEncrypted) != c.encrypted {
			t.Errorf("%s: ErrEncrypted %v", typ, errors.Is(plan.Err, ErrEncrypted))
		}
		msg := plan.Err.Error()
		if !strings.Contains(msg, c.what) {
			t.Errorf("%s: %q does not say %q", typ, msg, c.what)
		}
		for _, cmd := range []string{"vgchange", "mdadm", "cryptsetup", "dislocker", "apfs-fuse", "zpool", "sudo", "loops "} {
			if strings.Contains(msg, cmd) {
				t.Errorf("%s: the library spells a command: %q", typ, msg)
			}
		}
	}
	// A partition holding a container, chosen by number.
	pr := &probe.Result{Kind: probe.KindPartitionTable, PTType: "gpt", Size: 10 << 20, Partitions: []probe.Partition{
		{Number: 1, Start: 1 << 20, Size: 8 << 20, FS: &probe.Result{Kind: probe.KindVolume, Type: "LVM2_member"}},
	}}
	plan := Decide(PlanInput{Probe: pr, Partition: 1})
	var ce *ContainerError
	if !errors.As(plan.Err, &ce) || ce.Partition != 1 || !strings.Contains(plan.Err.Error(), "partition 1 is an LVM2 physical volume") {
		t.Errorf("partition: %v", plan.Err)
	}
}
