package fat

import (
	"encoding/binary"
	"fmt"
	"io"
	"io/fs"
	"sync"
	"syscall"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Node is a file or directory of a [Volume]. Its methods are safe for
// concurrent use.
type Node struct {
	v      *Volume
	isRoot bool
	isDir  bool
	ino    uint64
	name   string // the long name, else the 8.3 name with its case bits
	parent *Node
	slot   int // index of the 8.3 entry in the parent's directory
	nslots int // entries in all: long-name entries and the 8.3 one
	de     dirent
	// cluster is the first cluster (the root's on FAT32; 0 for the
	// FAT12/16 root and an empty file); chain holds a file's or a
	// directory's clusters as they are now (committed or not).
	cluster uint32
	chain   []uint32
	size    int64 // a file's size now
	badErr  error // why the data cannot be used (a broken chain)

	// A directory's contents.
	loaded bool
	buf    []byte
	kids   map[string]*Node // by foldKey of the long and of the 8.3 name
	shorts map[[11]byte]*Node
	list   []*Node

	dmu      sync.Mutex // serializes a file's data writes against truncation
	dirty    bool       // size, chain or times not yet written
	opens    int
	unlinked bool
	// diskCluster and diskSize are what the entry on the image says.
	diskCluster, diskSize uint32
}

// NodeInfo is what Stat says of a node.
type NodeInfo struct {
	Name       string
	ShortName  string
	Ino        uint64
	Mode       fs.FileMode
	Attr       uint8
	Size       int64
	ModTime    time.Time
	AccessTime time.Time
	BirthTime  time.Time
}

// UnixMode is Mode as a POSIX st_mode.
func (i NodeInfo) UnixMode() uint32 { return readkit.UnixMode(i.Mode) }

// IsDir tells whether n is a directory.
func (n *Node) IsDir() bool { return n.isDir }

// Stat says what n is now.
func (n *Node) Stat() NodeInfo {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	return n.statLocked()
}

func (n *Node) statLocked() NodeInfo {
	v := n.v
	i := NodeInfo{Name: n.name, Ino: n.ino, Attr: n.de.attr, Size: n.size}
	if n.isRoot {
		i.Name = "/"
		i.ModTime, i.AccessTime = time.Unix(0, 0), time.Unix(0, 0)
	} else {
		i.ShortName = shortName(n.de.name, 0, false)
		i.ModTime = v.fatTime(n.de.wrtDate, n.de.wrtTime, 0)
		i.AccessTime = i.ModTime
		if n.de.accDate != 0 {
			i.AccessTime = v.fatTime(n.de.accDate, 0, 0)
		}
		if n.de.crtDate != 0 {
			i.BirthTime = v.fatTime(n.de.crtDate, n.de.crtTime, n.de.crtTenth)
		}
	}
	switch {
	case n.isDir:
		i.Mode = fs.ModeDir | 0o755
		i.Size = int64(max(len(n.chain), 1)) * v.b.clusterSize
		if n.isRoot && v.b.bits != 32 {
			i.Size = v.b.rootSize
		}
	case n.de.attr&AttrReadOnly != 0:
		i.Mode = 0o444
	default:
		i.Mode = 0o644
	}
	return i
}

// fatTime is the reader's decoding, in the volume's location.
func (v *Volume) fatTime(date, tm uint16, tenths uint8) time.Time {
	f := FS{loc: v.loc}
	return f.fatTime(date, tm, tenths)
}

// DataErr is why n's data cannot be read or written, or nil.
func (n *Node) DataErr() error { return n.badErr }

// load reads directory n's entries.
func (n *Node) load() error {
	if n.loaded {
		return nil
	}
	if n.badErr != nil {
		return n.badErr
	}
	v := n.v
	if n.isRoot && v.b.bits != 32 {
		n.buf = make([]byte, v.b.rootSize)
		if err := v.read(n.buf, v.b.rootOff); err != nil {
			return err
		}
	} else {
		maxc := max(DefaultLimits.MaxDirSize/v.b.clusterSize, 1)
		cs, err := v.readChain(n.cluster, maxc)
		if err != nil {
			n.badErr = fmt.Errorf("fat: directory %s: %w", n.name, err)
			return n.badErr
		}
		n.chain = cs
		n.buf = make([]byte, int64(len(cs))*v.b.clusterSize)
		for i, c := range cs {
			if err := v.read(n.buf[int64(i)*v.b.clusterSize:int64(i+1)*v.b.clusterSize], v.clusterOff(c)); err != nil {
				return err
			}
		}
	}
	n.kids = map[string]*Node{}
	n.shorts = map[[11]byte]*Node{}
	var lfn lfnState
	lfnStart := -1
	for i := 0; i+32 <= len(n.buf); i += 32 {
		b := n.buf[i : i+32]
		if b[0] == 0 {
			break
		}
		if b[0] == 0xE5 {
			lfn.reset()
			continue
		}
		if b[11]&0x3F == attrLFN {
			s := parseLFN(b)
			if s.ord&0x40 != 0 {
				lfnStart = i / 32
			}
			lfn.add(s)
			continue
		}
		de := parseDirent(b)
		long := lfn.name(de.name)
		if de.attr&AttrVolumeID != 0 {
			if de.attr&AttrDir == 0 {
				n.shorts[de.name] = nil // a label takes its name
			}
			continue
		}
		if de.name[0] == '.' && (string(de.name[:]) == ".          " || string(de.name[:]) == "..         ") {
			continue
		}
		c := &Node{v: v, parent: n, slot: i / 32, nslots: 1, de: de, ino: v.nextIno}
		v.nextIno++
		if long != "" && lfnStart >= 0 {
			c.nslots = i/32 - lfnStart + 1
		}
		c.name = readkit.SanitizeName(long)
		if c.name == "" {
			c.name = readkit.SanitizeName(shortName(de.name, de.ntCase, true))
		}
		if c.name == "" {
			continue
		}
		c.cluster = de.cluster
		if v.b.bits != 32 {
			c.cluster &= 0xFFFF
		}
		c.diskCluster, c.diskSize = c.cluster, de.size
		c.isDir = de.attr&AttrDir != 0
		if c.isDir {
			if c.cluster == 0 || c.cluster == n.cluster || (v.b.bits == 32 && c.cluster == v.b.rootCluster) || !v.validCluster(c.cluster) {
				c.badErr = fmt.Errorf("fat: directory %s: first cluster %d: %w", c.name, c.cluster, syscall.EIO)
			}
		} else {
			c.size = int64(de.size)
			if c.size > 0 {
				want := (c.size + v.b.clusterSize - 1) / v.b.clusterSize
				cs, err := v.readChain(c.cluster, want+1)
				if err == nil && int64(len(cs)) != want {
					err = formatErr(v.b.fatOff, "cluster chain from %d has %d clusters, %d needed for the size", c.cluster, len(cs), want)
				}
				if err != nil {
					c.badErr = fmt.Errorf("fat: file %s: %w", c.name, err)
				}
				c.chain = cs
			}
		}
		if n.kids[foldKey(c.name)] != nil {
			continue // a duplicate name: left out, as the reader does
		}
		n.addKid(c)
	}
	n.loaded = true
	return nil
}

func (n *Node) addKid(c *Node) {
	n.kids[foldKey(c.name)] = c
	if sk := foldKey(shortName(c.de.name, 0, false)); n.kids[sk] == nil {
		n.kids[sk] = c
	}
	n.shorts[c.de.name] = c
	n.list = append(n.list, c)
}

func (n *Node) dropKid(c *Node) {
	if n.kids[foldKey(c.name)] == c {
		delete(n.kids, foldKey(c.name))
	}
	if sk := foldKey(shortName(c.de.name, 0, false)); n.kids[sk] == c {
		delete(n.kids, sk)
	}
	if n.shorts[c.de.name] == c {
		delete(n.shorts, c.de.name)
	}
	for i, k := range n.list {
		if k == c {
			n.list = append(n.list[:i], n.list[i+1:]...)
			break
		}
	}
}

// Lookup finds name in directory n, case-insensitively, against long and
// 8.3 names; the error matches fs.ErrNotExist when there is none.
func (n *Node) Lookup(name string) (*Node, error) {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	return n.lookupLocked(name)
}

func (n *Node) lookupLocked(name string) (*Node, error) {
	if !n.isDir {
		return nil, errnoErr(syscall.ENOTDIR, "%s", n.name)
	}
	if err := n.load(); err != nil {
		return nil, err
	}
	c := n.kids[foldKey(name)]
	if c == nil {
		return nil, fs.ErrNotExist
	}
	return c, nil
}

// List lists directory n, in the order of its entries, without "." and "..".
func (n *Node) List() ([]*Node, error) {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if !n.isDir {
		return nil, errnoErr(syscall.ENOTDIR, "%s", n.name)
	}
	if err := n.load(); err != nil {
		return nil, err
	}
	// In image order: a new entry may have taken a freed slot.
	out := append([]*Node(nil), n.list...)
	sortBySlot(out)
	return out, nil
}

func sortBySlot(ns []*Node) {
	for i := 1; i < len(ns); i++ {
		for j := i; j > 0 && ns[j].slot < ns[j-1].slot; j-- {
			ns[j], ns[j-1] = ns[j-1], ns[j]
		}
	}
}

// dirOff is the image offset of byte off of directory n.
func (n *Node) dirOff(off int64) int64 {
	v := n.v
	if n.isRoot && v.b.bits != 32 {
		return v.b.rootOff + off
	}
	cs := v.b.clusterSize
	return v.clusterOff(n.chain[off/cs]) + off%cs
}

// writeDir writes bytes [a, b) of directory n's buffer to the image.
func (n *Node) writeDir(a, b int64) error {
	cs := n.v.b.clusterSize
	for a < b {
		end := min(b, (a/cs+1)*cs)
		if n.isRoot && n.v.b.bits != 32 {
			end = b
		}
		if err := n.v.write(n.buf[a:end], n.dirOff(a)); err != nil {
			return err
		}
		a = end
	}
	return nil
}

// putDirent encodes de at byte off of buf.
func (v *Volume) putDirent(b []byte, de *dirent) {
	copy(b[0:11], de.name[:])
	b[11] = de.attr
	b[12] = de.ntCase
	b[13] = de.crtTenth
	binary.LittleEndian.PutUint16(b[14:], de.crtTime)
	binary.LittleEndian.PutUint16(b[16:], de.crtDate)
	binary.LittleEndian.PutUint16(b[18:], de.accDate)
	hi := uint16(de.cluster >> 16)
	if v.b.bits != 32 {
		hi = 0
	}
	binary.LittleEndian.PutUint16(b[20:], hi)
	binary.LittleEndian.PutUint16(b[22:], de.wrtTime)
	binary.LittleEndian.PutUint16(b[24:], de.wrtDate)
	binary.LittleEndian.PutUint16(b[26:], uint16(de.cluster))
	binary.LittleEndian.PutUint32(b[28:], de.size)
}

// writeEntry writes n's 8.3 entry (size, first cluster, times) into its
// parent, as n is now.
func (n *Node) writeEntry() error {
	if n.isRoot || n.unlinked {
		return nil
	}
	n.de.cluster = n.cluster
	if !n.isDir {
		n.de.size = uint32(n.size)
	}
	n.diskCluster, n.diskSize = n.de.cluster, n.de.size
	p := n.parent
	off := int64(n.slot) * 32
	n.v.putDirent(p.buf[off:off+32], &n.de)
	return p.writeDir(off, off+32)
}

// setTimes sets n's FAT times from t (write), a (access date) and c
// (creation); nil leaves one.
func (n *Node) setTimes(m, a, c *time.Time) {
	v := n.v
	if m != nil {
		n.de.wrtDate, n.de.wrtTime, _ = v.toFAT(*m)
	}
	if a != nil {
		n.de.accDate, _, _ = v.toFAT(*a)
	}
	if c != nil {
		n.de.crtDate, n.de.crtTime, n.de.crtTenth = v.toFAT(*c)
	}
}

// toFAT encodes t as a FAT date, time (2 s) and count of 10 ms (0..199),
// in the volume's location; out of range, the first or last FAT time.
func (v *Volume) toFAT(t time.Time) (date, tm uint16, tenths uint8) {
	t = t.In(v.loc)
	switch {
	case t.Year() < 1980:
		return 0<<9 | 1<<5 | 1, 0, 0
	case t.Year() > 2107:
		return 127<<9 | 12<<5 | 31, 23<<11 | 59<<5 | 29, 199
	}
	date = uint16(t.Year()-1980)<<9 | uint16(t.Month())<<5 | uint16(t.Day())
	tm = uint16(t.Hour())<<11 | uint16(t.Minute())<<5 | uint16(t.Second()/2)
	tenths = uint8(t.Second()%2*100 + t.Nanosecond()/10_000_000)
	return date, tm, tenths
}

// Open counts an open of n (its data stays while open, even unlinked).
func (n *Node) Open() {
	n.v.mu.Lock()
	n.opens++
	n.v.mu.Unlock()
}

// Release ends an open; the last one of an unlinked file frees its
// clusters (at the next checkpoint on the image).
func (n *Node) Release() error {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.opens > 0 {
		n.opens--
	}
	if n.unlinked && n.opens == 0 {
		delete(v.live, n)
		v.freeLater(n.chain)
		n.chain = nil
	}
	return nil
}

// touch marks n's entry as changed: the next checkpoint writes it.
func (n *Node) touch() {
	n.dirty = true
	n.v.live[n] = true
}

// freeLater frees clusters cs in memory. Those the image has allocated are
// freed there by the next checkpoint, after the entries that used them
// are written (until then nothing allocates them); the others are free at
// once.
func (v *Volume) freeLater(cs []uint32) {
	for _, c := range cs {
		if v.val[c] == 0 {
			continue
		}
		v.val[c] = 0
		v.free++
		if v.onImage(c) != 0 {
			v.pendingFree = append(v.pendingFree, c)
		}
	}
}

// ReadAt reads file n's data at off.
func (n *Node) ReadAt(p []byte, off int64) (int, error) {
	n.dmu.Lock()
	defer n.dmu.Unlock()
	v := n.v
	v.mu.Lock()
	if n.isDir {
		v.mu.Unlock()
		return 0, errnoErr(syscall.EISDIR, "%s", n.name)
	}
	if n.badErr != nil {
		v.mu.Unlock()
		return 0, n.badErr
	}
	size := n.size
	chain := n.chain
	v.mu.Unlock()
	if off >= size {
		return 0, io.EOF
	}
	want := min(int64(len(p)), size-off)
	done, err := v.dataIO(chain, p[:want], off, false)
	if err == nil && int64(done) < int64(len(p)) {
		err = io.EOF
	}
	return done, err
}

// dataIO reads or writes p at off of the data in chain, a run of
// contiguous clusters at a time.
func (v *Volume) dataIO(chain []uint32, p []byte, off int64, write bool) (int, error) {
	cs := v.b.clusterSize
	done := 0
	for len(p) > 0 {
		i := off / cs
		in := off % cs
		j := i
		for j+1 < int64(len(chain)) && chain[j+1] == chain[j]+1 && (j+1-i)*cs-in < int64(len(p)) {
			j++
		}
		n := min(int64(len(p)), (j-i+1)*cs-in)
		at := v.clusterOff(chain[i]) + in
		var err error
		if write {
			err = v.write(p[:n], at)
		} else {
			err = v.read(p[:n], at)
		}
		if err != nil {
			return done, err
		}
		done += int(n)
		p = p[n:]
		off += n
	}
	return done, nil
}

// WriteAt writes p at off of file n, growing it as needed: new clusters
// are taken (in memory), the data written into them, then they join the
// file's chain and size, which reach the image at the next checkpoint
// ([Volume.Sync]).
func (n *Node) WriteAt(p []byte, off int64) (int, error) {
	n.dmu.Lock()
	defer n.dmu.Unlock()
	v := n.v
	if off < 0 {
		return 0, errnoErr(syscall.EINVAL, "negative offset")
	}
	end := off + int64(len(p))
	if end > 0xFFFFFFFF {
		return 0, errnoErr(syscall.EFBIG, "%s: FAT files end at 4 GiB - 1", n.name)
	}
	v.mu.Lock()
	if err := n.writable(); err != nil {
		v.mu.Unlock()
		return 0, err
	}
	oldSize := n.size
	add, err := n.reserve(end)
	if err != nil {
		v.mu.Unlock()
		return 0, err
	}
	// A commit meanwhile (another file's fsync) sees n without add.
	chain := append(n.chain[:len(n.chain):len(n.chain)], add...)
	v.mu.Unlock()
	// The gap between the old end and off reads as zeros.
	done := 0
	if off > oldSize {
		_, err = v.dataIO(chain, make([]byte, off-oldSize), oldSize, true)
	}
	if err == nil {
		done, err = v.dataIO(chain, p, off, true)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err != nil {
		v.release(add)
		return done, err
	}
	n.link(add)
	if end > n.size {
		n.size = end
	}
	now := v.now()
	n.setTimes(&now, nil, nil)
	n.touch()
	return done, nil
}

func (n *Node) writable() error {
	switch {
	case n.v.closed:
		return ErrClosed
	case n.isDir:
		return errnoErr(syscall.EISDIR, "%s", n.name)
	case n.badErr != nil:
		return n.badErr
	}
	return nil
}

// reserve takes the clusters n needs beyond its chain for size bytes, in
// memory, not yet linked to it (link does that once their data is
// written).
func (n *Node) reserve(size int64) ([]uint32, error) {
	v := n.v
	cs := v.b.clusterSize
	want := (size + cs - 1) / cs
	have := int64(len(n.chain))
	if want <= have {
		return nil, nil
	}
	if err := v.checkChainLen(want); err != nil {
		return nil, err
	}
	var after uint32
	if have > 0 {
		after = n.chain[have-1]
	}
	return v.allocate(int(want-have), after)
}

// link appends reserved clusters to n's chain (in memory).
func (n *Node) link(add []uint32) {
	if len(add) == 0 {
		return
	}
	v := n.v
	for i := 1; i < len(add); i++ {
		v.val[add[i-1]] = add[i]
	}
	if k := len(n.chain); k > 0 {
		v.val[n.chain[k-1]] = add[0]
	} else {
		n.cluster = add[0]
	}
	n.chain = append(n.chain, add...)
}

// Truncate sets file n's size: cut clusters are freed (on the image at the
// next checkpoint, after its entry says the new size); new bytes read as
// zeros.
func (n *Node) Truncate(size int64) error {
	n.dmu.Lock()
	defer n.dmu.Unlock()
	v := n.v
	if size < 0 || size > 0xFFFFFFFF {
		return errnoErr(syscall.EFBIG, "%s: size %d", n.name, size)
	}
	v.mu.Lock()
	defer v.mu.Unlock()
	if err := n.writable(); err != nil {
		return err
	}
	now := v.now()
	if size > n.size {
		old := n.size
		add, err := n.reserve(size)
		if err != nil {
			return err
		}
		chain := append(n.chain[:len(n.chain):len(n.chain)], add...)
		v.mu.Unlock()
		_, err = v.dataIO(chain, make([]byte, size-old), old, true)
		v.mu.Lock()
		if err != nil {
			v.release(add)
			return err
		}
		n.link(add)
		n.size = size
		n.setTimes(&now, nil, nil)
		n.touch()
		return nil
	}
	n.setTimes(&now, nil, nil)
	n.touch()
	cs := v.b.clusterSize
	keep := (size + cs - 1) / cs
	cut := n.chain[keep:]
	n.chain = n.chain[:keep:keep]
	v.freeLater(cut)
	if keep > 0 {
		v.val[n.chain[keep-1]] = v.eocValue()
	} else {
		n.cluster = 0
	}
	n.size = size
	return nil
}

// SetTimes sets n's modification and access times (nil leaves one), as
// utimensat(2); FAT keeps 2 s and a date.
func (n *Node) SetTimes(mtime, atime *time.Time) error {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.isRoot {
		return nil
	}
	if v.closed {
		return ErrClosed
	}
	n.setTimes(mtime, atime, nil)
	n.touch()
	return nil
}

// SetReadOnly sets or clears n's read-only attribute (chmod a-w / u+w).
func (n *Node) SetReadOnly(ro bool) error {
	v := n.v
	v.mu.Lock()
	defer v.mu.Unlock()
	if n.isRoot || n.isDir {
		return nil
	}
	if ro {
		n.de.attr |= AttrReadOnly
	} else {
		n.de.attr &^= AttrReadOnly
	}
	n.touch()
	return nil
}
