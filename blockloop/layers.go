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
// encrypted volume (LUKS), an LVM logical volume, an md RAID1 array.
// Probe output, the plan and block list show the stack layer by layer.
type Layer struct {
	Kind   string `json:"kind"`   // "partition", "luks", "lvm", "md"
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
	LayerLVM       = string(layer.KindLVM)
	LayerMD        = string(layer.KindMD)
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

// maxLayers bounds the stack planLayers opens (LVM on LUKS on LVM...).
const maxLayers = 4

// opened is one layer planLayers opened: what it shows, how loops-serve
// opens it again, its key (nil for a layer that needs none), and what
// it gives.
type opened struct {
	parts []Layer // the partitions it lies on, shown before it (an LVM PV's)
	part  int     // the partition, when it lies on one
	// plain: its bytes are bytes at of the device below, as they are (a
	// linear LV in one run): a loop device can read them in place.
	plain bool
	at    int64
	layer Layer
	spec  layer.Spec
	key   []byte
	dev   layer.Device
}

// planLayers is called when Decide stopped at a container loops opens
// (an encrypted volume, an LVM PV, an md RAID1 member), or when
// MountOptions.LV names an LV: it opens it (asking for the passphrase when opts
// has a PassphraseFunc), probes what it holds and plans again, layer
// after layer, down to the filesystem. base is what plan probed (the
// image from baseOff, or a VM disk's virtual disk, size bytes); the plan
// from Decide comes back unchanged when it stopped at nothing loops
// opens. A layer kind is one case in openLayer.
func (h *Host) planLayers(base io.ReaderAt, size, baseOff int64, pr *probe.Result, plan Plan, in PlanInput, opts MountOptions) Plan {
	var stack []Layer
	var specs []layer.Spec
	var keys [][]byte
	var devs []layer.Device
	var lvs []LogicalVolume
	var first *opened // the bottom layer
	defer func() {
		for _, d := range devs {
			d.Close()
		}
	}()
	part := 0
	fail := func(err error) Plan {
		layer.Zero(keys)
		p := nonePlan(err)
		p.Disk, p.Partition, p.Layers, p.LVs = plan.Disk, part, stack, lvs
		return p
	}
	// The index route reads the image file itself: not through a layer.
	in.Disk, in.Partition, in.Index, in.IndexAsRoot = nil, 0, false, false
	cur, curOff, curPr, curPlan := base, baseOff, pr, plan
	var reasons []string
	for depth := 0; ; depth++ {
		typ, off, n, p, ok := nextLayer(curPr, curPlan, opts)
		if !ok {
			if depth == 0 {
				return noLayer(plan, opts)
			}
			break
		}
		var what string
		if depth == 0 {
			what = where(p)
			if part = p; p > 0 && typ != "LVM2_member" {
				stack = append(stack, Layer{Kind: LayerPartition, Name: fmt.Sprintf("partition %d", p), Offset: off, Size: n})
			}
		} else {
			what = "the " + stack[len(stack)-1].Name + " volume"
		}
		if depth >= maxLayers {
			return fail(fmt.Errorf("%s holds more than %d layers", what, maxLayers))
		}
		var o *opened
		var err error
		if typ == "LVM2_member" {
			var found []LogicalVolume
			o, found, err = openLVM(io.NewSectionReader(cur, off, n), curPr, what, opts, depth == 0)
			lvs = append(lvs, found...)
		} else {
			o, err = h.openLayer(typ, io.NewSectionReader(cur, off, n), n, what, opts)
		}
		if o != nil {
			if depth == 0 && o.part > 0 {
				part = o.part
			}
			stack = append(stack, o.parts...)
			if o.layer.Offset == 0 && o.layer.Size == 0 {
				o.layer.Offset, o.layer.Size = off, n
			}
			stack = append(stack, o.layer)
		}
		if err != nil {
			return fail(err)
		}
		o.spec.Offset, o.spec.Size = curOff+off, n
		specs, devs = append(specs, o.spec), append(devs, o.dev)
		if depth == 0 {
			first = o
		}
		if o.key != nil {
			keys = append(keys, o.key)
		}
		inner, err := probe.Image(o.dev, o.dev.Size(), probe.Options{})
		if err != nil {
			return fail(fmt.Errorf("read the opened %s: %w", o.layer.Name, err))
		}
		in.Probe = &inner
		curPlan = Decide(in)
		cur, curOff, curPr = o.dev, 0, &inner
		opened := "opened"
		if o.key != nil {
			opened = "unlocked"
		}
		reasons = append(reasons, fmt.Sprintf("%s is %s, %s", what, o.layer.Name, opened))
	}
	p := curPlan
	p.Disk, p.Partition, p.Layers, p.LVs = plan.Disk, part, stack, lvs
	if p.Label == "" {
		p.Label = stack[len(stack)-1].Label
	}
	chain := strings.Join(reasons, "; ")
	if p.Route == RouteNone {
		layer.Zero(keys)
		p.Err = fmt.Errorf("%s: %w", chain, p.Err)
		p.Reason = p.Err.Error()
		return p
	}
	p.stack, p.keys = specs, keys
	if len(lvs) > 0 {
		p.pvFiles = opts.PVs
	}
	p.ReadOnly, p.ReadOnlyWhy = true, "loops reads the LUKS, LVM and md layers it opens read-only"
	if len(specs) == 1 && first.plain && plan.Disk == nil && baseOff == 0 && opts.SizeLimit == 0 && p.Route == RouteKernel {
		// A linear LV in one run of the image: a loop device reads it in
		// place (as losetup --offset would), no server in between.
		if p.SizeLimit == 0 {
			p.SizeLimit = first.dev.Size() - p.Offset
		}
		p.Offset += first.at
		p.stack, p.InPlace = nil, true
		chain += ", one run of the image, read in place"
	}
	p.Reason = fmt.Sprintf("%s (read-only): %s", chain, p.Reason)
	if plan.Disk != nil {
		p.Reason = fmt.Sprintf("a %s disk image (a %s virtual disk): %s", plan.Disk.Format, HumanSize(plan.Disk.VirtualSize), p.Reason)
	}
	return p
}

// openLayer opens the container of blkid type typ in r (n bytes), what
// naming where it is: its Layer (also on error, when its header was
// read), how to open it again, its key and its output.
func (h *Host) openLayer(typ string, r io.ReaderAt, n int64, what string, opts MountOptions) (*opened, error) {
	switch typ {
	case "crypto_LUKS":
		return openLUKS(r, n, what, opts)
	case "linux_raid_member":
		return openMD(r, n, what)
	}
	return nil, fmt.Errorf("loops does not open %s volumes", typ)
}

// openLUKS reads a LUKS header and unlocks the volume with the
// passphrase opts asks for.
func openLUKS(r io.ReaderAt, n int64, what string, opts MountOptions) (*opened, error) {
	vol, err := luks.Open(r, n)
	if err != nil {
		return nil, &multiError{msg: "cannot read the LUKS header: " + err.Error(), errs: []error{ErrEncrypted, err}}
	}
	l := luksLayer(vol.Info())
	l.Locked = true
	o := &opened{layer: l, spec: layer.Spec{Kind: layer.KindLUKS}}
	if opts.Passphrase == nil {
		return o, &multiError{msg: fmt.Sprintf("%s is %s, locked", what, l.Name), errs: []error{ErrLocked, ErrEncrypted}}
	}
	dev, err := unlock(vol, l, opts)
	if err != nil {
		return o, err
	}
	o.layer.Locked = false
	o.key, o.dev = dev.VolumeKey(), dev
	return o, nil
}

// planDiskLayers is planLayers in the virtual disk of a VM disk image.
func (h *Host) planDiskLayers(abs string, di *DiskImage, plan Plan, in PlanInput, opts MountOptions) Plan {
	if _, _, _, _, ok := nextLayer(di.Inner, plan, opts); !ok {
		return noLayer(plan, opts)
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

// layerTarget finds the container loops opens that Decide stopped at
// (the whole image, or the partition asked for, or the only one that
// holds something): its blkid type and where it is.
func layerTarget(pr *probe.Result, plan Plan) (typ string, off, size int64, part int, ok bool) {
	var ce *ContainerError
	if !errors.As(plan.Err, &ce) || !opensLayer(ce.Type) {
		return "", 0, 0, 0, false
	}
	if ce.Partition == 0 {
		return ce.Type, 0, pr.Size, 0, true
	}
	for _, p := range pr.Partitions {
		if p.Number == ce.Partition && p.Start+p.Size <= pr.Size {
			return ce.Type, p.Start, p.Size, p.Number, true
		}
	}
	return "", 0, 0, 0, false
}

// opensLayer tells whether loops opens containers of blkid type typ as
// a layer (openLayer, or openLVM, has a case for it).
func opensLayer(typ string) bool {
	return typ == "crypto_LUKS" || typ == "LVM2_member" || typ == "linux_raid_member"
}

// nextLayer is layerTarget, and an LVM VG where Decide did not stop at
// one PV: when MountOptions.LV names an LV, or the only partitions that
// could hold a filesystem are PVs (one VG over several partitions). A VG
// is opened over the whole device below (off 0, size its size): its PVs
// are found in it.
func nextLayer(pr *probe.Result, plan Plan, opts MountOptions) (typ string, off, size int64, part int, ok bool) {
	if pr == nil {
		return "", 0, 0, 0, false
	}
	regions := pvRegions(pr)
	if len(regions) > 0 && (opts.LV != "" || onlyPVs(pr, plan, opts)) {
		return "LVM2_member", 0, pr.Size, 0, true
	}
	if opts.LV != "" && opts.Partition == 0 && errors.Is(plan.Err, ErrChoosePartition) {
		// The LV is inside another layer: the only partition loops opens.
		var found *probe.Partition
		for i, p := range pr.Partitions {
			if p.FS != nil && opensLayer(p.FS.Type) && p.Start+p.Size <= pr.Size {
				if found != nil {
					return "", 0, 0, 0, false
				}
				found = &pr.Partitions[i]
			}
		}
		if found != nil {
			return found.FS.Type, found.Start, found.Size, found.Number, true
		}
	}
	typ, off, size, part, ok = layerTarget(pr, plan)
	if ok && typ == "LVM2_member" {
		return typ, 0, pr.Size, part, true // the VG may span other partitions too
	}
	return typ, off, size, part, ok
}

// onlyPVs tells whether Decide stopped at choosing among partitions that
// are all LVM PVs, none having been asked for.
func onlyPVs(pr *probe.Result, plan Plan, opts MountOptions) bool {
	if opts.Partition != 0 || !errors.Is(plan.Err, ErrChoosePartition) {
		return false
	}
	for _, p := range pr.Partitions {
		if p.FS != nil && (p.FS.Kind == probe.KindFilesystem || opensLayer(p.FS.Type)) && p.FS.Type != "LVM2_member" {
			return false
		}
	}
	return true
}

// noLayer is the plan when there is no layer to open: Decide's, unless an
// LV was asked for.
func noLayer(plan Plan, opts MountOptions) Plan {
	if opts.LV == "" {
		return plan
	}
	p := nonePlan(reasonf(ErrNoLV, "there is no LVM physical volume in the image, so no logical volume %s", opts.LV))
	p.Disk = plan.Disk
	return p
}

// luksLayer describes a LUKS header (its offset and size are where it
// lies, filled in by the caller).
func luksLayer(info luks.Info) Layer {
	var slots []string
	for _, k := range info.Keyslots {
		slots = append(slots, fmt.Sprintf("%d (%s)", k.ID, k.KDF))
	}
	detail := fmt.Sprintf("%s, %d-bit key, %d-byte sectors, keyslots %s", info.Cipher, info.KeyBits, info.SectorSize, strings.Join(slots, ", "))
	if len(info.Tokens) > 0 {
		detail += ", tokens " + strings.Join(info.Tokens, ", ") + " (not used)"
	}
	return Layer{Kind: LayerLUKS, Name: fmt.Sprintf("LUKS%d", info.Version), Label: info.Label, UUID: info.UUID, Detail: detail}
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
