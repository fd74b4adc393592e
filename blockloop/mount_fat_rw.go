package blockloop

import (
	"encoding/binary"
	"errors"
	"os"
	"strings"

	"golang.org/x/sys/unix"

	"github.com/loops-cli/loops/blockloop/kernfile"
)

// FAT read-write in userspace (`loops mount --rw` of a FAT image where the
// kernel has no vfat driver, or by a user who is not root): the checks
// made before the server is started. The server (blockloop/userfs) locks
// the image itself.

// rwUserspaceTypes are the types the userspace server writes.
var rwUserspaceTypes = map[string]bool{"vfat": true}

// checkUserspaceRW checks that plan's filesystem in the image abs can be
// served read-write: its type is FAT, the caller may write the image, no
// loops server holds it read-write (its flock), and no loop device reads
// its bytes (a kernel mount would write behind the server's back). It
// returns whether the volume is marked dirty (not cleanly unmounted).
func (h *Host) checkUserspaceRW(abs string, plan Plan) (dirty bool, err error) {
	if !rwUserspaceTypes[plan.Type] {
		return false, reasonf(ErrReadOnlyType, "loops serves %s read-only in userspace: only FAT (vfat) is written there", plan.Type)
	}
	f, err := kernfile.Open(abs, os.O_RDWR)
	if err != nil {
		return false, &multiError{msg: "cannot open the image read-write: " + unwrapPath(err).Error(), errs: []error{ErrImageReadOnly, unwrapPath(err)}}
	}
	defer f.Close()
	if err := checkNotServedRW(f); err != nil {
		return false, err
	}
	var st unix.Stat_t
	if err := unix.Fstat(int(f.Fd()), &st); err != nil {
		return false, err
	}
	devs, err := h.backing(st, abs)
	if err != nil {
		return false, err
	}
	end := rangeEnd(plan.Offset, plan.SizeLimit, st.Size)
	for _, d := range devs {
		if d.Offset < end && plan.Offset < rangeEnd(d.Offset, d.SizeLimit, st.Size) {
			where := "attached"
			if len(d.Mountpoints) > 0 {
				where = "mounted at " + strings.Join(d.Mountpoints, ", ")
			}
			return false, reasonf(ErrAlreadyMounted, "%s reads the same bytes (%s): the kernel and loops would both write them", d.Path, where)
		}
	}
	return fatDirty(f, plan.Offset), nil
}

// checkNotServedRW fails when a loops server holds img read-write (its
// flock): a kernel mount of the same bytes would write behind its back.
func checkNotServedRW(img *os.File) error {
	if err := unix.Flock(int(img.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		if errors.Is(err, unix.EWOULDBLOCK) {
			return reasonf(ErrAlreadyMounted, "a loops server has it open read-write")
		}
		return nil
	}
	unix.Flock(int(img.Fd()), unix.LOCK_UN)
	return nil
}

// imageFATDirty is fatDirty of the image file abs (false when it cannot
// be read): a read-only mount says it too, as the kernel's vfat does.
func imageFATDirty(abs string, off int64) bool {
	f, err := kernfile.Open(abs, os.O_RDONLY)
	if err != nil {
		return false
	}
	defer f.Close()
	return fatDirty(f, off)
}

// fatDirty tells whether the FAT volume at off of f is marked dirty: the
// boot sector's state byte (Linux's mark, what fsck.fat reports) or, on
// FAT16 and FAT32, the clean-shutdown bit of FAT entry 1 cleared (the
// mark of Windows).
func fatDirty(f *os.File, off int64) bool {
	var b [512]byte
	if _, err := f.ReadAt(b[:], off); err != nil {
		return false
	}
	le16 := func(o int) int64 { return int64(binary.LittleEndian.Uint16(b[o:])) }
	fat32 := le16(22) == 0
	sig, state := 38, 37
	if fat32 {
		sig, state = 66, 65
	}
	if b[sig] == 0x29 && b[state]&1 != 0 {
		return true
	}
	bps, spc, reserved := le16(11), int64(b[13]), le16(14)
	total := le16(19)
	if total == 0 {
		total = int64(binary.LittleEndian.Uint32(b[32:]))
	}
	fatSize := le16(22)
	if fat32 {
		fatSize = int64(binary.LittleEndian.Uint32(b[36:]))
	}
	rootSectors := (le16(17)*32 + bps - 1) / max(bps, 1)
	if spc == 0 || bps == 0 {
		return false
	}
	clusters := (total - reserved - int64(b[16])*fatSize - rootSectors) / spc
	var e [4]byte
	at := off + reserved*bps
	switch {
	case fat32:
		if _, err := f.ReadAt(e[:], at+4); err == nil {
			return binary.LittleEndian.Uint32(e[:])&0x08000000 == 0
		}
	case clusters >= 4085:
		if _, err := f.ReadAt(e[:2], at+2); err == nil {
			return binary.LittleEndian.Uint16(e[:])&0x8000 == 0
		}
	}
	return false
}
