package blockloop

import (
	"fmt"
	"io"

	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/layer/md"
)

// ErrUnsupportedMD: an md array loops does not read (a level other than
// RAID1, a member that is a spare, faulty or being rebuilt); matches
// errors.ErrUnsupported.
var ErrUnsupportedMD = md.ErrUnsupported

// openMD reads an md superblock and opens the array's data, for a RAID1
// member.
func openMD(r io.ReaderAt, n int64, what string) (*opened, error) {
	m, err := md.Open(r, n)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	in := m.Info()
	o := &opened{spec: layer.Spec{Kind: layer.KindMD}, layer: Layer{Kind: LayerMD, Name: fmt.Sprintf("md %s (superblock %s)", in.LevelName, in.Version),
		Label: in.Name, UUID: in.UUID,
		Detail: fmt.Sprintf("%d devices, this one in slot %d, data at byte %d, %s", in.RaidDisks, in.Role, in.DataOffset, HumanSize(in.ArraySize))}}
	d, err := m.Data()
	if err != nil {
		return o, fmt.Errorf("%s: %w", what, err)
	}
	o.dev = mdDevice{d}
	return o, nil
}

// mdDevice is an array's data read from a member: nothing to close.
type mdDevice struct{ *md.Data }

func (mdDevice) Close() error { return nil }
