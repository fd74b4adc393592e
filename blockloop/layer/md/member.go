package md

import (
	"errors"
	"fmt"
	"io"
)

const mdMagic = 0xa92b4efc

// Info is what a member's superblock says, as `mdadm --examine` shows it.
type Info struct {
	Version    string // "0.90", "1.0", "1.1", "1.2"
	Level      int
	LevelName  string // "raid1", "raid5", "linear"...
	UUID       string // the array's, as mdadm prints it (8:8:8:8 hex)
	Name       string // the array's name (1.x; "" for 0.90)
	RaidDisks  int
	Role       int // this member's slot; -1 spare, -2 faulty
	Events     uint64
	SuperAt    int64 // byte offset of the superblock
	DataOffset int64 // bytes from the member's start to the array's data
	ArraySize  int64 // bytes of array data (for RAID1, what each member holds)

	notAlone string // why the member cannot stand for the array ("" if it can)
}

// Member is one device of an md array.
type Member struct {
	info Info
	r    io.ReaderAt
}

// Open finds and checks the member's superblock (1.2, 1.1, 1.0, then
// 0.90, as mdadm looks). It needs read access only; it matches
// `mdadm --examine`.
func Open(r io.ReaderAt, size int64) (*Member, error) {
	if size <= 0 {
		return nil, ErrNotMember
	}
	tries := []struct {
		off  int64
		read func([]byte, int64, int64, string) (Info, error)
		ver  string
	}{
		{4096, decodeSuper1, "1.2"},
		{0, decodeSuper1, "1.1"},
		{super1EndOffset(size), decodeSuper1, "1.0"},
		{super0Offset(size), decodeSuper0, "0.90"},
	}
	var first error
	for _, tr := range tries {
		n := int64(super1Max)
		if tr.ver == "0.90" {
			n = super0Size
		}
		if tr.off < 0 || tr.off+n > size {
			continue
		}
		b := make([]byte, n)
		if _, err := r.ReadAt(b, tr.off); err != nil {
			return nil, fmt.Errorf("md: reading the superblock at byte %d: %w", tr.off, err)
		}
		if le32(b) != mdMagic {
			continue
		}
		info, err := tr.read(b, tr.off, size, tr.ver)
		if err != nil {
			if first == nil {
				first = err
			}
			continue
		}
		return &Member{info: info, r: r}, nil
	}
	if first != nil {
		return nil, first
	}
	return nil, ErrNotMember
}

// Info is the member's superblock.
func (m *Member) Info() Info { return m.info }

// Data returns the array's data: for a RAID1 member, the bytes at its data
// offset. Other levels, and members that do not hold the array's data
// alone, are refused (ErrUnsupported).
func (m *Member) Data() (*Data, error) {
	if m.info.Level != 1 {
		return nil, &LevelError{Level: m.info.Level, Name: m.info.LevelName}
	}
	if m.info.notAlone != "" {
		return nil, fmt.Errorf("md: this RAID1 member %s: %w", m.info.notAlone, ErrUnsupported)
	}
	return &Data{r: m.r, off: m.info.DataOffset, size: m.info.ArraySize}, nil
}

// Data is an md array's data read from one RAID1 member.
type Data struct {
	r         io.ReaderAt
	off, size int64
}

// Size is the array's size in bytes.
func (d *Data) Size() int64 { return d.size }

var errNegative = errors.New("md: negative offset")

// ReadAt reads the array's bytes at off.
func (d *Data) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, errNegative
	}
	if off >= d.size {
		return 0, io.EOF
	}
	want := p
	if int64(len(p)) > d.size-off {
		want = p[:d.size-off]
	}
	n, err := d.r.ReadAt(want, d.off+off)
	if n < len(want) {
		if err == nil || err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return n, err
	}
	if len(want) < len(p) {
		return n, io.EOF
	}
	return n, nil
}

// levelName is mdadm's name for a level (map_num(pers, level)).
func levelName(l int) string {
	switch l {
	case -4:
		return "multipath"
	case -5:
		return "faulty"
	case -1:
		return "linear"
	case 0:
		return "raid0"
	case 1, 4, 5, 6, 10:
		return fmt.Sprintf("raid%d", l)
	case -1000000:
		return "container"
	}
	return fmt.Sprintf("level %d", l)
}

// Locate tells where the array's bytes [off, off+n) lie in the member:
// its reader and the byte offset there (for a server to splice them).
func (d *Data) Locate(off, n int64) (r io.ReaderAt, at int64, ok bool) {
	if off < 0 || n <= 0 || off > d.size-n {
		return nil, 0, false
	}
	return d.r, d.off + off, true
}
