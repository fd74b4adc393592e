package lvm

import (
	"fmt"
	"io"
	"slices"
	"strings"
)

// PVSource is one PV to assemble: a reader over it, its size, and a name
// for errors (a file, a partition).
type PVSource struct {
	Name string
	R    io.ReaderAt
	Size int64
}

// VG is an assembled volume group: its metadata and the PVs found.
type VG struct {
	Metadata
	// Sources maps a PV's metadata name ("pv0") to the source holding it;
	// a missing PV has none.
	Sources map[string]PVSource
}

// LV is a logical volume as `lvs -o lv_name,lv_size,segtype` shows it,
// with whether VG.Open can read it and, if not, why.
type LV struct {
	VG, Name string
	UUID     string
	Size     int64    // bytes
	Types    []string // the segment types as lvs names them ("linear" for one stripe), each once, in order
	Visible  bool
	Openable bool
	Why      error // why not Openable (a *SegmentTypeError, *MissingPVError...)
}

// Assemble reads the PVs and puts together the VG they make, from the
// metadata of the highest seqno any of them holds, matching PVs by UUID
// (like `vgchange -ay` without device-mapper: nothing is activated). All
// sources must be PVs of one VG. When the metadata names PVs not among
// the sources, it returns a *MissingPVError whose Partial VG can still open
// the LVs on the PVs present.
func Assemble(pvs ...PVSource) (*VG, error) {
	if len(pvs) == 0 {
		return nil, fmt.Errorf("lvm: no PVs to assemble")
	}
	read := make([]*PV, len(pvs))
	var best *PV
	for i, s := range pvs {
		pv, err := ReadPV(s.R, s.Size)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", s.Name, err)
		}
		for j := range i {
			if read[j].UUID == pv.UUID {
				return nil, fmt.Errorf("lvm: %s and %s are the same PV %s (a copy, or one member of a mirror)", pvs[j].Name, s.Name, pv.UUID)
			}
		}
		read[i] = pv
		if pv.Metadata != nil && (best == nil || pv.Seqno > best.Seqno) {
			best = pv
		}
	}
	if best == nil {
		return nil, ErrNoMetadata
	}
	vg := &VG{Metadata: *best.Metadata, Sources: map[string]PVSource{}}
	for i, pv := range read {
		if pv.Metadata != nil && pv.Metadata.UUID != vg.UUID {
			return nil, fmt.Errorf("lvm: %s is a PV of VG %s, not of %s: assemble them apart", pvs[i].Name, pv.VGName, vg.Name)
		}
		m := vg.pvByUUID(pv.UUID)
		if m == nil {
			return nil, fmt.Errorf("lvm: %s (PV %s) is not in VG %s", pvs[i].Name, pv.UUID, vg.Name)
		}
		vg.Sources[m.Name] = pvs[i]
	}
	var missing []string
	for _, m := range vg.PVs {
		if _, ok := vg.Sources[m.Name]; !ok {
			missing = append(missing, m.UUID)
		}
	}
	if len(missing) > 0 {
		return nil, &MissingPVError{VG: vg.Name, UUIDs: missing, Partial: vg}
	}
	return vg, nil
}

func (vg *VG) pvByUUID(u string) *MetaPV {
	for i := range vg.PVs {
		if strings.ReplaceAll(vg.PVs[i].UUID, "-", "") == strings.ReplaceAll(u, "-", "") {
			return &vg.PVs[i]
		}
	}
	return nil
}

// LVs lists the VG's LVs, hidden ones (sub-LVs of pools, mirrors, raids)
// left out, like `lvs`.
func (vg *VG) LVs() []LV {
	var out []LV
	for i := range vg.Metadata.LVs {
		m := &vg.Metadata.LVs[i]
		if !m.Visible() {
			continue
		}
		lv := LV{VG: vg.Name, Name: m.Name, UUID: m.UUID, Size: m.Extents() * vg.ExtentSize, Visible: true}
		for _, s := range m.Segments {
			if t := s.displayType(); !slices.Contains(lv.Types, t) {
				lv.Types = append(lv.Types, t)
			}
		}
		_, lv.Why = vg.plan(m)
		lv.Openable = lv.Why == nil
		out = append(out, lv)
	}
	return out
}

// Open returns a reader over the LV named name (its bare name, or VG/LV),
// like reading /dev/VG/LV. Only LVs of striped and linear segments on
// present PVs open.
func (vg *VG) Open(name string) (*Volume, error) {
	if v, l, ok := strings.Cut(name, "/"); ok {
		if v != vg.Name {
			return nil, fmt.Errorf("lvm: %s: VG is %s: %w", name, vg.Name, ErrNoLV)
		}
		name = l
	}
	for i := range vg.Metadata.LVs {
		m := &vg.Metadata.LVs[i]
		if m.Name != name {
			continue
		}
		if !m.Visible() {
			return nil, fmt.Errorf("lvm: %s/%s is a hidden sub-LV: %w", vg.Name, name, ErrUnsupported)
		}
		return vg.plan(m)
	}
	return nil, fmt.Errorf("lvm: %s/%s: %w", vg.Name, name, ErrNoLV)
}

// plan maps the LV's segments onto the PVs' sources.
func (vg *VG) plan(m *MetaLV) (*Volume, error) {
	v := &Volume{}
	var missing []string
	for _, s := range m.Segments {
		if !isStriped(s.Type) {
			return nil, &SegmentTypeError{LV: vg.Name + "/" + m.Name, Type: s.Type}
		}
		seg := volSegment{start: s.StartExtent * vg.ExtentSize, size: s.ExtentCount * vg.ExtentSize, chunk: s.StripeSize}
		per := s.ExtentCount / int64(len(s.Stripes)) * vg.ExtentSize
		for _, st := range s.Stripes {
			pv := vg.pv(st.PV)
			src, ok := vg.Sources[st.PV]
			if !ok {
				if !slices.Contains(missing, pv.UUID) {
					missing = append(missing, pv.UUID)
				}
				continue
			}
			off := pv.PEStart + st.StartExtent*vg.ExtentSize
			if off > src.Size || per > src.Size-off {
				return nil, formatErr(off, "%s/%s: extents up to byte %d of PV %s, which has %d bytes", vg.Name, m.Name, off+per, src.Name, src.Size)
			}
			seg.areas = append(seg.areas, area{pv: st.PV, r: src.R, off: off})
		}
		v.segs = append(v.segs, seg)
		v.size += seg.size
	}
	if len(missing) > 0 {
		return nil, &MissingPVError{VG: vg.Name, UUIDs: missing}
	}
	return v, nil
}
