package stress

import (
	"encoding/binary"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/iso9660/isotest"
)

// Crafting ISO 9660 images: a small plain image from xorriso (no Rock
// Ridge, no Joliet, so the primary tree is the one served), then its bytes
// edited in place.

const sector = 2048

// isoImage is an image file with helpers to find and edit its records.
type isoImage struct {
	t    testing.TB
	path string
	b    []byte
}

// plainISO builds a plain ISO 9660 image of a small tree:
//
//	/README.TXT, /SUB/INNER/DEEP.TXT, /SUB/FILE.TXT, /BIG.BIN (size bytes)
func plainISO(t testing.TB, dir string, label string, big int) *isoImage {
	t.Helper()
	src := filepath.Join(dir, "isosrc")
	writeFile(t, filepath.Join(src, "README.TXT"), []byte("readme\n"), 0o644)
	writeFile(t, filepath.Join(src, "SUB", "FILE.TXT"), []byte("in sub\n"), 0o644)
	writeFile(t, filepath.Join(src, "SUB", "INNER", "DEEP.TXT"), []byte("deep\n"), 0o644)
	if big > 0 {
		data := make([]byte, big)
		x := uint32(88172645)
		for i := range data {
			x ^= x << 13
			x ^= x >> 17
			x ^= x << 5
			data[i] = byte(x)
		}
		writeFile(t, filepath.Join(src, "BIG.BIN"), data, 0o644)
	}
	built := isotest.BuildISO(t, src, "-V", label)
	os.RemoveAll(src)
	b, err := os.ReadFile(built)
	if err != nil {
		t.Fatal(err)
	}
	return &isoImage{t: t, path: built, b: b}
}

// save writes the edited bytes to a new file in dir.
func (im *isoImage) save(dir, name string) string {
	im.t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, im.b, 0o644); err != nil {
		im.t.Fatal(err)
	}
	return p
}

func (im *isoImage) clone() *isoImage {
	return &isoImage{t: im.t, path: im.path, b: append([]byte(nil), im.b...)}
}

const pvdOff = 16 * sector

// record is the byte offset of a directory record in the image.
type record int

// root is the root directory record inside the PVD.
func (im *isoImage) root() record { return record(pvdOff + 156) }

func (im *isoImage) extent(r record) uint32 { return binary.LittleEndian.Uint32(im.b[int(r)+2:]) }
func (im *isoImage) size(r record) uint32   { return binary.LittleEndian.Uint32(im.b[int(r)+10:]) }

// setExtent and setSize write both-endian fields, as the format has them.
func (im *isoImage) setExtent(r record, lba uint32) {
	binary.LittleEndian.PutUint32(im.b[int(r)+2:], lba)
	binary.BigEndian.PutUint32(im.b[int(r)+6:], lba)
}

func (im *isoImage) setSize(r record, n uint32) {
	binary.LittleEndian.PutUint32(im.b[int(r)+10:], n)
	binary.BigEndian.PutUint32(im.b[int(r)+14:], n)
}

// child finds the record named name (without ";1") in directory r.
func (im *isoImage) child(r record, name string) record {
	im.t.Helper()
	start := int(im.extent(r)) * sector
	end := start + int(im.size(r))
	for s := start; s < end; s += sector {
		for off := s; off < s+sector; {
			n := int(im.b[off])
			if n == 0 {
				break
			}
			idLen := int(im.b[off+32])
			id := string(im.b[off+33 : off+33+idLen])
			if strings.TrimSuffix(id, ";1") == name {
				return record(off)
			}
			off += n
		}
	}
	im.t.Fatalf("no record %q in the directory at sector %d", name, im.extent(r))
	return 0
}

// dot is the "." record of directory r (the first record of its extent).
func (im *isoImage) dot(r record) record { return record(int(im.extent(r)) * sector) }

// setLabel writes the PVD volume identifier (32 bytes, space padded),
// whatever bytes it holds.
func (im *isoImage) setLabel(label string) {
	im.t.Helper()
	if len(label) > 32 {
		im.t.Fatalf("label %q is over 32 bytes", label)
	}
	copy(im.b[pvdOff+40:pvdOff+72], []byte(label+strings.Repeat(" ", 32-len(label))))
}

// setPathTableSize writes the PVD's path table size (both-endian at 132).
func (im *isoImage) setPathTableSize(n uint32) {
	binary.LittleEndian.PutUint32(im.b[pvdOff+132:], n)
	binary.BigEndian.PutUint32(im.b[pvdOff+136:], n)
}
