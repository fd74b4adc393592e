package vhdx

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

const (
	kib = 1 << 10
	mib = 1 << 20

	headerOffset1 = 64 * kib
	headerOffset2 = 128 * kib
	headerSize    = 4 * kib
	regionOffset1 = 192 * kib
	regionOffset2 = 256 * kib
	regionSize    = 64 * kib
	metaTableSize = 64 * kib

	maxEntries     = 2047
	maxVirtualSize = 64 << 40 // 64 TiB, the format's maximum

	// Payload block states (BAT entry bits 0-2).
	blockNotPresent       = 0
	blockUndefined        = 1
	blockZero             = 2
	blockUnmapped         = 3
	blockFullyPresent     = 6
	blockPartiallyPresent = 7
	// Sector bitmap block states.
	bitmapPresent = 6

	batOffsetMask = 0xFFFFFFFFFFF00000
)

var (
	// castagnoli is the CRC-32C table, made at the first checksum: making
	// it (hash/crc32's Castagnoli tables) at start would cost every
	// program that links this package.
	castagnoli = sync.OnceValue(func() *crc32.Table { return crc32.MakeTable(crc32.Castagnoli) })

	guidBAT        = guid("2DC27766-F623-4200-9D64-115E9BFD4A08")
	guidMetadata   = guid("8B7CA206-4790-4B9A-B8FE-575F050F886E")
	guidFileParams = guid("CAA16737-FA36-4D43-B3B6-33F0AA44E76B")
	guidDiskSize   = guid("2FA54224-CD1B-4876-B211-5DBED83BF4B8")
	guidPage83     = guid("BECA12AB-B2E6-4523-93EF-C309E000C746")
	guidLogical    = guid("8141BF1D-A96F-4709-BA47-F233A8FAAB5F")
	guidPhysical   = guid("CDA348C7-445D-4471-9CC9-E9885251C556")
	guidParentLoc  = guid("A8D35F2D-B30B-454D-ABF7-D3D84834AB0C")
	guidVHDXParent = guid("B04AEFB7-D19E-4A81-B789-25B8E9445913")
)

// GUID is a GUID as stored by VHDX: the first three fields little endian.
type GUID [16]byte

// guid parses the text form of a GUID ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx").
func guid(s string) GUID {
	g, ok := parseGUID(s)
	if !ok {
		panic("vhdx: bad GUID constant " + s)
	}
	return g
}

func parseGUID(s string) (GUID, bool) {
	var g GUID
	s = strings.Trim(s, "{}")
	b, err := hex.DecodeString(strings.ReplaceAll(s, "-", ""))
	if err != nil || len(b) != 16 || len(s) != 36 {
		return g, false
	}
	binary.LittleEndian.PutUint32(g[0:], binary.BigEndian.Uint32(b[0:]))
	binary.LittleEndian.PutUint16(g[4:], binary.BigEndian.Uint16(b[4:]))
	binary.LittleEndian.PutUint16(g[6:], binary.BigEndian.Uint16(b[6:]))
	copy(g[8:], b[8:])
	return g, true
}

func (g GUID) String() string {
	return fmt.Sprintf("%08X-%04X-%04X-%X-%X", binary.LittleEndian.Uint32(g[0:]),
		binary.LittleEndian.Uint16(g[4:]), binary.LittleEndian.Uint16(g[6:]), g[8:10], g[10:16])
}

// IsZero tells whether g is all zeros.
func (g GUID) IsZero() bool { return g == GUID{} }

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxTableBytes  int64 // bytes of the BAT (and of the metadata region) read into memory
	MaxParentDepth int   // differencing disks followed (parent of parent...)
}

