package layer

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/loops-cli/loops/blockloop/layer/lvm"
	"github.com/loops-cli/loops/blockloop/layer/md"
)

// PVRef is where a PV of an LVM layer lies: a range of the device below,
// or (File >= 0) the whole of files[File] given to Open.
type PVRef struct {
	Offset, Size int64
	File         int
}

// LVMName is the Name of an LVM layer's Spec: "VG/LV@" and its VG's PVs,
// each "OFFSET+SIZE" in the device below or "fN" for the Nth file, joined
// by ";" (a command line carries specs joined by commas).
func LVMName(lv string, pvs []PVRef) string {
	var b strings.Builder
	b.WriteString(lv + "@")
	for i, p := range pvs {
		if i > 0 {
			b.WriteByte(';')
		}
		if p.File >= 0 {
			fmt.Fprintf(&b, "f%d", p.File)
		} else {
			fmt.Fprintf(&b, "%d+%d", p.Offset, p.Size)
		}
	}
	return b.String()
}

// ParseLVMName reads what LVMName wrote.
func ParseLVMName(name string) (lv string, pvs []PVRef, err error) {
	lv, list, ok := strings.Cut(name, "@")
	if !ok || lv == "" || list == "" {
		return "", nil, fmt.Errorf("LVM layer %q: want VG/LV@PV;PV...", name)
	}
	for _, f := range strings.Split(list, ";") {
		if n, ok := strings.CutPrefix(f, "f"); ok {
			i, err := strconv.Atoi(n)
			if err != nil || i < 0 {
				return "", nil, fmt.Errorf("LVM layer %q: PV %q", name, f)
			}
			pvs = append(pvs, PVRef{File: i})
			continue
		}
		o, s, ok := strings.Cut(f, "+")
		off, err1 := strconv.ParseInt(o, 10, 64)
		size, err2 := strconv.ParseInt(s, 10, 64)
		if !ok || err1 != nil || err2 != nil || off < 0 || size <= 0 {
			return "", nil, fmt.Errorf("LVM layer %q: PV %q", name, f)
		}
		pvs = append(pvs, PVRef{Offset: off, Size: size, File: -1})
	}
	return lv, pvs, nil
}

// openLVM assembles the VG of the PVs name lists (in r, size bytes, or
// among files) and opens the LV it names.
func openLVM(r io.ReaderAt, size int64, name string, files []Source) (Device, error) {
	lv, refs, err := ParseLVMName(name)
	if err != nil {
		return nil, err
	}
	var srcs []lvm.PVSource
	for _, p := range refs {
		switch {
		case p.File >= len(files):
			return nil, fmt.Errorf("LVM layer %q: no PV file %d (%d given)", name, p.File, len(files))
		case p.File >= 0:
			f := files[p.File]
			srcs = append(srcs, lvm.PVSource{Name: f.Name, R: f.R, Size: f.Size})
		case p.Offset > size || p.Size > size-p.Offset:
			return nil, fmt.Errorf("LVM layer %q: a PV past the end of the device below (%d bytes)", name, size)
		default:
			srcs = append(srcs, lvm.PVSource{Name: fmt.Sprintf("PV at byte %d", p.Offset), R: io.NewSectionReader(r, p.Offset, p.Size), Size: p.Size})
		}
	}
	vg, err := lvm.Assemble(srcs...)
	var miss *lvm.MissingPVError
	if errors.As(err, &miss) {
		vg = miss.Partial // the LV may lie on the PVs present
	} else if err != nil {
		return nil, err
	}
	v, err := vg.Open(lv)
	if err != nil {
		return nil, err
	}
	return noClose{v}, nil
}

func openMD(r io.ReaderAt, size int64) (Device, error) {
	m, err := md.Open(r, size)
	if err != nil {
		return nil, err
	}
	d, err := m.Data()
	if err != nil {
		return nil, err
	}
	return noClose{d}, nil
}

// noClose is a reader with nothing of its own to close (what it reads is
// the device below's).
type noClose struct{ sizedReader }

type sizedReader interface {
	io.ReaderAt
	Size() int64
}

func (noClose) Close() error { return nil }
