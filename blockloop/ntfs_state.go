package blockloop

import (
	"io"
	"strings"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/blockloop/ntfs"
)

// ntfsUnclean says, for the reason of a plan, why the NTFS volume in r
// (size bytes) is not one Windows shut down fully ("" when it is, or when
// it cannot be read: the mount then says what is wrong).
func ntfsUnclean(r io.ReaderAt, size int64) string {
	f, err := ntfs.Open(r, size)
	if err != nil {
		return ""
	}
	i := f.Info()
	var why []string
	if i.Hibernated {
		why = append(why, "hibernated or fast startup: hiberfil.sys")
	}
	if i.Dirty {
		why = append(why, "marked dirty")
	}
	if i.LogNotClean {
		why = append(why, "its $LogFile has transactions to replay")
	}
	if len(why) == 0 {
		return ""
	}
	return "Windows did not shut this NTFS volume down fully (" + strings.Join(why, "; ") +
		"): it is served read-only as it is; writing to it would need Windows to shut down fully first"
}

// noteNTFSState adds to an NTFS plan whether Windows shut the volume down
// fully, reading it from img (a VM disk image's virtual disk when the plan
// has one); an unclean volume is mounted read-only.
func (h *Host) noteNTFSState(img io.ReaderAt, abs string, size int64, plan *Plan) {
	if plan.Route == RouteNone || (plan.Type != "ntfs" && plan.Type != "ntfs3") {
		return
	}
	r := img
	if plan.Disk != nil {
		d, err := disk.Open(abs)
		if err != nil && h.OpenVirtualDisk != nil {
			d, err = h.OpenVirtualDisk(abs)
		}
		if err != nil {
			return
		}
		defer d.Close()
		r, size = d, d.Size()
	}
	n := size - plan.Offset
	if plan.SizeLimit > 0 {
		n = min(n, plan.SizeLimit)
	}
	if why := ntfsUnclean(sectionOf(r, plan.Offset, n), n); why != "" {
		plan.Reason += "; " + why
		plan.ReadOnly, plan.ReadOnlyWhy = true, why
	}
}
