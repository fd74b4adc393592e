package iso9660

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"sync"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Inode number namespaces besides record offsets (see Entry.Ino).
const (
	inoSerial = 1 << 62
	inoExtent = 1 << 61
)

// Extent is a byte range of the image holding part of a file's data.
type Extent = readkit.Extent

// Entry is a file, directory or symbolic link. Its exported fields are
// read-only once Open or Entries returned it.
type Entry struct {
	Name  string      // base name ("/" for the root)
	Mode  fs.FileMode // type bits and permissions (setuid, setgid, sticky too)
	Size  int64       // bytes of data; a directory's extent size; a symlink's target length
	UID   uint32
	GID   uint32
	Nlink uint32
	// Ino is a stable inode number: the byte offset of the file's directory
	// record in the image, or for a directory the offset of its extent; hard
	// links (Rock Ridge nlink > 1) share one, made from the PX serial number
	// when recorded, else from their shared data extent. It is the same on
	// every Open.
	Ino        uint64
	Rdev       uint64 // device number (Rock Ridge PN) of a device node
	ModTime    time.Time
	AccessTime time.Time // zero when the image does not record it
	ChangeTime time.Time // zero when the image does not record it
	Target     string    // a symbolic link's target
	// Extents hold a regular file's data, in order; the file is their
	// concatenation. A file over 4 GiB has several.
	Extents []Extent

	img     *Image
	dirLBA  uint32 // a directory's extent
	dirSize uint32
	dataErr error // why the data cannot be read, if it cannot

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

// DataErr is why e's data cannot be read (an extent outside the image, a
// zisofs-compressed or interleaved file), or nil.
func (e *Entry) DataErr() error { return e.dataErr }

// Entries lists a directory, in image order, without "." and "..". The
// listing is read once and cached. Records that cannot be trusted (a
// subdirectory whose ".." does not point back here, a name already listed)
// are left out.
func (e *Entry) Entries() ([]*Entry, error) {
	if !e.IsDir() {
		return nil, fmt.Errorf("iso9660: %s: %w", e.Name, readkit.ErrNotDir)
	}
	return e.dir.Entries(func() ([]*Entry, map[string]*Entry, error) { return e.img.list(e) })
}

// Child looks name up in directory e.
func (e *Entry) Child(name string) (*Entry, error) {
	if _, err := e.Entries(); err != nil {
		return nil, err
	}
	return e.dir.Find(name)
}

// Lookup finds the entry at a slash-separated path from the root ("" and
// "/" are the root). Symbolic links are not followed.
func (img *Image) Lookup(p string) (*Entry, error) {
	return readkit.Lookup("iso9660", img.root, p, img.lim.MaxDepth)
}

// FS is the image's tree as an fs.FS (also an fs.ReadDirFS and
// fs.StatFS); FileInfo.Sys is the *Entry. Symbolic links are not
// followed.
func (img *Image) FS() fs.FS { return readkit.NewFS("iso9660", img.root, img.lim.MaxDepth) }

// ReaderAt reads e's data from the image, extent by extent. Reads past Size
// return io.EOF.
func (e *Entry) ReaderAt() io.ReaderAt { return fileReader{e} }

// Open returns a reader of e's data, positioned at 0.
func (e *Entry) Open() *io.SectionReader { return io.NewSectionReader(fileReader{e}, 0, e.Size) }

type fileReader struct{ e *Entry }

func (f fileReader) ReadAt(p []byte, off int64) (int, error) {
	e := f.e
	if e.dataErr != nil {
		return 0, e.dataErr
	}
	if !e.Mode.IsRegular() {
		return 0, fmt.Errorf("iso9660: %s is not a regular file", e.Name)
	}
	return readkit.ReadExtents(e.img.r, e.Extents, p, off)
}

// list reads directory d's records and turns them into entries.
func (img *Image) list(d *Entry) ([]*Entry, map[string]*Entry, error) {
	start := int64(d.dirLBA) * SectorSize
	size := int64(d.dirSize)
	if size > img.lim.MaxDirSize {
		return nil, nil, limitErr(start, "MaxDirSize", size, img.lim.MaxDirSize)
	}
	if !img.inImage(start, size) {
		return nil, nil, formatErr(start, "directory extent of %d bytes outside the image", size)
	}
	bp := dirBuffer(size)
	defer dirBuffers.Put(bp)
	buf := (*bp)[:size]
	if err := img.readAt(buf, start); err != nil {
		return nil, nil, err
	}
	// A record takes 34 bytes and more (with Rock Ridge, some 150).
	out := make([]*Entry, 0, size/128)
	byName := make(map[string]*Entry, size/128)
	var seenDir map[uint32]bool
	var group []record
	records := 0
	add := func(c *Entry) error {
		if c == nil || byName[c.Name] != nil {
			return nil
		}
		if c.IsDir() {
			if seenDir[c.dirLBA] {
				return nil
			}
			if seenDir == nil {
				seenDir = map[uint32]bool{}
			}
			seenDir[c.dirLBA] = true
		}
		if len(out) >= img.lim.MaxDirEntries {
			return limitErr(start, "MaxDirEntries", int64(len(out)+1), int64(img.lim.MaxDirEntries))
		}
		byName[c.Name] = c
		out = append(out, c)
		return nil
	}
	flush := func() error {
		if len(group) == 0 {
			return nil
		}
		c := img.newEntry(group, d)
		group = group[:0]
		return add(c)
	}
	var rec record
	for sec := int64(0); sec < size; sec += SectorSize {
		end := sec + SectorSize
		if end > size {
			end = size
		}
		for pos := sec; pos < end; {
			n, err := decodeRecord(&rec, buf[pos:end], start+pos)
			if err != nil || n == 0 {
				break // the rest of this sector is padding (or garbage)
			}
			pos += int64(n)
			if records++; records > img.lim.MaxDirEntries {
				return nil, nil, limitErr(rec.off, "MaxDirEntries", int64(records), int64(img.lim.MaxDirEntries))
			}
			if rec.isDot() || rec.isDotDot() || rec.flags&flagAssociated != 0 {
				continue
			}
			if len(group) > 0 && !bytes.Equal(group[0].ident, rec.ident) {
				if err := flush(); err != nil { // an unfinished multi-extent file
					return nil, nil, err
				}
			}
			if len(group) >= img.lim.MaxExtents {
				return nil, nil, limitErr(rec.off, "MaxExtents", int64(len(group)+1), int64(img.lim.MaxExtents))
			}
			group = append(group, rec)
			if rec.flags&flagMulti == 0 || rec.flags&flagDir != 0 {
				if err := flush(); err != nil {
					return nil, nil, err
				}
			}
		}
	}
	if err := flush(); err != nil {
		return nil, nil, err
	}
	if d == img.root && img.tree == TreeRockRidge {
		out = img.hideRelocationDir(out, byName)
	}
	return out, byName, nil
}

// dirBuffers are directory extents' read buffers, reused: a listing keeps
// nothing of its buffer (names and targets are copied out of it).
var dirBuffers sync.Pool

// dirBuffer is a buffer of at least n bytes from dirBuffers.
func dirBuffer(n int64) *[]byte {
	if bp, _ := dirBuffers.Get().(*[]byte); bp != nil && int64(cap(*bp)) >= n {
		return bp
	}
	b := make([]byte, max(n, 64<<10))
	return &b
}

// hideRelocationDir drops the Rock Ridge relocation directory ("rr_moved")
// from the root listing when everything in it is a relocated directory
// (shown at its original place through CL).
func (img *Image) hideRelocationDir(out []*Entry, byName map[string]*Entry) []*Entry {
	for i, c := range out {
		if !c.IsDir() {
			continue
		}
		if !isRelocationDirName(c.Name) {
			continue
		}
		kids, err := c.Entries()
		if err != nil || len(kids) > 0 || !img.hasRelocated(c) {
			continue
		}
		img.hide(c.dirLBA)
		delete(byName, c.Name)
		return append(out[:i:i], out[i+1:]...)
	}
	return out
}

func isRelocationDirName(s string) bool {
	s = strings.ToLower(s)
	return s == "rr_moved" || s == ".rr_moved"
}

// hasRelocated tells whether directory d has records marked RE.
func (img *Image) hasRelocated(d *Entry) bool {
	start := int64(d.dirLBA) * SectorSize
	buf := make([]byte, min(int64(d.dirSize), SectorSize))
	if err := img.readAt(buf, start); err != nil {
		return false
	}
	for pos := 0; pos < len(buf); {
		rec, n, err := parseRecord(buf[pos:], start+int64(pos))
		if err != nil || rec == nil {
			return false
		}
		pos += n
		if rec.isDot() || rec.isDotDot() {
			continue
		}
		if img.recordSUSP(rec).re {
			return true
		}
	}
	return false
}

func (img *Image) recordSUSP(rec *record) *suspFields {
	if img.tree != TreeRockRidge || len(rec.systemUse) <= img.skip {
		return &suspFields{}
	}
	return img.parseSUSP(rec.systemUse[img.skip:], rec.off)
}

// newDirEntry makes the entry of the directory whose "." record is dot.
func (img *Image) newDirEntry(dot *record, parent *Entry, name string) (*Entry, error) {
	e := &Entry{
		Name:    name,
		Mode:    fs.ModeDir | 0o555,
		Nlink:   1,
		img:     img,
		dirLBA:  uint32(dot.dataLBA()),
		dirSize: dot.size,
		Size:    int64(dot.size),
		Ino:     uint64(dot.dataLBA()) * SectorSize,
		ModTime: parseDate7(dot.date[:]),
	}
	if img.tree == TreeRockRidge {
		// The root's "." carries SP at offset 0; others skip LEN_SKP bytes.
		su := dot.systemUse
		if parent != nil && len(su) > img.skip {
			su = su[img.skip:]
		}
		img.applyRR(e, img.parseSUSP(su, dot.off))
		e.Mode = fs.ModeDir | e.Mode.Perm() | (e.Mode & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	return e, nil
}

// applyRR sets e's attributes from Rock Ridge fields.
func (img *Image) applyRR(e *Entry, f *suspFields) {
	if f.hasPX {
		e.Mode = readkit.FileMode(f.mode)
		e.UID, e.GID = f.uid, f.gid
		if f.nlink > 0 {
			e.Nlink = f.nlink
		}
	}
	if f.hasTF {
		if !f.modify.IsZero() {
			e.ModTime = f.modify
		}
		e.AccessTime, e.ChangeTime = f.access, f.change
	}
	if f.hasPN {
		e.Rdev = f.rdev
	}
}

// newEntry makes the entry for a group of records of one file (several for
// a multi-extent file) in directory d. It returns nil for records to hide.
func (img *Image) newEntry(group []record, d *Entry) *Entry {
	first := &group[0]
	var f *suspFields
	var rr suspFields
	if img.tree == TreeRockRidge {
		f = &rr
		if len(first.systemUse) > img.skip {
			img.parseSUSPInto(f, first.systemUse[img.skip:])
		}
		if f.re {
			// A relocated directory, shown where its CL points, or the
			// relocation directory itself (libisofs marks it RE too).
			if first.flags&flagDir != 0 {
				img.hide(uint32(first.dataLBA()))
			}
			return nil
		}
	}
	name := img.entryName(first, f)
	if name == "" {
		return nil
	}
	if first.flags&flagDir != 0 || (f != nil && f.hasCL) {
		return img.childDir(first, f, d, name)
	}
	e := &Entry{
		Name:    name,
		Mode:    0o444,
		Nlink:   1,
		img:     img,
		Ino:     uint64(first.off),
		ModTime: parseDate7(first.date[:]),
	}
	if f != nil {
		img.applyRR(e, f)
		if f.zf {
			e.dataErr = fmt.Errorf("iso9660: %s is zisofs-compressed: %w", name, errors.ErrUnsupported)
		}
	}
	switch {
	case e.Mode&fs.ModeSymlink != 0:
		if f != nil && f.hasSL {
			e.Target = f.target()
		}
		e.Size = int64(len(e.Target))
		return e
	case e.Mode.IsDir():
		e.Mode &^= fs.ModeDir // PX says directory, the record says file
	case e.Mode&(fs.ModeDevice|fs.ModeNamedPipe|fs.ModeSocket) != 0:
		return e
	}
	defer func() {
		// Hard links share an inode number: the Rock Ridge serial number
		// when recorded (RRIP 1.12), else the data extent they share.
		if f != nil && e.Nlink > 1 && e.Mode.IsRegular() {
			switch {
			case f.hasSerial && f.serial != 0:
				e.Ino = inoSerial | uint64(f.serial)
			case len(e.Extents) > 0:
				e.Ino = inoExtent | uint64(e.Extents[0].Offset)
			}
		}
	}()
	for i := range group {
		r := &group[i]
		if r.unitSize != 0 || r.gapSize != 0 {
			e.dataErr = fmt.Errorf("iso9660: %s is recorded interleaved: %w", name, errors.ErrUnsupported)
		}
		if r.size == 0 {
			continue
		}
		x := Extent{Offset: r.dataLBA() * SectorSize, Length: int64(r.size)}
		if !img.inImage(x.Offset, x.Length) && e.dataErr == nil {
			e.dataErr = formatErr(r.off, "%s: extent of %d bytes at byte %d is outside the image (%d bytes)", name, x.Length, x.Offset, img.size)
		}
		e.Extents = append(e.Extents, x)
		e.Size += x.Length
	}
	return e
}

// childDir makes the entry of a subdirectory of d. A directory extent
// belongs to the first directory that lists it (see Image.claim), and is
// never d itself nor the root: that keeps the tree a tree (no loops, no
// directory reachable by two paths) whatever the image says. The ".." records
// cannot serve for this: libisofs writes a Joliet ".." pointing at the
// directory itself.
func (img *Image) childDir(rec *record, f *suspFields, d *Entry, name string) *Entry {
	lba := rec.dataLBA()
	size := rec.size
	relocated := f != nil && f.hasCL
	if relocated {
		lba = int64(f.cl)
	}
	if lba == int64(d.dirLBA) || lba == int64(img.root.dirLBA) || lba > 1<<32-1 {
		return nil
	}
	var dot *record
	if relocated {
		// The CL record is a placeholder: the size and attributes are the
		// relocated directory's "." record's.
		var err error
		if dot, err = img.readDot(uint32(lba), 34); err != nil {
			return nil
		}
		size = dot.size
	}
	if !img.claim(uint32(lba), d.dirLBA) {
		return nil
	}
	e := &Entry{
		Name:    name,
		Mode:    fs.ModeDir | 0o555,
		Nlink:   1,
		img:     img,
		dirLBA:  uint32(lba),
		dirSize: size,
		Size:    int64(size),
		Ino:     uint64(lba) * SectorSize,
		ModTime: parseDate7(rec.date[:]),
	}
	if f != nil {
		img.applyRR(e, f)
		if dot != nil && len(dot.systemUse) > img.skip {
			img.applyRR(e, img.parseSUSP(dot.systemUse[img.skip:], dot.off))
		}
		e.Mode = fs.ModeDir | e.Mode.Perm() | (e.Mode & (fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky))
	}
	return e
}

// hide records a directory extent left out of the tree on purpose.
func (img *Image) hide(lba uint32) {
	img.hiddenMu.Lock()
	defer img.hiddenMu.Unlock()
	if img.hidden == nil {
		img.hidden = make(map[uint32]bool)
	}
	if len(img.hidden) < img.lim.MaxDirEntries {
		img.hidden[lba] = true
	}
}

func (img *Image) isHidden(lba uint32) bool {
	img.hiddenMu.Lock()
	defer img.hiddenMu.Unlock()
	return img.hidden[lba]
}

// claim records that directory extent lba is listed by directory parent.
// It fails when another directory listed it first.
func (img *Image) claim(lba, parent uint32) bool {
	return img.claims.Claim(parent, lba)
}

// entryName is the name of a record in the served tree.
func (img *Image) entryName(r *record, f *suspFields) string {
	var name string
	switch {
	case f != nil && f.hasNM && len(f.name) > 0:
		name = string(f.name)
	case img.tree == TreeJoliet:
		name = stripVersion(decodeUCS2(r.ident), r.flags&flagDir != 0)
	default:
		name = img.nameMap.Show(string(r.ident))
	}
	return readkit.SanitizeName(name)
}

// stripVersion removes a file's ";1" version and a trailing dot (ISO 9660
// writes "README." for a name without extension).
func stripVersion(s string, dir bool) string {
	if !dir {
		if i := strings.LastIndexByte(s, ';'); i >= 0 {
			s = s[:i]
		}
		if strings.HasSuffix(s, ".") && s != "." && s != ".." {
			s = s[:len(s)-1]
		}
	}
	return s
}
