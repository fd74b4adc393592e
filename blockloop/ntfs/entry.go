package ntfs

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"slices"
	"strings"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// File attribute bits ($STANDARD_INFORMATION, Entry.Attributes).
const (
	AttrReadOnly   = 0x0001
	AttrHidden     = 0x0002
	AttrSystem     = 0x0004
	AttrArchive    = 0x0020
	AttrSparse     = 0x0200
	AttrReparse    = 0x0400
	AttrCompressed = 0x0800
	AttrEncrypted  = 0x4000
)

// Entry is a file, directory or symbolic link. Its exported fields are
// read-only once Open or Entries returned it.
type Entry struct {
	Name string // the Win32 or POSIX name it was listed under; "/" for the root
	// Mode is 0755|ModeDir for a directory, 0644 for a file (0444 with the
	// read-only attribute), 0777|ModeSymlink for a symbolic link or
	// junction. $Secure's ACLs are not mapped.
	Mode fs.FileMode
	// Attributes are the Windows file attributes (AttrReadOnly, ...).
	Attributes uint32
	// Size is a file's size, a symbolic link's target length, 0 for a
	// directory.
	Size int64
	// Ino is the MFT record number: hard links share it; RootIno for the
	// root.
	Ino uint64
	// Nlink is the number of names (hard links) of a file, the DOS 8.3
	// aliases not counted; 1 for a directory.
	Nlink uint32
	// Times from $STANDARD_INFORMATION: last write, last access, last
	// change of the MFT record, creation.
	ModTime    time.Time
	AccessTime time.Time
	ChangeTime time.Time
	BirthTime  time.Time
	// Target is a symbolic link's target: an NTFS symbolic link, a junction
	// (mount point), a WSL or Interix symlink, translated as ntfs-3g shows it.
	Target string
	// Extents hold a file's data when it is stored plainly (not resident,
	// not compressed), in order; nil otherwise.
	Extents []Extent
	// Streams are the names of the file's alternate data streams.
	Streams []string

	fs      *FS
	parents []int64 // the directories its names are in
	data    *stream
	dataErr error

	dir readkit.Listing[*Entry]
}

// IsDir tells whether e is a directory.
func (e *Entry) IsDir() bool { return e.Mode.IsDir() }

// IsSymlink tells whether e is a symbolic link (or a junction).
func (e *Entry) IsSymlink() bool { return e.Mode&fs.ModeSymlink != 0 }

// UnixMode is Mode as a POSIX st_mode (S_IFMT type bits and permissions).
func (e *Entry) UnixMode() uint32 { return readkit.UnixMode(e.Mode) }

// FileInfo is e's name, size, mode and modification time; Sys is e.
func (e *Entry) FileInfo() fs.FileInfo {
	return readkit.FileInfo(e.Name, e.Size, e.Mode, e.ModTime, e)
}

// DataErr is why e's data cannot be read (ErrEncrypted for an EFS file, a
// *FormatError for a damaged one, errors.ErrUnsupported), or nil.
func (e *Entry) DataErr() error { return e.dataErr }

// Entries lists a directory from its index, in index order, without "."
// and ".."; DOS 8.3 aliases and the system files of the root ($MFT, ...)
// are left out. The listing is read once and cached.
func (e *Entry) Entries() ([]*Entry, error) {
	if !e.IsDir() {
		return nil, fmt.Errorf("ntfs: %s: %w", e.Name, readkit.ErrNotDir)
	}
	return e.dir.Entries(func() ([]*Entry, map[string]*Entry, error) { return e.fs.list(e) })
}

// Child looks name up in directory e, case-sensitively as ntfs-3g does.
// The error matches fs.ErrNotExist when there is no such entry.
func (e *Entry) Child(name string) (*Entry, error) {
	if _, err := e.Entries(); err != nil {
		return nil, err
	}
	return e.dir.Find(name)
}

// childFold looks name up ignoring case, as Windows does.
func (e *Entry) childFold(name string) *Entry {
	if c, err := e.Child(name); err == nil {
		return c
	}
	kids, _ := e.Entries()
	for _, c := range kids {
		if strings.EqualFold(c.Name, name) {
			return c
		}
	}
	return nil
}

// Lookup finds the entry at a slash-separated path from the root ("" and
// "/" are the root), case-sensitively. Symbolic links are not followed.
func (f *FS) Lookup(p string) (*Entry, error) {
	return readkit.Lookup("ntfs", f.root, p, f.lim.MaxDepth)
}

