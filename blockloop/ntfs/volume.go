package ntfs

import (
	"encoding/binary"
	"fmt"
	"strings"
)

// readVolume reads $Volume: the label ($VOLUME_NAME), the version and the
// dirty flag ($VOLUME_INFORMATION).
func (f *FS) readVolume() error {
	fr, err := f.loadFile(recVolume)
	if err != nil {
		return fmt.Errorf("ntfs: $Volume: %w", err)
	}
	if a := findAttr(fr.all, atVolumeName, ""); a != nil && a.resident {
		f.info.Label = decodeUTF16(a.value)
	}
	a := findAttr(fr.all, atVolumeInfo, "")
	if a == nil || !a.resident || len(a.value) < 12 {
		return formatErr(fr.off, "$Volume has no $VOLUME_INFORMATION")
	}
	f.info.Version = fmt.Sprintf("%d.%d", a.value[8], a.value[9])
	f.info.Dirty = binary.LittleEndian.Uint16(a.value[10:])&0x0001 != 0
	return nil
}

// logNotClean tells whether $LogFile has transactions to replay: its
// newest restart area has clients in use and no "clean" flag, as ntfs-3g
// checks before mounting read-write. An empty log (all 0xFF, as mkntfs
// leaves it) is clean; one that cannot be read counts as not clean.
func (f *FS) logNotClean() bool {
	fr, err := f.loadFile(recLogFile)
	if err != nil {
		return true
	}
	a := findAttr(fr.all, atData, "")
	if a == nil {
		return true
	}
	s, err := f.newStream(a)
	if err != nil || s.size < 8192 {
		return true
	}
	newest, clean, found := uint64(0), true, false
	for _, at := range []int64{0, 4096} {
		b := make([]byte, 4096)
		if _, err := s.ReadAt(b, at); err != nil {
			return true
		}
		if allFF(b) {
			continue
		}
		if string(b[:4]) != "RSTR" {
			return true // "CHKD" or damaged
		}
		if ps := int64(binary.LittleEndian.Uint32(b[0x10:])); ps != 4096 {
			if ps < 512 || ps > 64<<10 || !isPow2(ps) || at != 0 || s.size < 2*ps {
				return true
			}
			b = make([]byte, ps)
			if _, err := s.ReadAt(b, at); err != nil {
				return true
			}
		}
		if applyFixups(b, -1) != nil {
			continue
		}
		ra := int(binary.LittleEndian.Uint16(b[0x18:]))
		if ra+16 > len(b) {
			continue
		}
		lsn := binary.LittleEndian.Uint64(b[ra:])
		if found && lsn < newest {
			continue
		}
		newest, found = lsn, true
		inUse := binary.LittleEndian.Uint16(b[ra+0x0C:])
		flags := binary.LittleEndian.Uint16(b[ra+0x0E:])
		clean = inUse == 0xFFFF || flags&0x0002 != 0
	}
	return !clean
}

func allFF(b []byte) bool {
	for _, c := range b {
		if c != 0xFF {
			return false
		}
	}
	return true
}

// hibernated tells whether the root's hiberfil.sys begins with "hibr" or
// "wake" (Windows hibernated, or shut down with fast startup).
func (f *FS) hibernated() bool {
	h := f.root.childFold("hiberfil.sys")
	if h == nil || h.Size < 4 || h.dataErr != nil || h.data == nil {
		return false
	}
	var b [4]byte
	if _, err := h.data.ReadAt(b[:], 0); err != nil {
		return false
	}
	return strings.EqualFold(string(b[:]), "hibr") || strings.EqualFold(string(b[:]), "wake")
}
