package blockloop

import (
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"sort"
	"strings"

	"github.com/loops-cli/loops/blockloop/layer"
	"github.com/loops-cli/loops/blockloop/layer/lvm"
	"github.com/loops-cli/loops/blockloop/probe"
)

// ErrChooseLV: more than one logical volume holds a filesystem and none
// was chosen (MountOptions.LV).
var ErrChooseLV = errors.New("more than one logical volume holds a filesystem")

// ErrNoLV: the logical volume asked for is in none of the volume groups
// found.
var ErrNoLV = lvm.ErrNoLV

// ErrMissingPV: the LV lies on a physical volume that is neither in the
// image nor among MountOptions.PVs.
var ErrMissingPV = errors.New("a physical volume of the volume group is missing")

// ErrUnsupportedLV: the LV has segments loops does not read (thin, raid,
// mirror, cache, vdo, snapshot); matches errors.ErrUnsupported.
var ErrUnsupportedLV = lvm.ErrUnsupported

// LogicalVolume is an LVM logical volume found in an image, as `lvs`
// shows it, with what it holds (probed when it can be read).
type LogicalVolume struct {
	VG    string   `json:"vg"`
	Name  string   `json:"name"`
	UUID  string   `json:"uuid"`
	Size  int64    `json:"size"`
	Types []string `json:"segment_types"`
	// FS, Label: what the LV holds, probed (blkid's TYPE and LABEL).
	FS    string `json:"fs,omitempty"`
	Label string `json:"label,omitempty"`
	// Why the LV cannot be read by loops ("" when it can): a segment type
	// loops does not read, a missing PV.
	Why string `json:"why,omitempty"`

	err   error
	inner *probe.Result
}

// FullName is VG/LV.
func (l LogicalVolume) FullName() string { return l.VG + "/" + l.Name }

// pvRegion is a PV in the device below: a partition (0: the whole
// device) at an offset, size bytes.
type pvRegion struct {
	part      int
	off, size int64
	file      string // a PV given as a file (MountOptions.PVs) instead
}

// pvRegions lists the LVM PVs pr found: the whole image, or its
// partitions that hold one.
func pvRegions(pr *probe.Result) []pvRegion {
	if pr.Type == "LVM2_member" {
		return []pvRegion{{off: 0, size: pr.Size}}
	}
	var out []pvRegion
	for _, p := range pr.Partitions {
		if p.FS != nil && p.FS.Type == "LVM2_member" && p.Start+p.Size <= pr.Size {
			out = append(out, pvRegion{part: p.Number, off: p.Start, size: p.Size})
		}
	}
	return out
}

// volumeGroup is a VG assembled from PVs in the device below (and files),
// with the regions its PVs are in.
type volumeGroup struct {
	vg      *lvm.VG
	regions []pvRegion
	sources []lvm.PVSource // the regions' readers, in order
	missing error          // a *lvm.MissingPVError, when PVs are missing
}

// assembleVGs reads the PVs in regions of base (and the PV files, opened
// by the caller into sources named by their paths) and assembles the VGs
// they make, grouped by VG UUID. Nothing is activated; the host's LVM
// never sees them.
func assembleVGs(base io.ReaderAt, regions []pvRegion, files []lvm.PVSource) ([]volumeGroup, error) {
	type pvFound struct {
		src    lvm.PVSource
		region pvRegion
		pv     *lvm.PV
	}
	var all []pvFound
	for _, r := range regions {
		src := lvm.PVSource{Name: where(r.part), R: io.NewSectionReader(base, r.off, r.size), Size: r.size}
		pv, err := lvm.ReadPV(src.R, src.Size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", src.Name, err)
		}
		all = append(all, pvFound{src, r, pv})
	}
	for _, f := range files {
		pv, err := lvm.ReadPV(f.R, f.Size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", f.Name, err)
		}
		all = append(all, pvFound{f, pvRegion{file: f.Name, size: f.Size}, pv})
	}
	// Group by the VG each PV's metadata names; PVs without metadata join
	// the VG whose metadata lists their UUID.
	groups := map[string][]pvFound{}
	var order []string
	for _, p := range all {
		if p.pv.Metadata == nil {
			continue
		}
		id := p.pv.Metadata.UUID
		if _, ok := groups[id]; !ok {
			order = append(order, id)
		}
		groups[id] = append(groups[id], p)
	}
	for _, p := range all {
		if p.pv.Metadata != nil {
			continue
		}
		for _, id := range order {
			if listsPV(groups[id][0].pv.Metadata, p.pv.UUID) {
				groups[id] = append(groups[id], p)
				break
			}
		}
	}
	var out []volumeGroup
	for _, id := range order {
		var srcs []lvm.PVSource
		var regs []pvRegion
		for _, p := range groups[id] {
			srcs, regs = append(srcs, p.src), append(regs, p.region)
		}
		vg, err := lvm.Assemble(srcs...)
		var miss *lvm.MissingPVError
		if errors.As(err, &miss) {
			out = append(out, volumeGroup{vg: miss.Partial, regions: regs, sources: srcs, missing: err})
			continue
		}
		if err != nil {
			return nil, err
		}
		out = append(out, volumeGroup{vg: vg, regions: regs, sources: srcs})
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w", lvm.ErrNoMetadata)
	}
	return out, nil
}