// FS is the volume's tree as an fs.FS (also an fs.ReadDirFS and an
// fs.StatFS): symbolic links and junctions are not followed; Sys of a
// FileInfo is the *Entry.
func (f *FS) FS() fs.FS { return readkit.NewFS("ntfs", f.root, f.lim.MaxDepth) }

// ReaderAt reads e's data: stored, sparse (zeros), compressed (LZNT1) or
// resident in its MFT record. Reads past Size return io.EOF.
func (e *Entry) ReaderAt() io.ReaderAt { return fileReader{e} }

type fileReader struct{ e *Entry }

func (r fileReader) ReadAt(p []byte, off int64) (int, error) {
	e := r.e
	if e.dataErr != nil {
		return 0, e.dataErr
	}
	if e.IsDir() || e.IsSymlink() || e.data == nil {
		if off >= 0 && e.Size == 0 {
			return 0, io.EOF
		}
		return 0, fmt.Errorf("ntfs: %s has no data", e.Name)
	}
	return e.data.ReadAt(p, off)
}

// Stream reads the alternate data stream name of e (one of Streams).
func (e *Entry) Stream(name string) (io.ReaderAt, int64, error) {
	if name == "" {
		return nil, 0, fs.ErrNotExist
	}
	fr, err := e.fs.loadFile(int64(e.Ino))
	if err != nil {
		return nil, 0, err
	}
	a := findAttr(fr.all, atData, name)
	if a == nil {
		return nil, 0, fs.ErrNotExist
	}
	if a.flags&afEncrypted != 0 {
		return nil, 0, ErrEncrypted
	}
	s, err := e.fs.newStream(a)
	if err != nil {
		return nil, 0, err
	}
	return s, s.size, nil
}

// fileNameKey is a decoded $FILE_NAME (an attribute or an index key).
type fileNameKey struct {
	parent    int64
	parentSeq uint16
	modTime   time.Time
	size      int64
	attrs     uint32
	namespace uint8
	name      string
}

// Name namespaces.
const (
	nsPOSIX = 0
	nsWin32 = 1
	nsDOS   = 2
	nsBoth  = 3
)

// parseFileName decodes a $FILE_NAME value b.
func parseFileName(b []byte) (fileNameKey, bool) {
	if len(b) < 0x42 {
		return fileNameKey{}, false
	}
	n := int(b[0x40])
	if 0x42+2*n > len(b) {
		return fileNameKey{}, false
	}
	ref := binary.LittleEndian.Uint64(b)
	return fileNameKey{
		parent:    int64(ref & 0xFFFFFFFFFFFF),
		parentSeq: uint16(ref >> 48),
		modTime:   filetime(binary.LittleEndian.Uint64(b[0x10:])),
		size:      int64(binary.LittleEndian.Uint64(b[0x30:])),
		attrs:     binary.LittleEndian.Uint32(b[0x38:]),
		namespace: b[0x41],
		name:      decodeUTF16(b[0x42 : 0x42+2*n]),
	}, true
}

// filetime converts a Windows FILETIME (100 ns since 1601) to a time.
func filetime(v uint64) time.Time {
	const epochDiff = 11644473600 // seconds from 1601 to 1970
	return time.Unix(int64(v/1e7)-epochDiff, int64(v%1e7)*100).UTC()
}

// dirFlag is $FILE_NAME's flag for a directory (an $I30 index present).
const dirFlag = 0x10000000

