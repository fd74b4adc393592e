package udf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sort"
	"strings"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Extent is a byte range of a file's data: a range of the image, or a range
// that reads as zeros (allocated but not recorded, or not allocated).
type Extent struct {
	Offset int64 // byte offset in the image (0 when Zero)
	Length int64 // bytes
	Zero   bool  // reads as zeros; nothing in the image
}

// Entry is a file, directory, symbolic link, device or FIFO. Its exported
// fields are read-only once Open or Entries returned it.
type Entry struct {
	Name string      // base name ("/" for the root)
	Mode fs.FileMode // type bits and permissions (setuid, setgid, sticky too)
	Size int64       // bytes of data; a symlink's target length
	UID  uint32
	GID  uint32
	// OwnerSet is false when the image records no owner (uid and gid both
	// 0xFFFFFFFF, "not set"); UID and GID are then 0 (either one alone not
	// set reads as 0 too).
	OwnerSet bool
	Nlink    uint32
	// Ino is a stable inode number, one per ICB (its partition reference
	// and logical block, plus 1): hard links share it, and it is the same on
	// every Open.
	Ino        uint64
	ModTime    time.Time
	AccessTime time.Time
	ChangeTime time.Time // the attribute time
	Target     string    // a symbolic link's target
	// Extents hold a regular file's data, in order; the file is their
	// concatenation. Empty when the data is embedded in the file entry.
	Extents []Extent

	fs       *FS
	icb      lbAddr // the address the FID names
	dirICB   *icb   // a directory's file entry
	embedded []byte // data embedded in the file entry
	starts   []int64
	dataErr  error

	brokenErr error // why a directory's file entry could not be read
	dir       readkit.Listing[*Entry]
}

// IsDir tells whether e is a directory.
func (e *Entry) IsDir() bool { return e.Mode.IsDir() }

// UnixMode is Mode as a POSIX st_mode (S_IFMT type bits and permissions).
func (e *Entry) UnixMode() uint32 { return readkit.UnixMode(e.Mode) }

// FileInfo is e as an fs.FileInfo (name, size, mode, ModTime); Sys is e.
func (e *Entry) FileInfo() fs.FileInfo {
	return readkit.FileInfo(e.Name, e.Size, e.Mode, e.ModTime, e)
}

// DataErr is why e's data cannot be read (its file entry could not be
// read, an extent lies outside the image or its partition, too many
// extents), or nil.
func (e *Entry) DataErr() error { return e.dataErr }

// Entries lists a directory, in image order, without "." and "..". The
// listing is read once and cached. File identifiers that are deleted, name
// the parent, repeat a name already listed or name a directory already
// listed elsewhere (or this one, or the root) are left out.
func (e *Entry) Entries() ([]*Entry, error) {
	if !e.IsDir() {
		return nil, fmt.Errorf("udf: %s: %w", e.Name, readkit.ErrNotDir)
	}
	return e.dir.Entries(func() ([]*Entry, map[string]*Entry, error) {
		if e.brokenErr != nil {
			return nil, nil, e.brokenErr
		}
		kids, err := e.fs.list(e)
		if err != nil {
			return nil, nil, err
		}
		return kids, readkit.ByName(kids, entryName), nil
	})
}

func entryName(e *Entry) string { return e.Name }

// Child looks name up in directory e. The error matches fs.ErrNotExist
// when there is no such entry.
func (e *Entry) Child(name string) (*Entry, error) {
	if _, err := e.Entries(); err != nil {
		return nil, err
	}
	return e.dir.Find(name)
}

// ReaderAt reads e's data: recorded extents from the image, zero extents
// as zeros, embedded data from the file entry. Reads past Size return
// io.EOF.
func (e *Entry) ReaderAt() io.ReaderAt { return fileReader{e} }

// Open returns a reader of e's data, positioned at 0.
func (e *Entry) Open() *io.SectionReader { return io.NewSectionReader(fileReader{e}, 0, e.Size) }

