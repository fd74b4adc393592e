package iso9660

import (
	"encoding/binary"
	"fmt"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// PathTableEntry is one record of a path table (ECMA-119 9.4): a directory,
// its extent and its parent's 1-based index in the table.
type PathTableEntry struct {
	Name   string // raw identifier ("" for the root); UCS-2 decoded in a Joliet table
	Extent uint32 // LBA of the directory's extent (extended attribute record included)
	Parent int    // 1-based index of the parent directory
}

// ParsePathTable parses a little-endian (type L) path table. It checks that
// the first record is the root (its own parent) and that each record's
// parent comes before it, so resolving parents always ends at the root.
// At most maxEntries records are read.
func ParsePathTable(b []byte, joliet bool, maxEntries int) ([]PathTableEntry, error) {
	var out []PathTableEntry
	for pos := 0; pos < len(b); {
		if len(b)-pos < 8 {
			if readkit.AllZero(b[pos:]) {
				break
			}
			return out, fmt.Errorf("iso9660: path table: %d stray bytes at %d", len(b)-pos, pos)
		}
		n := int(b[pos])
		if n == 0 {
			if readkit.AllZero(b[pos:]) {
				break // padding
			}
			return out, fmt.Errorf("iso9660: path table: zero identifier length at %d", pos)
		}
		if pos+8+n > len(b) {
			return out, fmt.Errorf("iso9660: path table: record at %d runs past the table (%d bytes)", pos, len(b))
		}
		if len(out) >= maxEntries {
			return out, limitErr(int64(pos), "MaxDirEntries", int64(len(out)+1), int64(maxEntries))
		}
		e := PathTableEntry{
			Extent: binary.LittleEndian.Uint32(b[pos+2:]) + uint32(b[pos+1]),
			Parent: int(binary.LittleEndian.Uint16(b[pos+6:])),
		}
		id := b[pos+8 : pos+8+n]
		idx := len(out) + 1
		switch {
		case idx == 1:
			if n != 1 || id[0] != 0 || e.Parent != 1 {
				return out, fmt.Errorf("iso9660: path table: first record is not the root")
			}
		case e.Parent < 1 || e.Parent >= idx:
			return out, fmt.Errorf("iso9660: path table: record %d has parent %d", idx, e.Parent)
		case joliet:
			e.Name = decodeUCS2(id)
		default:
			e.Name = string(id)
		}
		out = append(out, e)
		pos += 8 + n + n%2
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("iso9660: path table is empty")
	}
	return out, nil
}

// PathTable reads and parses the served tree's type L path table.
func (img *Image) PathTable() ([]PathTableEntry, error) {
	v := img.vol
	size := int64(v.ptSize)
	off := int64(v.ptLLocation) * SectorSize
	if size > img.lim.MaxPathTable {
		return nil, limitErr(off, "MaxPathTable", size, img.lim.MaxPathTable)
	}
	if !img.inImage(off, size) {
		return nil, formatErr(off, "path table of %d bytes outside the image", size)
	}
	buf := make([]byte, size)
	if err := img.readAt(buf, off); err != nil {
		return nil, err
	}
	return ParsePathTable(buf, v.joliet, img.lim.MaxDirEntries)
}

// Check reads the whole served tree, within the limits, and cross-checks it
// with the path table: every directory of the path table is in the tree at
// the same path and extent, and the other way round. Rock Ridge relocation
// is taken into account (the path table records the relocated place). It
// returns the first problem found.
func (img *Image) Check() error {
	pt, err := img.PathTable()
	if err != nil {
		return err
	}
	// Paths from the path table, by extent. Names are compared as the tree
	// of raw identifiers has them.
	ptPath := make([]string, len(pt))
	byExtent := make(map[uint32]string, len(pt))
	for i, e := range pt {
		if i > 0 {
			ptPath[i] = ptPath[e.Parent-1] + "/" + e.Name
		}
		if _, dup := byExtent[e.Extent]; dup {
			return fmt.Errorf("iso9660: path table lists extent %d twice", e.Extent)
		}
		byExtent[e.Extent] = ptPath[i]
	}
	if pt[0].Extent != img.vol.rootExtent {
		return fmt.Errorf("iso9660: path table root extent %d, root record extent %d", pt[0].Extent, img.vol.rootExtent)
	}
	// Walk the served tree (breadth first, no recursion).
	type item struct {
		e     *Entry
		depth int
	}
	queue := []item{{img.root, 0}}
	dirs := 1
	inTree := map[uint32]bool{img.root.dirLBA: true}
	for len(queue) > 0 {
		it := queue[0]
		queue = queue[1:]
		kids, err := it.e.Entries()
		if err != nil {
			return err
		}
		for _, c := range kids {
			if !c.IsDir() {
				continue
			}
			if it.depth+1 > img.lim.MaxDepth {
				return limitErr(0, "MaxDepth", int64(it.depth+1), int64(img.lim.MaxDepth))
			}
			if _, ok := byExtent[c.dirLBA]; !ok {
				return fmt.Errorf("iso9660: directory %q (extent %d) is not in the path table", c.Name, c.dirLBA)
			}
			if dirs++; dirs > len(pt) {
				return fmt.Errorf("iso9660: tree has more directories than the path table (%d)", len(pt))
			}
			inTree[c.dirLBA] = true
			queue = append(queue, item{c, it.depth + 1})
		}
	}
	// Every directory of the path table is in the tree, except the Rock
	// Ridge relocation directory (hidden: its directories are shown where
	// they were).
	for i, e := range pt {
		if !inTree[e.Extent] && !img.isHidden(e.Extent) {
			return fmt.Errorf("iso9660: path table directory %q (extent %d) is not in the tree", ptPath[i], e.Extent)
		}
	}
	// Names: in the plain and Joliet trees, the path table's identifiers
	// are the tree's names.
	if img.tree != TreeRockRidge {
		for i := 1; i < len(pt); i++ {
			p := strings.TrimPrefix(ptPath[i], "/")
			if img.tree == TreePlain {
				p = img.showPath(p)
			}
			e, err := img.Lookup(p)
			if err != nil {
				return fmt.Errorf("iso9660: path table directory %q: %w", p, err)
			}
			if e.dirLBA != pt[i].Extent {
				return fmt.Errorf("iso9660: path table directory %q has extent %d, tree %d", p, pt[i].Extent, e.dirLBA)
			}
		}
	}
	return nil
}

// showPath is path table path p (raw identifiers) with its names shown as
// the plain tree shows them.
func (img *Image) showPath(p string) string {
	parts := strings.Split(p, "/")
	for i, n := range parts {
		parts[i] = img.nameMap.Show(n)
	}
	return strings.Join(parts, "/")
}