func listsPV(md *lvm.Metadata, uuid string) bool {
	for _, p := range md.PVs {
		if p.UUID == uuid {
			return true
		}
	}
	return false
}

// logicalVolumes lists the LVs of the VGs, each probed when loops can
// read it.
func logicalVolumes(vgs []volumeGroup) []LogicalVolume {
	var out []LogicalVolume
	for _, g := range vgs {
		for _, l := range g.vg.LVs() {
			lv := LogicalVolume{VG: l.VG, Name: l.Name, UUID: l.UUID, Size: l.Size, Types: l.Types}
			if !l.Openable {
				lv.err = l.Why
				lv.Why = l.Why.Error()
			} else if v, err := g.vg.Open(l.Name); err == nil {
				if inner, err := probe.Image(v, v.Size(), probe.Options{Part: true}); err == nil {
					lv.FS, lv.Label, lv.inner = inner.Type, inner.Label, &inner
				}
			}
			out = append(out, lv)
		}
	}
	return out
}

// holdsMountable tells whether an LV holds a filesystem, or an encrypted
// volume that may hold one.
func (l LogicalVolume) holdsMountable() bool {
	return l.inner != nil && (l.inner.Kind == probe.KindFilesystem || l.inner.Type == "crypto_LUKS")
}

// chooseLV picks the LV named want ("VG/LV", or "LV" when only one VG has
// it), or, with want "", the only one that holds a filesystem.
func chooseLV(lvs []LogicalVolume, want string) (LogicalVolume, error) {
	if want != "" {
		vgName, name, hasVG := strings.Cut(want, "/")
		if !hasVG {
			vgName, name = "", want
		}
		var found []LogicalVolume
		for _, l := range lvs {
			if l.Name == name && (!hasVG || l.VG == vgName) {
				found = append(found, l)
			}
		}
		switch {
		case len(found) == 0:
			return LogicalVolume{}, reasonf(ErrNoLV, "there is no logical volume %s; the image has %s", want, describeLVs(lvs))
		case len(found) > 1:
			return LogicalVolume{}, reasonf(ErrChooseLV, "%d volume groups have an LV %s: %s; name it VG/LV", len(found), name, describeLVs(found))
		case found[0].err != nil:
			return LogicalVolume{}, lvError(found[0].err)
		}
		return found[0], nil
	}
	var mountable []LogicalVolume
	for _, l := range lvs {
		if l.holdsMountable() {
			mountable = append(mountable, l)
		}
	}
	switch len(mountable) {
	case 1:
		return mountable[0], nil
	case 0:
		for _, l := range lvs {
			if l.err != nil { // what stops loops reading it may be what hides the filesystem
				e := lvError(l.err)
				e.msg = fmt.Sprintf("no logical volume loops can read holds a filesystem; the image has %s: %s", describeLVs(lvs), l.err)
				return LogicalVolume{}, e
			}
		}
		return LogicalVolume{}, reasonf(ErrNoMountable, "no logical volume holds a filesystem loops recognizes; the image has %s", describeLVs(lvs))
	}
	return LogicalVolume{}, reasonf(ErrChooseLV, "%d logical volumes hold a filesystem: %s; choose one",
		len(mountable), describeLVs(lvs))
}

// lvError is why an LV cannot be read, wrapping ErrMissingPV or
// ErrUnsupportedLV.
func lvError(err error) *multiError {
	var miss *lvm.MissingPVError
	if errors.As(err, &miss) {
		return &multiError{msg: err.Error(), errs: []error{ErrMissingPV, err}}
	}
	return &multiError{msg: err.Error(), errs: []error{ErrUnsupportedLV, err}}
}

// describeLVs lists LVs in one line: `vg/root (ext4 "root", 20 MiB), vg/swap (swap, 8 MiB)`.
func describeLVs(lvs []LogicalVolume) string {
	if len(lvs) == 0 {
		return "no logical volumes"
	}
	sorted := append([]LogicalVolume(nil), lvs...)
	sort.SliceStable(sorted, func(i, j int) bool { return sorted[i].FullName() < sorted[j].FullName() })
	var parts []string
	for _, l := range sorted {
		what := "no filesystem"
		switch {
		case l.Why != "":
			what = "not readable: " + strings.Join(l.Types, ", ")
		case l.FS != "":
			what = l.FS
			if l.Label != "" {
				what += fmt.Sprintf(" %q", l.Label)
			}
		}
		parts = append(parts, fmt.Sprintf("%s (%s, %s)", l.FullName(), what, HumanSize(l.Size)))
	}
	return strings.Join(parts, ", ")
}