type fileReader struct{ e *Entry }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	e := r.e
	if e.dataErr != nil {
		return 0, e.dataErr
	}
	if !e.Mode.IsRegular() {
		return 0, fmt.Errorf("udf: %s is not a regular file", e.Name)
	}
	if off < 0 {
		return 0, errors.New("udf: negative offset")
	}
	if off >= e.Size {
		return 0, io.EOF
	}
	want := len(p)
	if int64(want) > e.Size-off {
		p = p[:e.Size-off]
	}
	n := 0
	if e.embedded != nil || len(e.Extents) == 0 {
		n = copy(p, e.embedded[min(off, int64(len(e.embedded))):])
		clear(p[n:])
		n = len(p)
	} else {
		i := sort.Search(len(e.starts), func(i int) bool { return e.starts[i] > off }) - 1
		for ; n < len(p) && i >= 0 && i < len(e.Extents); i++ {
			x := e.Extents[i]
			in := off - e.starts[i]
			chunk := p[n:]
			if rest := x.Length - in; int64(len(chunk)) > rest {
				chunk = chunk[:rest]
			}
			if x.Zero {
				clear(chunk)
			} else if err := readkit.ReadFull("udf", e.fs.r, -1, chunk, x.Offset+in); err != nil {
				return n, err
			}
			n += len(chunk)
			off += int64(len(chunk))
		}
		if n < len(p) { // extents shorter than Size (not built so): zeros
			clear(p[n:])
			n = len(p)
		}
	}
	if n < want {
		return n, io.EOF
	}
	return n, nil
}

// fid is a File Identifier Descriptor (ECMA-167 4/14.4).
type fid struct {
	characteristics byte
	icb             lext
	name            []byte // the CS0 file identifier
}

// FID characteristics.
const (
	fidHidden  = 1
	fidDir     = 2
	fidDeleted = 4
	fidParent  = 8
)

// parseFID decodes the file identifier descriptor at the start of b and
// returns its size (padded to 4 bytes). It checks the tag's checksum and
// CRC, not its location.
func parseFID(b []byte, off int64) (*fid, int, error) {
	if len(b) < 38 {
		return nil, 0, formatErr(off, "file identifier descriptor truncated (%d bytes)", len(b))
	}
	lfi := int(b[19])
	liu := int(binary.LittleEndian.Uint16(b[36:]))
	n := (38 + liu + lfi + 3) &^ 3
	if n > len(b) {
		return nil, 0, formatErr(off, "file identifier descriptor of %d bytes past the directory end (%d bytes left)", n, len(b))
	}
	t, err := parseTag(b[:n], off)
	if err != nil {
		return nil, 0, err
	}
	if t.ident != tagFID {
		return nil, 0, formatErr(off, "tag identifier %d where a file identifier descriptor was expected", t.ident)
	}
	return &fid{
		characteristics: b[18],
		icb:             parseLongAD(b[20:]),
		name:            b[38+liu : 38+liu+lfi],
	}, n, nil
}

// readDir reads a directory's data whole.
func (f *FS) readDir(ic *icb) ([]byte, error) {
	if ic.size > f.lim.MaxDirSize {
		return nil, limitErr(ic.off, "MaxDirSize", ic.size, f.lim.MaxDirSize)
	}
	return f.readAll(ic)
}

// list reads directory d's file identifiers and makes their entries.
func (f *FS) list(d *Entry) ([]*Entry, error) {
	data, err := f.readDir(d.dirICB)
	if err != nil {
		return nil, err
	}
	var out []*Entry
	seen := map[string]bool{}
	count := 0
	budget := f.dirBudget()
	for pos := 0; pos < len(data); {
		rest := data[pos:]
		if len(rest) < 38 || readkit.AllZero(rest[:tagSize]) {
			break // padding after the last descriptor
		}
		at := d.dirICB.off
		fd, n, err := parseFID(rest, at)
		if err != nil {
			return nil, fmt.Errorf("udf: directory %s, byte %d of its data: %w", d.Name, pos, err)
		}
		pos += n
		if count++; count > f.lim.MaxDirEntries {
			return nil, limitErr(at, "MaxDirEntries", int64(count), int64(f.lim.MaxDirEntries))
		}
		if fd.characteristics&(fidDeleted|fidParent) != 0 ||
			(fd.characteristics&fidHidden != 0 && !f.unhide) {
			continue
		}
		name := readkit.SanitizeName(decodeCS0(fd.name))
		if name == "" || seen[name] {
			continue
		}
		c := f.child(d, name, fd, budget)
		if c == nil {
			continue
		}
		seen[name] = true
		out = append(out, c)
	}
	return out, nil
}