// entryFor reads MFT record num as the entry name in directory parent
// (nil for the root).
func (f *FS) entryFor(num int64, name string, parent *Entry) (*Entry, error) {
	fr, err := f.loadFile(num)
	if err != nil {
		return nil, err
	}
	e := &Entry{Name: name, Ino: uint64(num), fs: f, Nlink: 0}
	if si := findAttr(fr.all, atStandardInfo, ""); si != nil && len(si.value) >= 0x24 {
		v := si.value
		e.BirthTime = filetime(binary.LittleEndian.Uint64(v))
		e.ModTime = filetime(binary.LittleEndian.Uint64(v[8:]))
		e.ChangeTime = filetime(binary.LittleEndian.Uint64(v[16:]))
		e.AccessTime = filetime(binary.LittleEndian.Uint64(v[24:]))
		e.Attributes = binary.LittleEndian.Uint32(v[32:])
	} else {
		return nil, formatErr(fr.off, "MFT record %d has no $STANDARD_INFORMATION", num)
	}
	for _, a := range fr.all {
		if a.typ == atFileName && a.resident {
			if k, ok := parseFileName(a.value); ok && k.namespace != nsDOS {
				e.Nlink++
				e.parents = append(e.parents, k.parent)
			}
		}
	}
	e.Nlink = max(e.Nlink, 1)
	isDir := fr.flags&mfDir != 0
	for _, a := range fr.all {
		if a.typ == atData && a.name != "" {
			e.Streams = append(e.Streams, a.name)
		}
	}
	if rp := findAttr(fr.all, atReparse, ""); rp != nil {
		b, err := f.attrBytes(rp, 16<<10)
		if err != nil {
			e.dataErr = err
		} else if target, ok, err := f.reparseTarget(b, isDir, parent); ok {
			e.Mode, e.Target, e.Size, e.Nlink, e.Streams = fs.ModeSymlink|0o777, target, int64(len(target)), 1, nil
			return e, nil
		} else if err != nil && !isDir {
			e.dataErr = err
		}
	}
	if isDir {
		e.Mode, e.Nlink = fs.ModeDir|0o755, 1
		if findAttr(fr.all, atIndexRoot, "$I30") == nil {
			e.dataErr = formatErr(fr.off, "directory record %d has no $I30 index", num)
		}
		return e, nil
	}
	e.Mode = 0o644
	if e.Attributes&AttrReadOnly != 0 {
		e.Mode = 0o444
	}
	data := findAttr(fr.all, atData, "")
	if data == nil {
		if e.dataErr == nil {
			e.dataErr = formatErr(fr.off, "file record %d has no $DATA", num)
		}
		return e, nil
	}
	e.Size = data.dataSize
	switch {
	case e.dataErr != nil:
	case data.flags&afEncrypted != 0 || e.Attributes&AttrEncrypted != 0:
		e.dataErr = ErrEncrypted
	default:
		e.data, e.dataErr = f.newStream(data)
		if e.dataErr == nil {
			e.Extents = e.data.extents()
		}
	}
	if e.dataErr == nil && e.Attributes&AttrSystem != 0 && e.Size >= 10 && e.Size <= 8+2*4096 {
		if target, ok := f.interixTarget(e); ok {
			e.Mode, e.Target, e.Size, e.data, e.Extents = fs.ModeSymlink|0o777, target, int64(len(target)), nil, nil
		}
	}
	return e, nil
}

// interixTarget reads an Interix symbolic link (what ntfs-3g writes for
// symlink(2)): a system file holding "IntxLNK\x01" and the UTF-16 target.
func (f *FS) interixTarget(e *Entry) (string, bool) {
	b := make([]byte, e.Size)
	if _, err := e.data.ReadAt(b, 0); err != nil || string(b[:8]) != "IntxLNK\x01" || len(b)%2 != 0 {
		return "", false
	}
	return decodeUTF16(b[8:]), true
}

// maxXattr is the largest value Linux takes for an extended attribute.
const maxXattr = 64 << 10

// Xattrs are the names e's alternate data streams take as extended
// attributes, as ntfs-3g's streams_interface=xattr shows them: "user."
// and the stream's name.
func (e *Entry) Xattrs() []string {
	out := make([]string, len(e.Streams))
	for i, s := range e.Streams {
		out[i] = "user." + s
	}
	return out
}

// Xattr reads the stream the extended attribute name stands for (see
// Xattrs); fs.ErrNotExist when there is none, ErrTooLarge over 64 KiB.
func (e *Entry) Xattr(name string) ([]byte, error) {
	s, ok := strings.CutPrefix(name, "user.")
	if !ok || !slices.Contains(e.Streams, s) {
		return nil, fs.ErrNotExist
	}
	r, n, err := e.Stream(s)
	if err != nil {
		return nil, err
	}
	if n > maxXattr {
		return nil, fmt.Errorf("ntfs: %s: stream %q of %d bytes: %w", e.Name, s, n, ErrTooLarge)
	}
	b := make([]byte, n)
	if _, err := r.ReadAt(b, 0); err != nil && n > 0 {
		return nil, err
	}
	return b, nil
}
