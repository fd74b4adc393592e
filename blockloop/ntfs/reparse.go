package ntfs

import (
	"encoding/binary"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Reparse tags served as symbolic links.
const (
	tagMountPoint = 0xA0000003 // a junction
	tagSymlink    = 0xA000000C
	tagLXSymlink  = 0xA000001D // WSL
)

// reparseTarget reads a $REPARSE_POINT value b: a symbolic link, junction
// or WSL symlink gives its target as ntfs-3g shows it (ok true); other tags
// (deduplication, OneDrive, WOF compression) give ok false and, for a file,
// an error its reads return.
func (f *FS) reparseTarget(b []byte, isDir bool, parent *Entry) (string, bool, error) {
	if len(b) < 8 {
		return "", false, formatErr(-1, "reparse point of %d bytes", len(b))
	}
	tag := binary.LittleEndian.Uint32(b)
	n := int(binary.LittleEndian.Uint16(b[4:]))
	if 8+n > len(b) {
		return "", false, formatErr(-1, "reparse data of %d bytes overruns its %d", n, len(b)-8)
	}
	d := b[8 : 8+n]
	switch tag {
	case tagLXSymlink:
		if len(d) < 4 || binary.LittleEndian.Uint32(d) != 2 {
			return "", false, formatErr(-1, "WSL symlink of version %d", binary.LittleEndian.Uint32(append(d, 0, 0, 0, 0)))
		}
		return string(d[4:]), true, nil
	case tagMountPoint, tagSymlink:
		hdr := 8
		if tag == tagSymlink {
			hdr = 12
		}
		if len(d) < hdr {
			return "", false, formatErr(-1, "reparse data of %d bytes", len(d))
		}
		so, sl := int(binary.LittleEndian.Uint16(d)), int(binary.LittleEndian.Uint16(d[2:]))
		buf := d[hdr:]
		if so+sl > len(buf) || sl&1 != 0 || sl == 0 {
			return "", false, formatErr(-1, "reparse target of %d bytes at %d overruns its %d", sl, so, len(buf))
		}
		sub := decodeUTF16(buf[so : so+sl])
		relative := tag == tagSymlink && binary.LittleEndian.Uint32(d[8:])&1 != 0
		if t, ok := f.linkTarget(sub, tag == tagMountPoint, relative, isDir); ok {
			return t, true, nil
		}
		return "", false, readkit.Unsupported("ntfs", "reparse target %q", sub)
	}
	return "", false, readkit.Unsupported("ntfs", "reparse point with tag 0x%08x (not a link: WOF, deduplication, cloud files...)", tag)
}

// linkTarget translates a Windows link target as ntfs-3g does: a relative
// target with "/" for "\"; a full one ("\??\C:\dir", "C:\dir", "\dir")
// below the mount point when it names a file of this volume, else below
// MOUNTPOINT/.NTFS-3G/ (where a user can link drive letters).
func (f *FS) linkTarget(sub string, junction, relative, isDir bool) (string, bool) {
	slash := strings.ReplaceAll(sub, `\`, "/")
	full := strings.HasPrefix(sub, `\??\`) || strings.HasPrefix(sub, `\\?\`)
	switch {
	case junction || (full && !relative):
		if !full {
			return "", false
		}
		p := sub[4:]
		if len(p) >= 3 && p[1] == ':' && p[2] == '\\' {
			if t, ok := f.onVolume(p[3:], isDir, p[:1]); ok {
				return t, true
			}
			return f.mountPoint + "/.NTFS-3G/" + strings.ToUpper(p[:1]) + strings.ReplaceAll(p[1:], `\`, "/"), true
		}
		if strings.HasPrefix(p, "Volume{") && strings.HasSuffix(p, `\`) {
			return f.mountPoint + "/.NTFS-3G/" + strings.ReplaceAll(p[:len(p)-1], `\`, "/"), true
		}
		return "", false
	case !relative:
		return "", false
	case len(sub) >= 3 && sub[1] == ':' && sub[2] == '\\':
		if t, ok := f.onVolume(sub[3:], isDir, sub[:1]); ok {
			return t, true
		}
		return f.mountPoint + "/.NTFS-3G/" + strings.ToUpper(sub[:1]) + slash[1:], true
	case strings.HasPrefix(sub, `\`):
		return f.onVolume(sub[1:], isDir, "")
	}
	return slash, true
}

// onVolume resolves a Windows path (no drive) from the root, ignoring
// case, and gives it below the mount point with the names' true case; the
// last name must be a directory when isDir (or a link). A drive letter the
// user mapped in /.NTFS-3G is not looked up.
func (f *FS) onVolume(p string, isDir bool, drive string) (string, bool) {
	if drive != "" {
		if m, k, ok := f.findFold(recRoot, ".NTFS-3G"); ok && k.attrs&dirFlag != 0 {
			if _, _, ok := f.findFold(m, strings.ToUpper(drive)+":"); ok {
				return "", false
			}
		}
	}
	dir := int64(recRoot)
	var parts []string
	var last fileNameKey
	names := strings.Split(p, `\`)
	if len(names) > 256 {
		return "", false
	}
	for i, name := range names {
		num, k, ok := f.findFold(dir, name)
		if !ok {
			return "", false
		}
		parts = append(parts, k.name)
		last, dir = k, num
		if k.attrs&AttrReparse != 0 {
			parts = append(parts, names[i+1:]...)
			break
		}
		if k.attrs&dirFlag == 0 && i < len(names)-1 {
			return "", false
		}
	}
	if len(parts) > 0 && last.attrs&AttrReparse == 0 && (last.attrs&dirFlag != 0) != isDir {
		return "", false
	}
	return f.mountPoint + "/" + strings.Join(parts, "/"), true
}