// child makes the entry a file identifier of directory d names, or nil for
// one to leave out.
func (f *FS) child(d *Entry, name string, fd *fid, budget *budget) *Entry {
	a := fd.icb.addr
	if a == d.icb || a == f.root.icb {
		return nil
	}
	e, err := f.newEntry(name, a, budget)
	if err != nil {
		// The file entry cannot be read: list the name anyway, with the
		// error, so that the damage shows.
		e = &Entry{Name: name, fs: f, icb: a, Ino: inoOf(a), Nlink: 1}
		if fd.characteristics&fidDir != 0 {
			e.Mode = fs.ModeDir
			e.brokenErr = err
		} else {
			e.dataErr = err
		}
		return e
	}
	if e == nil {
		return nil
	}
	if e.IsDir() && !f.claim(a, d.icb) {
		return nil
	}
	return e
}

// claim records that the directory at ICB a is listed by directory parent.
// It fails when another directory listed it first: directories form a tree.
func (f *FS) claim(a, parent lbAddr) bool {
	return f.claims.Claim(parent, a)
}

func inoOf(a lbAddr) uint64 { return (uint64(a.part)<<32 | uint64(a.lbn)) + 1 }

// icbData is what is read from a file entry, cached by its address so
// that identifiers naming one ICB (hard links) share it: memory and work
// grow with the image, not with the number of names.
type icbData struct {
	ic       *icb
	extents  []Extent
	starts   []int64
	embedded []byte
	target   string
	dataErr  error
}

// loadICB reads the file entry at a and its data's layout, or takes them
// from the cache.
func (f *FS) loadICB(a lbAddr, budget *budget) (*icbData, error) {
	f.cacheMu.Lock()
	d := f.cache[a]
	f.cacheMu.Unlock()
	if d != nil {
		return d, nil
	}
	ic, err := f.readICB(a)
	if err != nil {
		return nil, err
	}
	d = &icbData{ic: ic}
	switch ic.fileType {
	case ftFile, ftUnspecified, ftRealTime:
		if ic.adType == adEmbedded {
			if ic.size > int64(len(ic.ads)) {
				d.dataErr = formatErr(ic.adsOff, "embedded data of %d bytes in %d", ic.size, len(ic.ads))
			} else {
				d.embedded = bytes.Clone(ic.ads[:ic.size])
			}
			break
		}
		d.extents, d.dataErr = f.fileExtentsBudget(ic, budget)
		if d.dataErr != nil {
			d.extents = nil
		}
		d.starts = extentStarts(d.extents)
	case ftSymlink:
		if ic.size > f.lim.MaxSymlinkSize {
			d.dataErr = limitErr(ic.off, "MaxSymlinkSize", ic.size, f.lim.MaxSymlinkSize)
			break
		}
		var data []byte
		if data, d.dataErr = f.readAll(ic); d.dataErr == nil {
			d.target, d.dataErr = symlinkTarget(data, ic.adsOff)
		}
	}
	if ic.fileType != ftDirectory {
		ic.ads = nil // keep no block alive
	}
	f.cacheMu.Lock()
	defer f.cacheMu.Unlock()
	if f.cache == nil {
		f.cache = make(map[lbAddr]*icbData)
	}
	if old := f.cache[a]; old != nil {
		return old, nil
	}
	f.cache[a] = d
	return d, nil
}

