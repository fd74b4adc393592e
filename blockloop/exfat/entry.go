package exfat

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"time"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// File attribute bits (Entry.Attr).
const (
	AttrReadOnly = 0x01
	AttrHidden   = 0x02
	AttrSystem   = 0x04
	AttrDir      = 0x10
	AttrArchive  = 0x20
)

// Directory entry types (in use: bit 7 set).
const (
	typeEnd     = 0x00
	typeBitmap  = 0x81
	typeUpcase  = 0x82
	typeLabel   = 0x83
	typeFile    = 0x85
	typeStream  = 0xC0
	typeName    = 0xC1
	flagNoChain = 0x02 // GeneralSecondaryFlags: NoFatChain
)

// Extent is a byte range of the image holding part of a file's data.
type Extent = readkit.Extent

// Entry is a file or directory. Its exported fields are read-only once Open
// or Entries returned it.
type Entry struct {
	Name string // "/" for the root
	// Mode is 0755|ModeDir for a directory, 0644 for a file; the read-only
	// attribute makes a file 0444 (directories ignore it, as Linux does).
	Mode fs.FileMode
	Attr uint16 // the raw FileAttributes (AttrReadOnly, AttrHidden, ...)
	// Size is the file's size (DataLength); for a directory the bytes of
	// its clusters.
	Size int64
	// ValidSize is the file's ValidDataLength: bytes past it (up to Size)
	// are not recorded and read as zeros. Extents cover ValidSize bytes.
	ValidSize int64
	// Ino is a stable inode number: the byte offset in the image of the
	// entry's File directory entry; RootIno for the root.
	Ino uint64
	// ModTime, AccessTime, BirthTime (creation) with their 10 ms fields and
	// UTC offsets when recorded valid, else in Options.Location.
	// ChangeTime is ModTime (exFAT has no change time). The root has none:
	// all are the Unix epoch.
	ModTime    time.Time
	AccessTime time.Time
	ChangeTime time.Time
	BirthTime  time.Time
	// Extents hold a file's recorded data (ValidSize bytes), in order;
	// contiguous clusters are merged.
	Extents []Extent

	fs         *FS
	isRoot     bool
	noFatChain bool
	cluster    uint32
	dirExtents []Extent
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
// shorter than the size), a valid data length over the data length; or nil.
func (e *Entry) DataErr() error { return e.dataErr }

// Entries lists a directory, in image order. The listing is read once and
// cached. Unused and deleted entries, entry sets whose SetChecksum or
// structure is wrong, names already listed (compared through the up-case
// table) and subdirectories already listed elsewhere are left out.
func (e *Entry) Entries() ([]*Entry, error) {
	if !e.IsDir() {
		return nil, fmt.Errorf("exfat: %s: %w", e.Name, readkit.ErrNotDir)
	}
	return e.dir.Entries(func() ([]*Entry, map[string]*Entry, error) { return e.fs.list(e) })
}

// Child looks name up in directory e, case-insensitively through the
// volume's up-case table, as exFAT does. The error matches fs.ErrNotExist
// when there is no such entry.
func (e *Entry) Child(name string) (*Entry, error) {
	if _, err := e.Entries(); err != nil {
		return nil, err
	}
	return e.dir.Find(e.fs.key(utf16.Encode([]rune(name))))
}

// key is the lookup key of a name: its code units up-cased.
func (f *FS) key(u []uint16) string {
	b := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(b[2*i:], f.upper(c))
	}
	return string(b)
}

// Lookup finds the entry at a slash-separated path from the root ("" and
// "/" are the root), case-insensitively.
func (f *FS) Lookup(p string) (*Entry, error) {
	return readkit.Lookup("exfat", f.root, p, f.lim.MaxDepth)
}

// FS is the volume's tree as an fs.FS (also an fs.ReadDirFS and
// fs.StatFS), names compared through the up-case table; FileInfo.Sys is
// the *Entry.
func (f *FS) FS() fs.FS { return readkit.NewFS("exfat", f.root, f.lim.MaxDepth) }

