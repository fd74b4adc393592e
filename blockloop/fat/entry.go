package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"time"
	"unicode"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Attribute bits of a directory entry (Entry.Attr).
const (
	AttrReadOnly = 0x01
	AttrHidden   = 0x02
	AttrSystem   = 0x04
	AttrVolumeID = 0x08
	AttrDir      = 0x10
	AttrArchive  = 0x20
	attrLFN      = 0x0F
)

// Extent is a byte range of the image holding part of a file's data.
type Extent = readkit.Extent

// Entry is a file or directory. Its exported fields are read-only once Open
// or Entries returned it.
type Entry struct {
	Name string // the long (VFAT) name, else the 8.3 name; "/" for the root
	// ShortName is the 8.3 name as stored ("README.TXT"), without the NT
	// lower-case bits applied; "" for the root.
	ShortName string
	// Mode is 0755|ModeDir for a directory, 0644 for a file; the read-only
	// attribute makes a file 0444 (directories ignore it, as Linux does).
	Mode fs.FileMode
	Attr uint8 // the raw attribute bits (AttrReadOnly, AttrHidden, ...)
	// Size is a file's size; for a directory the bytes of its clusters.
	Size int64
	// Ino is a stable inode number: the byte offset in the image of the
	// entry's 8.3 directory entry; RootIno for the root.
	Ino uint64
	// ModTime is the last write time (2-second resolution); AccessTime the
	// last access date (midnight), or ModTime when unset; ChangeTime is
	// ModTime (FAT has no change time); BirthTime the creation time (10 ms
	// resolution), zero when unset. FAT records local time: they are read
	// in Options.Location. The root has none: all are the Unix epoch.
	ModTime    time.Time
	AccessTime time.Time
	ChangeTime time.Time
	BirthTime  time.Time
	// Extents hold a file's data, in order; the file is their
	// concatenation. Contiguous clusters are merged.
	Extents []Extent

	fs         *FS
	isRoot     bool
	cluster    uint32   // first cluster
	dirExtents []Extent // a directory's clusters
	dataErr    error

	dir readkit.Listing[*Entry]
}

// IsDir tells whether e is a directory.
func (e *Entry) IsDir() bool { return e.Mode.IsDir() }

// UnixMode is Mode as a POSIX st_mode (S_IFMT type bits and permissions).
func (e *Entry) UnixMode() uint32 { return readkit.UnixMode(e.Mode) }

// FileInfo is e as an fs.FileInfo (name, size, mode, ModTime); Sys is e.
func (e *Entry) FileInfo() fs.FileInfo {
	return readkit.FileInfo(e.Name, e.Size, e.Mode, e.ModTime, e)
}

// DataErr is why e's data (a directory's listing) cannot be read: a broken
// cluster chain (a loop, a cluster outside the volume or the image, a chain
// shorter than the size), or nil.
func (e *Entry) DataErr() error { return e.dataErr }

// Entries lists a directory, in image order, without "." and "..". The
// listing is read once and cached. Deleted entries, the volume label,
// long-name entries that belong to no 8.3 entry, names already listed
// (compared case-insensitively) and subdirectories already listed elsewhere
// are left out.
func (e *Entry) Entries() ([]*Entry, error) {
	if !e.IsDir() {
		return nil, fmt.Errorf("fat: %s: %w", e.Name, readkit.ErrNotDir)
	}
	return e.dir.Entries(func() ([]*Entry, map[string]*Entry, error) { return e.fs.list(e) })
}

// Child looks name up in directory e, case-insensitively as FAT does:
// against the long names and the 8.3 names. The error matches
// fs.ErrNotExist when there is no such entry.
func (e *Entry) Child(name string) (*Entry, error) {
	if _, err := e.Entries(); err != nil {
		return nil, err
	}
	return e.dir.Find(foldKey(name))
}

// Lookup finds the entry at a slash-separated path from the root ("" and
// "/" are the root), case-insensitively.
func (f *FS) Lookup(p string) (*Entry, error) {
	return readkit.Lookup("fat", f.root, p, f.lim.MaxDepth)
}

