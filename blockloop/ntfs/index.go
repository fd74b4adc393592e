package ntfs

import (
	"encoding/binary"
	"fmt"
	"io/fs"
	"slices"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Index entry flags.
const (
	ieSubnode = 0x0001
	ieLast    = 0x0002
)

// indexEntry is one entry of a directory index node.
type indexEntry struct {
	ref  uint64 // the MFT reference: record number | sequence<<48
	key  fileNameKey
	sub  int64 // the VCN of the node with the keys before this one; -1 none
	last bool  // the node's end marker (no key)
}

// parseIndexEntries decodes the entries of one index node: b from the
// first entry to the node's end, at image offset off.
func parseIndexEntries(b []byte, off int64) ([]indexEntry, error) {
	var out []indexEntry
	for i := 0; ; {
		if i+16 > len(b) {
			return nil, formatErr(off+int64(i), "index node has no end entry")
		}
		n := int(binary.LittleEndian.Uint16(b[i+8:]))
		keyLen := int(binary.LittleEndian.Uint16(b[i+10:]))
		flags := binary.LittleEndian.Uint16(b[i+12:])
		if n < 16 || n&7 != 0 || n > len(b)-i || 16+keyLen > n || (flags&ieSubnode != 0 && n < 24+keyLen) {
			return nil, formatErr(off+int64(i)+8, "index entry of %d bytes (key %d) overruns its node", n, keyLen)
		}
		e := indexEntry{ref: binary.LittleEndian.Uint64(b[i:]), sub: -1, last: flags&ieLast != 0}
		if flags&ieSubnode != 0 {
			e.sub = int64(binary.LittleEndian.Uint64(b[i+n-8:]))
			if e.sub < 0 {
				return nil, formatErr(off+int64(i+n-8), "index entry names node VCN %d", e.sub)
			}
		}
		if !e.last {
			k, ok := parseFileName(b[i+16 : i+16+keyLen])
			if !ok {
				return nil, formatErr(off+int64(i)+16, "index key of %d bytes is no $FILE_NAME", keyLen)
			}
			e.key = k
		}
		out = append(out, e)
		if e.last {
			return out, nil
		}
		i += n
	}
}

// nodeEntries decodes the index header at h (its entries offset and
// length, relative to h) in b and the entries it spans.
func nodeEntries(b []byte, h int, off int64) ([]indexEntry, error) {
	if h+16 > len(b) {
		return nil, formatErr(off, "index header past its node")
	}
	start := h + int(binary.LittleEndian.Uint32(b[h:]))
	end := h + int(binary.LittleEndian.Uint32(b[h+4:]))
	if start < h+16 || end > len(b) || start > end {
		return nil, formatErr(off+int64(h), "index entries %d..%d outside their %d-byte node", start, end, len(b))
	}
	return parseIndexEntries(b[start:end], off+int64(start))
}

// index is a directory's $I30 index: the root node and the allocation.
type index struct {
	fs        *FS
	blockSize int64
	vcnShift  uint // an index VCN is in clusters, or 512-byte units for blocks smaller than a cluster
	alloc     *stream
	bitmap    []byte
	seen      map[int64]bool
}

// node reads the index block at vcn: in use in $BITMAP, "INDX", fixups,
// its own VCN recorded.
func (x *index) node(vcn int64) ([]indexEntry, error) {
	if x.alloc == nil {
		return nil, formatErr(-1, "index entry points to node %d of a directory with no $INDEX_ALLOCATION", vcn)
	}
	if vcn > 1<<40 {
		return nil, formatErr(-1, "index node VCN %d", vcn)
	}
	off := vcn << x.vcnShift
	if off%x.blockSize != 0 || off+x.blockSize > x.alloc.size {
		return nil, formatErr(-1, "index node VCN %d is outside the directory's %d-byte index", vcn, x.alloc.size)
	}
	if x.seen[vcn] {
		return nil, formatErr(-1, "index node VCN %d is reached twice (a loop in the index)", vcn)
	}
	x.seen[vcn] = true
	bit := off / x.blockSize
	if bit/8 >= int64(len(x.bitmap)) || x.bitmap[bit/8]&(1<<(bit%8)) == 0 {
		return nil, formatErr(-1, "index node VCN %d is not in use in the directory's $BITMAP", vcn)
	}
	b := make([]byte, x.blockSize)
	if _, err := x.alloc.ReadAt(b, off); err != nil {
		return nil, err
	}
	at := int64(-1)
	if xs := x.alloc.extents(); len(xs) > 0 {
		at = imageOffset(xs, off)
	}
	if string(b[:4]) != "INDX" {
		return nil, formatErr(at, "index node VCN %d has no INDX signature", vcn)
	}
	if err := applyFixups(b, at); err != nil {
		return nil, fmt.Errorf("index node VCN %d: %w", vcn, err)
	}
	if got := int64(binary.LittleEndian.Uint64(b[0x10:])); got != vcn {
		return nil, formatErr(at+0x10, "index node at VCN %d says it is VCN %d", vcn, got)
	}
	return nodeEntries(b, 0x18, at)
}

// imageOffset is where byte off of a plainly stored stream is in the image.
func imageOffset(xs []Extent, off int64) int64 {
	for _, x := range xs {
		if off < x.Length {
			if x.Sparse {
				return -1
			}
			return x.Offset + off
		}
		off -= x.Length
	}
	return -1
}

// walkIndex reads directory record num's index: the $INDEX_ROOT node,
// then every node below it in $INDEX_ALLOCATION, in key order (each node at
// most once), calling fn for each entry with a key until fn returns false.
func (f *FS) walkIndex(num int64, fn func(e indexEntry) (bool, error)) error {
	fr, err := f.loadFile(num)
	if err != nil {
		return err
	}
	ir := findAttr(fr.all, atIndexRoot, "$I30")
	if ir == nil || !ir.resident || len(ir.value) < 0x20 {
		return formatErr(fr.off, "directory record %d has no resident $I30 index root", num)
	}
	x := &index{fs: f, seen: map[int64]bool{}}
	x.blockSize = int64(binary.LittleEndian.Uint32(ir.value[8:]))
	if !isPow2(x.blockSize) || x.blockSize < 512 || x.blockSize > 64<<10 {
		return formatErr(ir.off, "directory record %d: index block size %d", num, x.blockSize)
	}
	if x.blockSize < f.clusterSize {
		x.vcnShift = 9
	} else {
		x.vcnShift = uint(log2(f.clusterSize))
	}
	rootEntries, err := nodeEntries(ir.value, 0x10, ir.off)
	if err != nil {
		return err
	}
	if ia := findAttr(fr.all, atIndexAlloc, "$I30"); ia != nil && !ia.resident {
		if ia.dataSize > f.lim.MaxIndexBytes {
			return limitErr(ia.off, "MaxIndexBytes", ia.dataSize, f.lim.MaxIndexBytes)
		}
		if x.alloc, err = f.newStream(ia); err != nil {
			return err
		}
		bm := findAttr(fr.all, atBitmap, "$I30")
		if bm == nil {
			return formatErr(ia.off, "directory record %d has an index allocation and no $BITMAP", num)
		}
		if x.bitmap, err = f.attrBytes(bm, ia.dataSize/x.blockSize/8+8); err != nil {
			return err
		}
	}
	// In-order walk: step 2i descends into entry i's subnode, 2i+1 emits it.
	type frame struct {
		ents []indexEntry
		i    int
	}
	stack := []frame{{ents: rootEntries}}
	for len(stack) > 0 {
		t := &stack[len(stack)-1]
		if t.i >= 2*len(t.ents) {
			stack = stack[:len(stack)-1]
			continue
		}
		e := t.ents[t.i/2]
		step := t.i % 2
		t.i++
		if step == 0 {
			if e.sub >= 0 {
				ents, err := x.node(e.sub)
				if err != nil {
					return err
				}
				stack = append(stack, frame{ents: ents})
			}
			continue
		}
		if e.last {
			continue
		}
		if more, err := fn(e); !more || err != nil {
			return err
		}
	}
	return nil
}

// list lists directory d: the entries of its index, DOS names and the
// root's system files left out, each name once.
func (f *FS) list(d *Entry) ([]*Entry, map[string]*Entry, error) {
	if d.dataErr != nil {
		return nil, nil, d.dataErr
	}
	var kids []*Entry
	byName := map[string]*Entry{}
	err := f.walkIndex(int64(d.Ino), func(e indexEntry) (bool, error) {
		if e.key.namespace == nsDOS {
			return true, nil
		}
		num := int64(e.ref & 0xFFFFFFFFFFFF)
		if num < firstUser || e.key.name == "" {
			return true, nil // $MFT, ..., the root's "." and $Extend: ntfs-3g does not show them
		}
		name := readkit.SanitizeName(e.key.name)
		if name == "" || byName[name] != nil {
			return true, nil
		}
		if len(kids) >= f.lim.MaxDirEntries {
			return false, limitErr(-1, "MaxDirEntries", int64(len(kids)+1), int64(f.lim.MaxDirEntries))
		}
		c, err := f.entryFor(num, name, d)
		if err != nil {
			c = f.brokenEntry(num, name, e.key, err)
		} else if c.IsDir() && !slices.Contains(c.parents, int64(d.Ino)) {
			return true, nil // a directory listed outside its parent: keep the tree a tree
		}
		kids = append(kids, c)
		byName[name] = c
		return true, nil
	})
	if err != nil {
		return nil, nil, fmt.Errorf("ntfs: directory %q (record %d): %w", d.Name, d.Ino, err)
	}
	return kids, byName, nil
}

// findFold looks name up in directory record num ignoring case, as Windows
// resolves paths, without listing it: its record, its name as stored and
// its $FILE_NAME flags.
func (f *FS) findFold(num int64, name string) (int64, fileNameKey, bool) {
	var found fileNameKey
	at := int64(-1)
	f.walkIndex(num, func(e indexEntry) (bool, error) {
		if e.key.namespace != nsDOS && strings.EqualFold(e.key.name, name) {
			at, found = int64(e.ref&0xFFFFFFFFFFFF), e.key
			return false, nil
		}
		return true, nil
	})
	return at, found, at >= 0
}

// brokenEntry is an entry whose record cannot be read: what the index
// says of it, its data failing with err.
func (f *FS) brokenEntry(num int64, name string, k fileNameKey, err error) *Entry {
	e := &Entry{Name: name, Ino: uint64(num), fs: f, Nlink: 1, Mode: 0o644, ModTime: k.modTime,
		AccessTime: k.modTime, ChangeTime: k.modTime, Attributes: k.attrs, dataErr: err}
	if k.attrs&dirFlag != 0 {
		e.Mode = fs.ModeDir | 0o755
	}
	return e
}

func log2(n int64) int {
	k := 0
	for n > 1 {
		n >>= 1
		k++
	}
	return k
}
