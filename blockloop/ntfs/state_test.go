package ntfs

import (
	"encoding/binary"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
)

// residentValue is the image offset of the value of record num's resident
// attribute typ.
func residentValue(t *testing.T, f *FS, b []byte, num int64, typ uint32) int64 {
	t.Helper()
	fr, err := f.loadFile(num)
	if err != nil {
		t.Fatal(err)
	}
	a := findAttr(fr.all, typ, "")
	if a == nil || !a.resident {
		t.Fatalf("record %d: no resident attribute 0x%x", num, typ)
	}
	return a.off + int64(binary.LittleEndian.Uint16(b[a.off+0x14:]))
}

func TestDirty(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	if f.Info().Unclean() {
		t.Fatalf("a fresh volume: %+v", f.Info())
	}
	v := residentValue(t, f, b, recVolume, atVolumeInfo)
	notFixup(t, f.recordOffset(recVolume), v+10)
	b[v+10] |= 1
	i := mustOpen(t, b).Info()
	if !i.Dirty || !i.Unclean() || i.Hibernated || i.LogNotClean {
		t.Errorf("dirty flag set: %+v", i)
	}
}

// restartPage is a $LogFile restart page (4 KiB, fixups applied) whose
// restart area has a client in use and the given flags.
func restartPage(flags uint16) []byte {
	p := make([]byte, 4096)
	copy(p, "RSTR")
	binary.LittleEndian.PutUint16(p[4:], 0x1E) // update sequence array
	binary.LittleEndian.PutUint16(p[6:], 9)
	binary.LittleEndian.PutUint32(p[0x10:], 4096)
	binary.LittleEndian.PutUint32(p[0x14:], 4096)
	binary.LittleEndian.PutUint16(p[0x18:], 0x30) // restart area
	binary.LittleEndian.PutUint16(p[0x1A:], 1)
	binary.LittleEndian.PutUint16(p[0x1C:], 1)
	binary.LittleEndian.PutUint64(p[0x30:], 100) // current LSN
	binary.LittleEndian.PutUint16(p[0x38:], 1)
	binary.LittleEndian.PutUint16(p[0x3A:], 0xFFFF)
	binary.LittleEndian.PutUint16(p[0x3C:], 0) // a client in use
	binary.LittleEndian.PutUint16(p[0x3E:], flags)
	binary.LittleEndian.PutUint16(p[0x1E:], 1) // the update sequence number
	for i := 1; i <= 8; i++ {
		copy(p[0x1E+2*i:], p[i*512-2:i*512])
		binary.LittleEndian.PutUint16(p[i*512-2:], 1)
	}
	return p
}

func TestLogFileNotClean(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	fr, err := f.loadFile(recLogFile)
	if err != nil {
		t.Fatal(err)
	}
	at := findAttr(fr.all, atData, "").runs[0].lcn * f.clusterSize
	copy(b[at:], restartPage(0))
	if i := mustOpen(t, b).Info(); !i.LogNotClean || !i.Unclean() || i.Dirty {
		t.Errorf("a restart area with a client in use: %+v", i)
	}
	copy(b[at:], restartPage(0x0002))
	if i := mustOpen(t, b).Info(); i.LogNotClean {
		t.Errorf("a restart area marked clean: %+v", i)
	}
}

func TestEncrypted(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	num := int64(mustLookup(t, f, "plain.bin").Ino)
	v := residentValue(t, f, b, num, atStandardInfo)
	notFixup(t, f.recordOffset(num), v+33)
	b[v+33] |= AttrEncrypted >> 8
	g := mustOpen(t, b)
	e := mustLookup(t, g, "plain.bin")
	if err := e.DataErr(); !errors.Is(err, ErrEncrypted) || !errors.Is(err, fs.ErrPermission) {
		t.Errorf("DataErr %v", err)
	}
	if _, err := e.ReaderAt().ReadAt(make([]byte, 10), 0); !errors.Is(err, ErrEncrypted) {
		t.Errorf("read: %v", err)
	}
	if e.Size != 200<<10 {
		t.Errorf("size %d", e.Size)
	}
	healthy(t, g, "a.txt", "comp/text.txt")
}

// TestHibernated: a hiberfil.sys that begins with "hibr" (hibernation) or
// "wake" (resumed) marks the volume; ntfs-3g then mounts it read-only only,
// the reader serves it (read-only) and says so.
func TestHibernated(t *testing.T) {
	smallImage(t) // root and the tools
	for _, magic := range []string{"hibr", "WAKE", "none"} {
		img := filepath.Join(t.TempDir(), "h.img")
		if err := ntfstest.Mkntfs(img, 8<<20, "HIBER"); err != nil {
			t.Fatal(err)
		}
		mp := t.TempDir()
		umount, err := ntfstest.Mount(img, mp)
		if err != nil {
			t.Fatal(err)
		}
		os.WriteFile(filepath.Join(mp, "hiberfil.sys"), append([]byte(magic), make([]byte, 8192)...), 0o644)
		os.WriteFile(filepath.Join(mp, "file.txt"), []byte("data\n"), 0o644)
		if err := umount(); err != nil {
			t.Fatal(err)
		}
		f := openImage(t, img, "")
		if got := f.Info().Hibernated; got != (magic != "none") {
			t.Errorf("%s: Hibernated %v", magic, got)
		}
		if magic == "hibr" {
			// ntfs-3g falls back to read-only on it.
			u, err := ntfstest.Mount(img, mp)
			if err != nil {
				t.Fatal(err)
			}
			werr := os.WriteFile(filepath.Join(mp, "new"), nil, 0o644)
			u()
			if werr == nil {
				t.Error("ntfs-3g mounted a hibernated volume read-write")
			}
		}
		if _, err := f.Lookup("file.txt"); err != nil {
			t.Error(err)
		}
	}
}