// FS is the volume's tree as an fs.FS (also an fs.ReadDirFS and
// fs.StatFS), names compared case-insensitively; FileInfo.Sys is the
// *Entry.
func (f *FS) FS() fs.FS { return readkit.NewFS("fat", f.root, f.lim.MaxDepth) }

// ReaderAt reads e's data from the image, extent by extent. Reads past Size
// return io.EOF.
func (e *Entry) ReaderAt() io.ReaderAt { return fileReader{e} }

type fileReader struct{ e *Entry }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	e := r.e
	if e.dataErr != nil {
		return 0, e.dataErr
	}
	if e.IsDir() {
		return 0, fmt.Errorf("fat: %s is a directory", e.Name)
	}
	return readkit.ReadExtents(e.fs.r, e.Extents, p, off)
}

// dirent is one decoded 32-byte directory entry.
type dirent struct {
	name     [11]byte
	attr     uint8
	ntCase   uint8
	crtTenth uint8
	crtTime  uint16
	crtDate  uint16
	accDate  uint16
	cluster  uint32
	wrtTime  uint16
	wrtDate  uint16
	size     uint32
}

// parseDirent decodes the 32-byte directory entry b.
func parseDirent(b []byte) dirent {
	var d dirent
	copy(d.name[:], b[:11])
	d.attr = b[11]
	d.ntCase = b[12]
	d.crtTenth = b[13]
	d.crtTime = binary.LittleEndian.Uint16(b[14:])
	d.crtDate = binary.LittleEndian.Uint16(b[16:])
	d.accDate = binary.LittleEndian.Uint16(b[18:])
	d.cluster = uint32(binary.LittleEndian.Uint16(b[20:]))<<16 | uint32(binary.LittleEndian.Uint16(b[26:]))
	d.wrtTime = binary.LittleEndian.Uint16(b[22:])
	d.wrtDate = binary.LittleEndian.Uint16(b[24:])
	d.size = binary.LittleEndian.Uint32(b[28:])
	return d
}

// lfnSlot is one VFAT long-name entry: its sequence byte, checksum and 13
// UCS-2 characters.
type lfnSlot struct {
	ord   uint8
	sum   uint8
	chars [13]uint16
}

func parseLFN(b []byte) lfnSlot {
	s := lfnSlot{ord: b[0], sum: b[13]}
	for i := 0; i < 5; i++ {
		s.chars[i] = binary.LittleEndian.Uint16(b[1+2*i:])
	}
	for i := 0; i < 6; i++ {
		s.chars[5+i] = binary.LittleEndian.Uint16(b[14+2*i:])
	}
	for i := 0; i < 2; i++ {
		s.chars[11+i] = binary.LittleEndian.Uint16(b[28+2*i:])
	}
	return s
}

// shortSum is the checksum of an 8.3 name that its long-name entries carry.
func shortSum(name [11]byte) uint8 {
	var s uint8
	for _, c := range name {
		s = (s&1)<<7 + s>>1 + c
	}
	return s
}

// lfnState assembles the long-name entries preceding an 8.3 entry.
type lfnState struct {
	n     int // slots expected in all (0: none pending)
	next  int // sequence number expected next
	sum   uint8
	slots [20][13]uint16
}

func (l *lfnState) reset() { l.n, l.next = 0, 0 }

func (l *lfnState) add(s lfnSlot) {
	seq := int(s.ord & 0x3F)
	if s.ord&0x40 != 0 {
		if seq < 1 || seq > 20 {
			l.reset()
			return
		}
		l.n, l.next, l.sum = seq, seq, s.sum
	} else if l.n == 0 || seq != l.next || s.sum != l.sum {
		l.reset() // an orphan
		return
	}
	l.slots[seq-1] = s.chars
	l.next = seq - 1
}