// DefaultLimits: a 64 TiB disk (the format's maximum) with 32 MiB blocks
// has a 16 MiB BAT; with 1 MiB blocks, 8 TiB fit in the default.
var DefaultLimits = Limits{
	MaxTableBytes:  64 << 20,
	MaxParentDepth: 32,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune Open. The zero value opens standalone images only.
type Options struct {
	// Open opens another file the image refers to by name: the parent of
	// a differencing disk, as its parent locator stores it (relative_path
	// first, then absolute_win32_path, then volume_path; Windows paths
	// with backslashes). nil means differencing disks are refused with a
	// clear error. The caller resolves paths and limits depth/cycles.
	Open   func(name string) (io.ReaderAt, int64, error)
	Limits Limits
}

// Info describes an opened image.
type Info struct {
	Variant            string // "dynamic", "fixed" (blocks left allocated) or "differencing"
	VirtualSize        int64
	BlockSize          int64
	LogicalSectorSize  int64
	PhysicalSectorSize int64
	LeaveAllocated     bool
	HasParent          bool
	Parent             string            // the parent's name as passed to Options.Open, "" when none
	ParentLocator      map[string]string // the parent locator's keys and values
	DataWriteGUID      GUID
	Sequence           uint64 // sequence number of the header in use
	Warnings           []string
}

// Image is an opened VHDX image, an io.ReaderAt over its virtual disk. It
// is safe for concurrent use (it keeps no mutable state).
type Image struct {
	r          io.ReaderAt
	size       int64 // of the file
	info       Info
	disk       int64
	block      int64
	sector     int64
	chunkRatio int64
	bat        []uint64
	parent     readkit.Backing // the parent of a differencing disk
}

// Probe tells whether header (the first bytes of a file) starts with the
// VHDX file type identifier.
func Probe(header []byte) bool { return bytes.HasPrefix(header, []byte("vhdxfile")) }

// Size is the virtual disk size in bytes.
func (im *Image) Size() int64 { return im.disk }

// Info describes the image.
func (im *Image) Info() Info {
	i := im.info
	i.Warnings = append([]string(nil), im.info.Warnings...)
	if im.info.ParentLocator != nil {
		i.ParentLocator = map[string]string{}
		for k, v := range im.info.ParentLocator {
			i.ParentLocator[k] = v
		}
	}
	return i
}

// vhdxHeader is one of the two headers.
type vhdxHeader struct {
	seq           uint64
	fileWriteGUID GUID
	dataWriteGUID GUID
	logGUID       GUID
	logVersion    uint16
	version       uint16
	logLength     uint32
	logOffset     uint64
}

// parseHeader decodes a 4 KiB header read at off, checking its signature
// and CRC-32C.
func parseHeader(b []byte, off int64) (*vhdxHeader, error) {
	if len(b) != headerSize {
		return nil, formatErr(off, "header: %d bytes", len(b))
	}
	if string(b[:4]) != "head" {
		return nil, formatErr(off, "header: no \"head\" signature")
	}
	if err := checkCRC(b, off); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	h := &vhdxHeader{
		seq:        le.Uint64(b[8:]),
		logVersion: le.Uint16(b[64:]),
		version:    le.Uint16(b[66:]),
		logLength:  le.Uint32(b[68:]),
		logOffset:  le.Uint64(b[72:]),
	}
	copy(h.fileWriteGUID[:], b[16:])
	copy(h.dataWriteGUID[:], b[32:])
	copy(h.logGUID[:], b[48:])
	return h, nil
}

// checkCRC checks the CRC-32C at byte 4 of b, computed with that field zero.
func checkCRC(b []byte, off int64) error {
	want := binary.LittleEndian.Uint32(b[4:])
	c := crc32.Update(0, castagnoli(), b[:4])
	c = crc32.Update(c, castagnoli(), []byte{0, 0, 0, 0})
	c = crc32.Update(c, castagnoli(), b[8:])
	if c != want {
		return formatErr(off+4, "checksum %#08x, computed %#08x", want, c)
	}
	return nil
}

type region struct {
	off, length int64
}

// parseRegionTable decodes a 64 KiB region table read at off: the BAT and
// metadata regions.
func parseRegionTable(b []byte, off, size int64) (bat, meta region, err error) {
	if string(b[:4]) != "regi" {
		return bat, meta, formatErr(off, "region table: no \"regi\" signature")
	}
	if err := checkCRC(b, off); err != nil {
		return bat, meta, err
	}
	n := binary.LittleEndian.Uint32(b[8:])
	if n > maxEntries {
		return bat, meta, formatErr(off+8, "region table: %d entries (at most %d)", n, maxEntries)
	}
	var haveBAT, haveMeta bool
	for i := 0; i < int(n); i++ {
		e := b[16+32*i:]
		eo := off + 16 + 32*int64(i)
		var id GUID
		copy(id[:], e)
		ro := int64(binary.LittleEndian.Uint64(e[16:]))
		rl := int64(binary.LittleEndian.Uint32(e[24:]))
		required := binary.LittleEndian.Uint32(e[28:])&1 != 0
		r := region{ro, rl}
		switch id {
		case guidBAT, guidMetadata:
			if ro < mib || ro%mib != 0 || rl == 0 || rl%mib != 0 || ro > size || rl > size-ro {
				return bat, meta, formatErr(eo, "region %s at byte %d, %d bytes: not 1 MiB aligned or outside the file (%d bytes)", id, ro, rl, size)
			}
			if id == guidBAT {
				if haveBAT {
					return bat, meta, formatErr(eo, "two BAT regions")
				}
				bat, haveBAT = r, true
			} else {
				if haveMeta {
					return bat, meta, formatErr(eo, "two metadata regions")
				}
				meta, haveMeta = r, true
			}
		default:
			if required {
				return bat, meta, unsupported("unknown required region %s", id)
			}
		}
	}
	if !haveBAT || !haveMeta {
		return bat, meta, formatErr(off, "region table lacks the BAT or the metadata region")
	}
	return bat, meta, nil
}

// metadata is what the metadata region says.
type metadata struct {
	blockSize      int64
	leaveAllocated bool
	hasParent      bool
	diskSize       int64
	logical        int64
	physical       int64
	locator        map[string]string
}

// parseMetadata decodes the metadata region (read whole, at off in the file).
func parseMetadata(b []byte, off int64) (*metadata, error) {
	if len(b) < metaTableSize || string(b[:8]) != "metadata" {
		return nil, formatErr(off, "metadata table: no \"metadata\" signature")
	}
	le := binary.LittleEndian
	n := int(le.Uint16(b[10:]))
	if n > maxEntries {
		return nil, formatErr(off+10, "metadata table: %d entries (at most %d)", n, maxEntries)
	}
	m := &metadata{}
	seen := map[GUID]bool{}
	type itemKey struct {
		id   GUID
		user bool
	}
	dup := map[itemKey]bool{}
	for i := 0; i < n; i++ {
		e := b[32+32*i:]
		eo := off + 32 + 32*int64(i)
		var id GUID
		copy(id[:], e)
		ioff := int64(le.Uint32(e[16:]))
		il := int64(le.Uint32(e[20:]))
		flags := le.Uint32(e[24:])
		required, user := flags&4 != 0, flags&1 != 0
		key := itemKey{id, user}
		if dup[key] {
			return nil, formatErr(eo, "metadata item %s listed twice", id)
		}
		dup[key] = true
		if user {
			// User metadata: nothing the reader needs, whatever its GUID.
			if required {
				return nil, unsupported("required user metadata item %s", id)
			}
			continue
		}
		seen[id] = true
		if il != 0 && (ioff < metaTableSize || ioff > int64(len(b)) || il > int64(len(b))-ioff) {
			return nil, formatErr(eo, "metadata item %s at %d, %d bytes: outside the metadata region", id, ioff, il)
		}
		var item []byte
		if il != 0 {
			item = b[ioff : ioff+il]
		}
		need := func(k int) error {
			if len(item) < k {
				return formatErr(eo, "metadata item %s: %d bytes, need %d", id, len(item), k)
			}
			return nil
		}
		switch id {
		case guidFileParams:
			if err := need(8); err != nil {
				return nil, err
			}
			m.blockSize = int64(le.Uint32(item))
			bits := le.Uint32(item[4:])
			m.leaveAllocated, m.hasParent = bits&1 != 0, bits&2 != 0
		case guidDiskSize:
			if err := need(8); err != nil {
				return nil, err
			}
			v := le.Uint64(item)
			if v > maxVirtualSize {
				return nil, formatErr(off+ioff, "virtual disk size %d (at most 64 TiB)", v)
			}
			m.diskSize = int64(v)
		case guidLogical:
			if err := need(4); err != nil {
				return nil, err
			}
			m.logical = int64(le.Uint32(item))
		case guidPhysical:
			if err := need(4); err != nil {
				return nil, err
			}
			m.physical = int64(le.Uint32(item))
		case guidPage83:
		case guidParentLoc:
			loc, err := parseLocator(item, off+ioff)
			if err != nil {
				return nil, err
			}
			m.locator = loc
		default:
			if required {
				return nil, unsupported("unknown required metadata item %s", id)
			}
		}
	}
	if !seen[guidFileParams] || !seen[guidDiskSize] || !seen[guidLogical] {
		return nil, formatErr(off, "metadata lacks file parameters, virtual disk size or logical sector size")
	}
	if m.blockSize < mib || m.blockSize > 256*mib || m.blockSize&(m.blockSize-1) != 0 {
		return nil, formatErr(off, "block size %d: not a power of two from 1 MiB to 256 MiB", m.blockSize)
	}
	if m.logical != 512 && m.logical != 4096 {
		return nil, formatErr(off, "logical sector size %d (512 or 4096)", m.logical)
	}
	if m.diskSize%m.logical != 0 {
		return nil, formatErr(off, "virtual disk size %d: not a multiple of the sector size %d", m.diskSize, m.logical)
	}
	return m, nil
}

// parseLocator decodes a parent locator: a type GUID, then key/value
// entries whose UTF-16LE strings lie inside the item.
func parseLocator(b []byte, off int64) (map[string]string, error) {
	if len(b) < 20 {
		return nil, formatErr(off, "parent locator: %d bytes", len(b))
	}
	le := binary.LittleEndian
	var typ GUID
	copy(typ[:], b)
	if typ != guidVHDXParent {
		return nil, unsupported("parent locator type %s", typ)
	}
	n := int(le.Uint16(b[18:]))
	if 20+12*n > len(b) {
		return nil, formatErr(off+18, "parent locator: %d entries do not fit in %d bytes", n, len(b))
	}
	str := func(o, l int64) (string, bool) {
		if l%2 != 0 || o < 0 || o > int64(len(b)) || l > int64(len(b))-o {
			return "", false
		}
		u := make([]uint16, l/2)
		for i := range u {
			u[i] = le.Uint16(b[o+2*int64(i):])
		}
		return string(utf16.Decode(u)), true
	}
	loc := map[string]string{}
	for i := 0; i < n; i++ {
		e := b[20+12*i:]
		k, ok1 := str(int64(le.Uint32(e)), int64(le.Uint16(e[8:])))
		v, ok2 := str(int64(le.Uint32(e[4:])), int64(le.Uint16(e[10:])))
		if !ok1 || !ok2 {
			return nil, formatErr(off+20+12*int64(i), "parent locator entry %d: outside the item", i)
		}
		loc[k] = v
	}
	return loc, nil
}

// readFull reads exactly len(p) bytes at off of r (size bytes), refusing
// ranges outside it.
func readFull(r io.ReaderAt, size int64, p []byte, off int64) error {
	return readkit.ReadFull("vhdx", r, size, p, off)
}

func crc32c(b []byte) uint32 { return crc32.Checksum(b, castagnoli()) }
