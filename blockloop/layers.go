package blockloop

import (
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/layer/luks"
	"github.com/loops-cli/loops/blockloop/probe"
)

// Layer is one step of the stack between an image (or a VM disk's
// virtual disk) and the filesystem loops mounts: a partition, an
// encrypted volume (LUKS); later an LVM logical volume or an md array.
// Probe output, the plan and block list show the stack layer by layer.
type Layer struct {
	Kind   string `json:"kind"`   // "partition", "luks"
	Name   string `json:"name"`   // "partition 3", "LUKS2"
	Offset int64  `json:"offset"` // where it starts in the device below, bytes
	Size   int64  `json:"size"`   // its size there, bytes
	Label  string `json:"label,omitempty"`
	UUID   string `json:"uuid,omitempty"`
	// Detail says what the layer is made of, in a few words: for LUKS the
	// cipher, key size, sector size and keyslots.
	Detail string `json:"detail,omitempty"`
	// Locked: the layer needs a key that was not given; nothing above it
	// was read.
	Locked bool `json:"locked,omitempty"`
}

// Layer kinds.
const (
	LayerPartition = "partition"
	LayerLUKS      = string(layer.KindLUKS)
)

// ErrNoKey: no keyslot of an encrypted volume opens with the passphrase
// (or key file) given: cryptsetup's "No key available with this
// passphrase".
var ErrNoKey = luks.ErrNoKey

// ErrLocked: the image holds an encrypted volume and no passphrase was
// given (MountOptions.Passphrase is nil); matches ErrEncrypted too.
var ErrLocked = errors.New("a passphrase is needed")

// PassphraseFunc asks for the passphrase of the locked layer l; attempt
// counts from 1. blockloop zeroes the returned slice after use. An error
// stops the mount (and is returned).
type PassphraseFunc func(l Layer, attempt int) ([]byte, error)

// DefaultPassphraseTries is how often a wrong passphrase is asked again,
// as cryptsetup does (--tries 3).
const DefaultPassphraseTries = 3

// planLayers is called when Decide found an encrypted volume: it opens
// it (asking for the passphrase when opts has a PassphraseFunc), probes
// what it holds and plans the filesystem inside. base is what plan
// probed (the image from baseOff, or a VM disk's virtual disk, size
// bytes); the plan from Decide comes back unchanged when there is no LUKS
// volume to open.
func (h *Host) planLayers(base io.ReaderAt, size, baseOff int64, pr *probe.Result, plan Plan, in PlanInput, opts MountOptions) Plan {
	off, n, part, ok := luksTarget(pr, plan)
	if !ok {
		return plan
	}
	var stack []Layer
	if part > 0 {
		stack = append(stack, Layer{Kind: LayerPartition, Name: fmt.Sprintf("partition %d", part), Offset: off, Size: n})
	}
	fail := func(err error) Plan {
		p := nonePlan(err)
		p.Disk, p.Partition, p.Layers = plan.Disk, part, stack
		return p
	}
	vol, err := luks.Open(io.NewSectionReader(base, off, n), n)
	if err != nil {
		return fail(&multiError{msg: "cannot read the LUKS header: " + err.Error(), errs: []error{ErrEncrypted, err}})
	}
	info := vol.Info()
	l := luksLayer(info, off, n, part)
	l.Locked = true
	stack = append(stack, l)
	if opts.Passphrase == nil {
		return fail(&multiError{msg: fmt.Sprintf("%s is %s, locked", where(part), l.Name), errs: []error{ErrLocked, ErrEncrypted}})
	}
	dev, err := unlock(vol, l, opts)
	if err != nil {
		return fail(err)
	}
	key := dev.VolumeKey()
	defer dev.Close()
	stack[len(stack)-1].Locked = false
	inner, err := probe.Image(dev, dev.Size(), probe.Options{})
	if err != nil {
		clear(key)
		return fail(fmt.Errorf("read the unlocked %s: %w", l.Name, err))
	}
	// The index route reads the image file itself: not through a layer.
	in.Probe, in.Disk, in.Partition, in.Index, in.IndexAsRoot = &inner, nil, 0, false, false
	p := Decide(in)
	p.Disk, p.Partition, p.Layers = plan.Disk, part, stack
	p.stack = []layer.Spec{{Kind: layer.KindLUKS, Offset: baseOff + off, Size: n}}
	p.keys = [][]byte{key}
	if p.Label == "" && info.Label != "" {
		p.Label = info.Label
	}
	if p.Route == RouteNone {
		p.zeroKeys()
		p.Err = fmt.Errorf("%s is %s, unlocked: %w", where(part), l.Name, p.Err)
		p.Reason = p.Err.Error()
		return p
	}
	p.ReadOnly = true
	p.Reason = fmt.Sprintf("%s is %s, unlocked (read-only): %s", where(part), l.Name, p.Reason)
	if plan.Disk != nil {
		p.Reason = fmt.Sprintf("a %s disk image (a %s virtual disk): %s", plan.Disk.Format, HumanSize(plan.Disk.VirtualSize), p.Reason)
	}
	return p
}