// name is the long name for the 8.3 name short, or "" when the pending
// entries are incomplete or belong to another name.
func (l *lfnState) name(short [11]byte) string {
	defer l.reset()
	if l.n == 0 || l.next != 0 || l.sum != shortSum(short) {
		return ""
	}
	u := make([]uint16, 0, 13*l.n)
	for i := 0; i < l.n; i++ {
		u = append(u, l.slots[i][:]...)
	}
	for i, c := range u {
		if c == 0 {
			u = u[:i]
			break
		}
	}
	// Trailing 0xFFFF padding without the NUL (a full last slot has none).
	for len(u) > 0 && u[len(u)-1] == 0xFFFF {
		u = u[:len(u)-1]
	}
	return string(utf16.Decode(u))
}

// shortName decodes an 8.3 name: "BASE.EXT", with the NT case bits applied
// when ntCase says so.
func shortName(raw [11]byte, ntCase uint8, applyCase bool) string {
	b := raw
	if b[0] == 0x05 {
		b[0] = 0xE5
	}
	base := strings.TrimRight(readkit.DecodeCP437(b[:8]), " ")
	ext := strings.TrimRight(readkit.DecodeCP437(b[8:]), " ")
	if applyCase {
		if ntCase&0x08 != 0 {
			base = strings.ToLower(base)
		}
		if ntCase&0x10 != 0 {
			ext = strings.ToLower(ext)
		}
	}
	if ext == "" {
		return base
	}
	return base + "." + ext
}

// list reads directory d's entries.
func (f *FS) list(d *Entry) ([]*Entry, map[string]*Entry, error) {
	if d.dataErr != nil {
		return nil, nil, d.dataErr
	}
	var total int64
	for _, x := range d.dirExtents {
		total += x.Length
	}
	// The FAT12/16 root (at most 2 MiB) is fixed by the boot sector.
	if total > f.lim.MaxDirSize && !(d.isRoot && f.bpb.bits != 32) {
		return nil, nil, limitErr(d.dirExtents[0].Offset, "MaxDirSize", total, f.lim.MaxDirSize)
	}
	var out []*Entry
	byName := map[string]*Entry{}
	seenDir := map[uint32]bool{}
	budget := f.chainBudget()
	var lfn lfnState
	buf := make([]byte, 0, 32<<10)
	for _, x := range d.dirExtents {
		for pos := int64(0); pos < x.Length; pos += int64(len(buf)) {
			n := min(int64(cap(buf)), x.Length-pos)
			buf = buf[:n]
			if err := f.readAt(buf, x.Offset+pos); err != nil {
				return nil, nil, err
			}
			for i := int64(0); i+32 <= n; i += 32 {
				b := buf[i : i+32]
				off := x.Offset + pos + i
				if b[0] == 0 {
					return out, byName, nil // end of directory
				}
				if b[0] == 0xE5 {
					lfn.reset()
					continue
				}
				if b[11]&0x3F == attrLFN {
					lfn.add(parseLFN(b))
					continue
				}
				de := parseDirent(b)
				long := lfn.name(de.name)
				if de.attr&(AttrVolumeID|AttrDir) == AttrVolumeID {
					if d.isRoot && !f.labelFound {
						f.label, f.labelFound = cleanLabel(de.name[:]), true
					}
					continue
				}
				if de.name[0] == '.' && (string(de.name[:]) == ".          " || string(de.name[:]) == "..         ") {
					continue
				}
				c := f.newEntry(d, de, long, off, &budget)
				if c == nil {
					continue
				}
				key := foldKey(c.Name)
				if byName[key] != nil {
					continue // a duplicate
				}
				if c.IsDir() && (seenDir[c.cluster] || !f.claim(c, d)) {
					continue
				}
				if len(out) >= f.lim.MaxDirEntries {
					return nil, nil, limitErr(off, "MaxDirEntries", int64(len(out)+1), int64(f.lim.MaxDirEntries))
				}
				out = append(out, c)
				byName[key] = c
				if c.IsDir() {
					seenDir[c.cluster] = true
				}
				if sk := foldKey(c.ShortName); byName[sk] == nil {
					byName[sk] = c
				}
			}
		}
	}
	return out, byName, nil
}