// ReaderAt reads e's data from the image, extent by extent; bytes between
// ValidSize and Size read as zeros. Reads past Size return io.EOF.
func (e *Entry) ReaderAt() io.ReaderAt { return fileReader{e} }

type fileReader struct{ e *Entry }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	e := r.e
	if e.dataErr != nil {
		return 0, e.dataErr
	}
	if e.IsDir() {
		return 0, fmt.Errorf("exfat: %s is a directory", e.Name)
	}
	if off < 0 {
		return 0, errors.New("exfat: negative offset")
	}
	if off >= e.Size {
		return 0, io.EOF
	}
	want := len(p)
	if rest := e.Size - off; int64(len(p)) > rest {
		p = p[:rest]
	}
	n := 0
	if off < e.ValidSize {
		q := p
		if rest := e.ValidSize - off; int64(len(q)) > rest {
			q = q[:rest]
		}
		m, err := readkit.ReadExtents(e.fs.r, e.Extents, q, off)
		n += m
		if m < len(q) {
			if err == nil || err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
	}
	clear(p[n:])
	n = len(p)
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// setChecksum is the SetChecksum of an entry set (its bytes 2 and 3, the
// checksum itself, left out).
func setChecksum(set []byte) uint16 {
	var s uint16
	for i, c := range set {
		if i == 2 || i == 3 {
			continue
		}
		s = (s<<15 | s>>1) + uint16(c)
	}
	return s
}

// fileSet is a decoded File entry set.
type fileSet struct {
	attr                  uint16
	created, modified     uint32
	accessed              uint32
	created10, modified10 uint8
	createdTZ, modifiedTZ uint8
	accessedTZ            uint8
	flags                 uint8 // stream extension GeneralSecondaryFlags
	name                  []uint16
	validLength, length   uint64
	firstCluster          uint32
}

// parseFileSet decodes the entry set at the start of b (its File entry
// first), returning it and its length in entries. ok is false when b does
// not start with a well-formed set: a wrong SetChecksum, a secondary count
// out of 2..18 or past b, no stream extension, missing name entries.
func parseFileSet(b []byte) (s fileSet, n int, ok bool) {
	if len(b) < 32 || b[0] != typeFile {
		return s, 0, false
	}
	sc := int(b[1])
	if sc < 2 || sc > 18 || (sc+1)*32 > len(b) {
		return s, 0, false
	}
	set := b[:(sc+1)*32]
	if setChecksum(set) != binary.LittleEndian.Uint16(b[2:]) {
		return s, 0, false
	}
	s.attr = binary.LittleEndian.Uint16(b[4:])
	s.created = binary.LittleEndian.Uint32(b[8:])
	s.modified = binary.LittleEndian.Uint32(b[12:])
	s.accessed = binary.LittleEndian.Uint32(b[16:])
	s.created10, s.modified10 = b[20], b[21]
	s.createdTZ, s.modifiedTZ, s.accessedTZ = b[22], b[23], b[24]
	st := set[32:64]
	if st[0] != typeStream {
		return s, 0, false
	}
	s.flags = st[1]
	nameLen := int(st[3])
	s.validLength = binary.LittleEndian.Uint64(st[8:])
	s.firstCluster = binary.LittleEndian.Uint32(st[20:])
	s.length = binary.LittleEndian.Uint64(st[24:])
	nameEntries := (nameLen + 14) / 15
	if nameLen == 0 || nameEntries > sc-1 {
		return s, 0, false
	}
	s.name = make([]uint16, 0, nameEntries*15)
	for i := 0; i < nameEntries; i++ {
		ne := set[64+32*i : 96+32*i]
		if ne[0] != typeName {
			return s, 0, false
		}
		for j := 0; j < 15; j++ {
			s.name = append(s.name, binary.LittleEndian.Uint16(ne[2+2*j:]))
		}
	}
	s.name = s.name[:nameLen]
	return s, sc + 1, true
}

// readDir reads directory d's bytes whole.
func (f *FS) readDir(d *Entry) ([]byte, error) {
	var total int64
	for _, x := range d.dirExtents {
		total += x.Length
	}
	if total > f.lim.MaxDirSize {
		return nil, limitErr(d.dirExtents[0].Offset, "MaxDirSize", total, f.lim.MaxDirSize)
	}
	buf := make([]byte, total)
	if _, err := readkit.ReadExtents(f.r, d.dirExtents, buf, 0); err != nil {
		return nil, err
	}
	return buf, nil
}

// dirOffset is the image offset of byte i of a directory.
func dirOffset(xs []Extent, i int64) int64 {
	for _, x := range xs {
		if i < x.Length {
			return x.Offset + i
		}
		i -= x.Length
	}
	return -1
}

// list reads directory d's entries.
func (f *FS) list(d *Entry) ([]*Entry, map[string]*Entry, error) {
	if d.dataErr != nil {
		return nil, nil, d.dataErr
	}
	buf, err := f.readDir(d)
	if err != nil {
		return nil, nil, err
	}
	var out []*Entry
	byName := map[string]*Entry{}
	seenDir := map[uint32]bool{}
	budget := f.chainBudget()
	if d.isRoot {
		f.loadRootEntries(buf, d)
	}
	for i := 0; i+32 <= len(buf); {
		b := buf[i : i+32]
		t := b[0]
		if t == typeEnd {
			break
		}
		if t != typeFile {
			i += 32
			continue
		}
		s, n, ok := parseFileSet(buf[i:])
		if !ok {
			i += 32 // a bad set: its secondaries are skipped one by one
			continue
		}
		off := dirOffset(d.dirExtents, int64(i))
		i += 32 * n
		c := f.newEntry(d, s, off, &budget)
		if c == nil {
			continue
		}
		key := f.key(s.name)
		if byName[key] != nil {
			continue
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
	}
	return out, byName, nil
}

// loadRootEntries reads the volume label and the up-case table from the
// root directory's entries (buf), before its files are listed.
func (f *FS) loadRootEntries(buf []byte, d *Entry) {
	var upcase []byte
	for i := 0; i+32 <= len(buf) && buf[i] != typeEnd; i += 32 {
		b := buf[i : i+32]
		switch b[0] {
		case typeLabel:
			if f.label == "" {
				f.label = parseLabel(b)
			}
		case typeUpcase:
			if upcase == nil {
				upcase = b
			}
		}
	}
	if upcase == nil {
		f.upcaseErr = formatErr(d.dirExtents[0].Offset, "no up-case table entry in the root directory")
		return
	}
	table, err := f.loadUpcase(binary.LittleEndian.Uint32(upcase[20:]), int64(binary.LittleEndian.Uint64(upcase[24:])), binary.LittleEndian.Uint32(upcase[4:]))
	if err != nil {
		f.upcaseErr = fmt.Errorf("exfat: up-case table: %w", err)
		return
	}
	f.upcase = table
}

// parseLabel decodes a volume label entry.
func parseLabel(b []byte) string {
	n := min(int(b[1]), 11)
	u := make([]uint16, n)
	for i := range u {
		u[i] = binary.LittleEndian.Uint16(b[2+2*i:])
	}
	return readkit.SanitizeName(string(utf16.Decode(u)))
}

// newEntry makes the entry of file set s (File entry at byte off) in
// directory d, or nil for one to leave out.
func (f *FS) newEntry(d *Entry, s fileSet, off int64, budget *int64) *Entry {
	name := readkit.SanitizeName(string(utf16.Decode(s.name)))
	if name == "" {
		return nil
	}
	e := &Entry{
		Name:       name,
		Attr:       s.attr,
		Ino:        uint64(off),
		fs:         f,
		cluster:    s.firstCluster,
		noFatChain: s.flags&flagNoChain != 0,
	}
	e.ModTime = f.timestamp(s.modified, s.modified10, s.modifiedTZ)
	e.ChangeTime = e.ModTime
	e.AccessTime = f.timestamp(s.accessed, 0, s.accessedTZ)
	e.BirthTime = f.timestamp(s.created, s.created10, s.createdTZ)
	length, valid := int64(s.length), int64(s.validLength)
	if s.length > 1<<62 || s.validLength > s.length {
		e.dataErr = formatErr(off+32, "%s: valid data length %d, data length %d", name, s.validLength, s.length)
		length, valid = 0, 0
	}
	if s.attr&AttrDir != 0 {
		e.Mode = fs.ModeDir | 0o755
		if e.cluster == d.cluster || e.cluster == f.boot.rootCluster {
			return nil // itself or the root: a loop
		}
		if e.dataErr == nil {
			if length == 0 || length%f.boot.clusterSize != 0 {
				e.dataErr = formatErr(off+32, "directory %s of %d bytes", name, length)
			} else if length > f.lim.MaxDirSize {
				e.dataErr = limitErr(off+32, "MaxDirSize", length, f.lim.MaxDirSize)
			} else {
				if e.noFatChain { // the chain walk does not charge these
					*budget -= length / f.boot.clusterSize
				}
				xs, err := f.alloc(e.cluster, length, e.noFatChain, f.dirClusters(), budget)
				if err == nil && *budget < 0 {
					err = formatErr(off+32, "the directories listed here have more clusters than the volume (%d): they are cross-linked", f.boot.clusters)
				}
				if err != nil {
					e.dataErr = fmt.Errorf("exfat: directory %s: %w", name, err)
					xs = nil
				}
				e.dirExtents, e.Size = xs, length
			}
		}
		return e
	}
	e.Mode = 0o644
	if s.attr&AttrReadOnly != 0 {
		e.Mode = 0o444
	}
	e.Size, e.ValidSize = length, valid
	if e.dataErr == nil && length > 0 {
		// The clusters allocated cover the data length; those past the
		// valid data length are not read.
		xs, err := f.alloc(e.cluster, length, e.noFatChain, int64(f.lim.MaxExtents), budget)
		if err != nil {
			e.dataErr = fmt.Errorf("exfat: file %s: %w", name, err)
		} else {
			e.Extents = clip(xs, valid)
		}
	}
	return e
}

// clip cuts extents to n bytes.
func clip(xs []Extent, n int64) []Extent {
	var out []Extent
	for _, x := range xs {
		if n <= 0 {
			break
		}
		x.Length = min(x.Length, n)
		n -= x.Length
		out = append(out, x)
	}
	return out
}

// claim records that the clusters of directory c belong to it, listed by
// directory parent. It fails when one of them belongs to another directory
// already (or to c listed by another parent): the directory graph stays a
// tree, and no cluster is listed as part of two directories, whatever the
// image says.
func (f *FS) claim(c *Entry, parent *Entry) bool {
	d := readkit.ClusterDir{Cluster: c.cluster, Parent: parent.cluster, Root: c.isRoot, ParentRoot: parent.isRoot, Extents: c.dirExtents}
	return f.claims.ClaimDir(d, f.boot.heapOff, f.boot.clusterSize)
}

// timestamp decodes an exFAT timestamp, its 10 ms increment (0..199) and
// its UTC offset byte (bit 7: valid; bits 0-6: signed, in 15 minutes).
// Out-of-range fields are clamped (month and day 0 are 1).
func (f *FS) timestamp(ts uint32, tenMS uint8, tz uint8) time.Time {
	year := 1980 + int(ts>>25)
	month := max(1, int(ts>>21&0x0F))
	day := max(1, int(ts>>16&0x1F))
	hour := int(ts >> 11 & 0x1F)
	minute := int(ts >> 5 & 0x3F)
	sec := int(ts&0x1F) * 2
	ns := 0
	if tenMS < 200 {
		sec += int(tenMS) / 100
		ns = int(tenMS) % 100 * 10_000_000
	}
	loc := f.loc
	if tz&0x80 != 0 {
		off := int(int8(tz<<1)>>1) * 15 * 60 // sign-extend 7 bits
		loc = time.FixedZone("", off)
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, ns, loc)
}
