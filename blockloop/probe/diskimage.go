package probe

import "github.com/loops-cli/loops/blockloop/disk"

// diskHead is how much of the start disk.Detect looks at (a vmdk
// descriptor is text; the binary formats need 8 to 68 bytes).
const diskHead = 4096

// probeDiskImage names a VM disk image by its magic, as disk.Detect does
// (the one place that knows the formats' magics).
func probeDiskImage(rd *reader, p *Result) bool {
	b := rd.at(0, int(min(rd.size, diskHead)))
	if b == nil {
		return false
	}
	typ := disk.Detect(b)
	if typ == "" {
		return false
	}
	p.Type, p.Kind = typ, KindDiskImage
	return true
}