// newEntry makes the entry of 8.3 entry de (at byte off) in directory d,
// or nil for one to leave out.
func (f *FS) newEntry(d *Entry, de dirent, long string, off int64, budget *int64) *Entry {
	short := shortName(de.name, 0, false)
	name := readkit.SanitizeName(long)
	if name == "" {
		name = readkit.SanitizeName(shortName(de.name, de.ntCase, true))
	}
	if name == "" {
		return nil
	}
	if f.bpb.bits != 32 {
		de.cluster &= 0xFFFF // the high word is the FAT12/16 EA handle
	}
	e := &Entry{
		Name:      name,
		ShortName: readkit.SanitizeName(short),
		Attr:      de.attr,
		Ino:       uint64(off),
		fs:        f,
		cluster:   de.cluster,
	}
	e.ModTime = f.fatTime(de.wrtDate, de.wrtTime, 0)
	e.ChangeTime = e.ModTime
	e.AccessTime = e.ModTime
	if de.accDate != 0 {
		e.AccessTime = f.fatTime(de.accDate, 0, 0)
	}
	if de.crtDate != 0 {
		e.BirthTime = f.fatTime(de.crtDate, de.crtTime, de.crtTenth)
	}
	if de.attr&AttrDir != 0 {
		e.Mode = fs.ModeDir | 0o755
		switch {
		case e.cluster == 0:
			// ".." style reference to the root: not a directory of its own.
			return nil
		case e.cluster == d.cluster || (f.bpb.bits == 32 && e.cluster == f.bpb.rootCluster):
			return nil // itself or the root: a loop
		}
		xs, n, err := f.dirChain(e.cluster, budget)
		if err != nil {
			e.dataErr = fmt.Errorf("fat: directory %s: %w", name, err)
		}
		e.dirExtents, e.Size = xs, n
		return e
	}
	e.Mode = 0o644
	if de.attr&AttrReadOnly != 0 {
		e.Mode = 0o444
	}
	e.Size = int64(de.size)
	if e.Size > 0 {
		xs, err := f.fileChain(e.cluster, e.Size, budget)
		if err != nil {
			e.dataErr = fmt.Errorf("fat: file %s: %w", name, err)
		}
		e.Extents = xs
	}
	return e
}

// claim records that the clusters of directory c belong to it, listed by
// directory parent. It fails when one of them belongs to another directory
// already (or to c listed by another parent): the directory graph stays a
// tree, and no cluster is listed as part of two directories, whatever the
// image says.
func (f *FS) claim(c *Entry, parent *Entry) bool {
	d := readkit.ClusterDir{Cluster: c.cluster, Parent: parent.cluster, Root: c.isRoot, ParentRoot: parent.isRoot, Extents: c.dirExtents}
	return f.claims.ClaimDir(d, f.bpb.dataOff, f.bpb.clusterSize)
}

// fatTime decodes a FAT date and time (local time), plus a count of 10 ms.
// Out-of-range fields are clamped as Linux does (month and day 0 are 1).
func (f *FS) fatTime(date, tm uint16, tenths uint8) time.Time {
	year := 1980 + int(date>>9)
	month := max(1, int(date>>5&0x0F))
	day := max(1, int(date&0x1F))
	hour := int(tm >> 11)
	minute := int(tm >> 5 & 0x3F)
	sec := int(tm&0x1F) * 2
	ns := 0
	if tenths < 200 {
		sec += int(tenths) / 100
		ns = int(tenths) % 100 * 10_000_000
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, f.loc)
}

// foldKey is s case-folded: each rune replaced by the smallest rune of its
// case-folding orbit, so that names equal under Unicode simple folding get
// the same key.
func foldKey(s string) string {
	return strings.Map(func(r rune) rune {
		m := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if f < m {
				m = f
			}
		}
		return m
	}, s)
}