// openLVM assembles the VGs whose PVs are in r (what pr probed of it; and,
// first in the stack, MountOptions.PVs), chooses the LV (MountOptions.LV,
// or the only one holding a filesystem) and opens it. It returns the LVs
// found, for the plan, also on error.
func openLVM(r io.ReaderAt, pr *probe.Result, what string, opts MountOptions, first bool) (*opened, []LogicalVolume, error) {
	var files []lvm.PVSource
	dev := &lvDevice{}
	fail := func(err error) error { dev.Close(); return err }
	if first {
		for _, path := range opts.PVs {
			f, err := os.Open(path)
			if err != nil {
				return nil, nil, fail(fmt.Errorf("PV %s: %w", path, err))
			}
			dev.files = append(dev.files, f)
			st, err := f.Stat()
			if err != nil {
				return nil, nil, fail(fmt.Errorf("PV %s: %w", path, err))
			}
			files = append(files, lvm.PVSource{Name: path, R: f, Size: st.Size()})
		}
	}
	vgs, err := assembleVGs(r, pvRegions(pr), files)
	if err != nil {
		return nil, nil, fail(fmt.Errorf("%s: %w", what, err))
	}
	lvs := logicalVolumes(vgs)
	lv, err := chooseLV(lvs, opts.LV)
	if err != nil {
		return nil, lvs, fail(err)
	}
	var g volumeGroup
	for _, c := range vgs {
		if c.vg.Name == lv.VG {
			g = c
		}
	}
	if dev.Volume, err = g.vg.Open(lv.Name); err != nil {
		return nil, lvs, fail(lvError(err))
	}
	o := &opened{dev: dev}
	if r, off, ok := dev.Extent(); ok {
		for i, src := range g.sources {
			if g.regions[i].file == "" && sameReader(src.R, r) {
				o.plain, o.at = true, g.regions[i].off+off
			}
		}
	}
	var refs []layer.PVRef
	var on []string
	for _, reg := range g.regions {
		if reg.file != "" {
			refs = append(refs, layer.PVRef{File: slices.Index(opts.PVs, reg.file)})
			on = append(on, reg.file)
			continue
		}
		refs = append(refs, layer.PVRef{Offset: reg.off, Size: reg.size, File: -1})
		on = append(on, where(reg.part))
		if reg.part > 0 {
			o.parts = append(o.parts, Layer{Kind: LayerPartition, Name: fmt.Sprintf("partition %d", reg.part), Offset: reg.off, Size: reg.size})
		}
	}
	if len(g.regions) == 1 {
		o.part = g.regions[0].part
	}
	segs := 0
	for _, m := range g.vg.Metadata.LVs {
		if m.Name == lv.Name {
			segs = len(m.Segments)
		}
	}
	o.layer = Layer{Kind: LayerLVM, Name: "LVM2 " + lv.FullName(), UUID: lv.UUID,
		Detail: fmt.Sprintf("%s, %d segment(s) on %s", strings.Join(lv.Types, ", "), segs, strings.Join(on, ", "))}
	o.spec = layer.Spec{Kind: layer.KindLVM, Name: layer.LVMName(lv.FullName(), refs)}
	return o, lvs, nil
}

// sameReader tells whether two readers are the same (pointers assembleVGs
// made).
func sameReader(a, b io.ReaderAt) bool {
	x, ok1 := a.(*io.SectionReader)
	y, ok2 := b.(*io.SectionReader)
	return ok1 && ok2 && x == y
}

// lvDevice is an LV as a layer's output; closing it closes the PV files
// it reads.
type lvDevice struct {
	*lvm.Volume
	files []*os.File
}

func (d *lvDevice) Close() error {
	for _, f := range d.files {
		f.Close()
	}
	d.files = nil
	return nil
}

// withLVs adds the LVs of the VGs whose PVs pr found in r to a plan that
// did not open them, for probe output; when several partitions hold a
// filesystem, the error names the LVs too (ErrChooseLV).
func withLVs(plan Plan, r io.ReaderAt, pr *probe.Result) Plan {
	regions := pvRegions(pr)
	if len(regions) == 0 {
		return plan
	}
	vgs, err := assembleVGs(r, regions, nil)
	if err != nil {
		return plan
	}
	plan.LVs = logicalVolumes(vgs)
	if errors.Is(plan.Err, ErrChoosePartition) {
		plan.Err = &multiError{msg: plan.Err.Error() + "; the LVM volume groups hold " + describeLVs(plan.LVs), errs: []error{plan.Err, ErrChooseLV}}
		plan.Reason = plan.Err.Error()
	}
	return plan
}