// newEntry makes the entry named name of the file entry at a. It returns
// nil (and no error) for file types not served (streams, tables).
func (f *FS) newEntry(name string, a lbAddr, budget *budget) (*Entry, error) {
	d, err := f.loadICB(a, budget)
	if err != nil {
		return nil, err
	}
	ic := d.ic
	e := &Entry{
		Name:       name,
		fs:         f,
		icb:        a,
		Ino:        inoOf(a),
		Nlink:      max(uint32(ic.links), 1),
		ModTime:    ic.mtime,
		AccessTime: ic.atime,
		ChangeTime: ic.ctime,
		Mode:       permToMode(ic.perm, ic.flags),
	}
	if ic.uid != 0xFFFFFFFF {
		e.UID, e.OwnerSet = ic.uid, true
	}
	if ic.gid != 0xFFFFFFFF {
		e.GID, e.OwnerSet = ic.gid, true
	}
	if d.dataErr != nil {
		e.dataErr = fmt.Errorf("udf: %s: %w", name, d.dataErr)
	}
	switch ic.fileType {
	case ftDirectory:
		e.Mode |= fs.ModeDir
		e.dirICB = ic
		e.Size = ic.size
	case ftFile, ftUnspecified, ftRealTime:
		e.Size = ic.size
		e.Extents, e.starts, e.embedded = d.extents, d.starts, d.embedded
	case ftSymlink:
		e.Mode |= fs.ModeSymlink
		e.Target = d.target
		e.Size = int64(len(d.target))
	case ftBlockDev:
		e.Mode |= fs.ModeDevice
	case ftCharDev:
		e.Mode |= fs.ModeDevice | fs.ModeCharDevice
	case ftFIFO:
		e.Mode |= fs.ModeNamedPipe
	case ftSocket:
		e.Mode |= fs.ModeSocket
	default:
		return nil, nil
	}
	return e, nil
}

// permToMode maps UDF permissions (5 bits each for other, group, owner:
// execute, write, read, change attributes, delete) and the ICB's setuid,
// setgid and sticky flags to a FileMode.
func permToMode(p uint32, flags uint16) fs.FileMode {
	m := fs.FileMode((p>>10&7)<<6 | (p>>5&7)<<3 | p&7)
	if flags&icbSetuid != 0 {
		m |= fs.ModeSetuid
	}
	if flags&icbSetgid != 0 {
		m |= fs.ModeSetgid
	}
	if flags&icbSticky != 0 {
		m |= fs.ModeSticky
	}
	return m
}

// maxTargetLen caps a symbolic link's target.
const maxTargetLen = 4096

// symlinkTarget decodes a symbolic link's path components (ECMA-167
// 4/14.16): 1 (with no identifier) and 2 the root, 3 the parent, 4 the
// current directory, 5 a name.
func symlinkTarget(b []byte, off int64) (string, error) {
	var parts []string
	abs := false
	for pos := 0; pos < len(b); {
		if len(b)-pos < 4 {
			return "", formatErr(off+int64(pos), "path component truncated")
		}
		typ, l := b[pos], int(b[pos+1])
		if pos+4+l > len(b) {
			return "", formatErr(off+int64(pos), "path component of %d bytes past the link data", l)
		}
		ident := b[pos+4 : pos+4+l]
		pos += 4 + l
		switch typ {
		case 1, 2:
			if typ == 1 && l > 0 {
				continue // a place agreed between originator and recipient: ignored
			}
			parts, abs = parts[:0], true
		case 3:
			parts = append(parts, "..")
		case 4:
			parts = append(parts, ".")
		case 5:
			name := decodeCS0(ident)
			if name == "" {
				return "", formatErr(off+int64(pos), "empty path component")
			}
			parts = append(parts, strings.ReplaceAll(strings.ReplaceAll(name, "/", "_"), "\x00", "_"))
		default:
			return "", formatErr(off+int64(pos), "path component type %d", typ)
		}
	}
	t := strings.Join(parts, "/")
	if abs {
		t = "/" + t
	}
	if len(t) > maxTargetLen {
		return "", formatErr(off, "symbolic link target of %d bytes", len(t))
	}
	return t, nil
}