// planDiskLayers is planLayers in the virtual disk of a VM disk image.
func (h *Host) planDiskLayers(abs string, di *DiskImage, plan Plan, in PlanInput, opts MountOptions) Plan {
	if _, _, _, ok := luksTarget(di.Inner, plan); !ok {
		return plan
	}
	d, err := disk.Open(abs)
	if errors.Is(err, disk.ErrMissingCodec) && h.OpenVirtualDisk != nil {
		d, err = h.OpenVirtualDisk(abs)
	}
	if err != nil {
		return plan
	}
	defer d.Close()
	return h.planLayers(d, d.Size(), 0, di.Inner, plan, in, opts)
}

// unlock asks for the passphrase and tries it, up to opts'
// PassphraseTries times while it is wrong.
func unlock(vol *luks.Volume, l Layer, opts MountOptions) (*luks.Device, error) {
	tries := opts.PassphraseTries
	if tries <= 0 {
		tries = DefaultPassphraseTries
	}
	for attempt := 1; ; attempt++ {
		pass, err := opts.Passphrase(l, attempt)
		if err != nil {
			return nil, err
		}
		dev, err := vol.Unlock(pass)
		clear(pass)
		switch {
		case err == nil:
			return dev, nil
		case !errors.Is(err, luks.ErrNoKey):
			return nil, &multiError{msg: fmt.Sprintf("cannot unlock %s: %v", l.Name, err), errs: []error{ErrEncrypted, err}}
		case attempt >= tries:
			return nil, err
		}
	}
}

// luksTarget finds the LUKS volume Decide stopped at (the whole image, or
// the partition asked for, or the only one that holds something).
func luksTarget(pr *probe.Result, plan Plan) (off, size int64, part int, ok bool) {
	var ce *ContainerError
	if !errors.As(plan.Err, &ce) || ce.Type != "crypto_LUKS" {
		return 0, 0, 0, false
	}
	if ce.Partition == 0 {
		return 0, pr.Size, 0, true
	}
	for _, p := range pr.Partitions {
		if p.Number == ce.Partition && p.Start+p.Size <= pr.Size {
			return p.Start, p.Size, p.Number, true
		}
	}
	return 0, 0, 0, false
}

// luksLayer describes an opened LUKS header.
func luksLayer(info luks.Info, off, size int64, part int) Layer {
	var slots []string
	for _, k := range info.Keyslots {
		slots = append(slots, fmt.Sprintf("%d (%s)", k.ID, k.KDF))
	}
	detail := fmt.Sprintf("%s, %d-bit key, %d-byte sectors, keyslots %s", info.Cipher, info.KeyBits, info.SectorSize, strings.Join(slots, ", "))
	if len(info.Tokens) > 0 {
		detail += ", tokens " + strings.Join(info.Tokens, ", ") + " (not used)"
	}
	return Layer{Kind: LayerLUKS, Name: fmt.Sprintf("LUKS%d", info.Version), Offset: off, Size: size,
		Label: info.Label, UUID: info.UUID, Detail: detail}
}

func where(part int) string {
	if part > 0 {
		return fmt.Sprintf("partition %d", part)
	}
	return "the image"
}

// zeroKeys clears the keys a plan carries for the server.
func (p *Plan) zeroKeys() {
	layer.Zero(p.keys)
	p.keys = nil
}
