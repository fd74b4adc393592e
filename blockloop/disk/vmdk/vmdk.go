package vmdk

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// SectorSize is the unit of every size and offset in a VMDK header,
// grain table and descriptor.
const SectorSize = 512

const (
	magicKDMV = 0x564d444b // "KDMV" little endian
	magicCOWD = 0x44574f43 // "COWD"

	gdAtEnd = 0xffffffffffffffff

	flagRGD        = 1 << 1
	flagZeroGrain  = 1 << 2
	flagCompressed = 1 << 16
	flagMarkers    = 1 << 17

	compressionNone    = 0
	compressionDeflate = 1

	markerEOS    = 0
	markerGT     = 1
	markerGD     = 2
	markerFooter = 3

	gteZeroed = 1 // a grain table entry meaning "this grain reads as zeros"

	maxVirtualSize = 1 << 62
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDescriptorSize int64 // bytes of descriptor text
	MaxExtents        int   // extents listed by a descriptor
	MaxGrainSize      int64 // bytes of one grain
	MaxTableBytes     int64 // bytes of the grain directories (all extents together)
	MaxCacheBytes     int64 // grain tables kept in memory (all extents together)
	MaxParentDepth    int   // delta links followed (parent of parent...)
}

// DefaultLimits are generous for real images (VMware uses 64 KiB grains,
// 512-entry grain tables, a 2 TiB disk has a 256 KiB grain directory) and
// small enough that a hostile image costs little.
var DefaultLimits = Limits{
	MaxDescriptorSize: 1 << 20,
	MaxExtents:        4096,
	MaxGrainSize:      16 << 20,
	MaxTableBytes:     64 << 20,
	MaxCacheBytes:     64 << 20,
	MaxParentDepth:    32,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune Open. The zero value opens single-file images only.
type Options struct {
	// Open opens another file the image refers to by name (the extent
	// files of a descriptor, the parent of a delta link), the name as
	// stored in the image; nil means such images are refused with a clear
	// error. The caller resolves paths and limits depth/cycles.
	Open   func(name string) (io.ReaderAt, int64, error)
	Limits Limits
}

// ExtentInfo describes one extent of the virtual disk.
type ExtentInfo struct {
	Type    string // "SPARSE", "FLAT", "VMFS", "ZERO"
	Name    string // file name as stored ("" for ZERO and for the file itself)
	Sectors int64  // virtual size in sectors
	Offset  int64  // FLAT: sector offset in the file
}

// Info describes an opened image.
type Info struct {
	// Variant is the descriptor's createType ("monolithicSparse",
	// "streamOptimized", "monolithicFlat", "twoGbMaxExtentSparse", ...),
	// guessed from the header flags when there is no descriptor.
	Variant     string
	VirtualSize int64
	BlockSize   int64 // grain size in bytes, of the first sparse extent; 0 when none
	Version     int   // sparse header version of the first sparse extent
	Compressed  bool  // grains are deflate-compressed (streamOptimized)
	Extents     []ExtentInfo
	CID         string
	ParentCID   string
	Parent      string // parentFileNameHint of a delta link, "" when none
	Warnings    []string
}

const (
	extSparse = iota
	extFlat
	extZero
)

type extent struct {
	start, length int64 // virtual bytes
	kind          int
	r             io.ReaderAt // flat
	rsize         int64
	base          int64 // flat: byte offset of the extent in r
	sp            *sparse
}

// Image is an opened VMDK virtual disk, an io.ReaderAt over its contents.
// It is safe for concurrent use.
type Image struct {
	size    int64
	info    Info
	extents []*extent
	parent  readkit.Backing // the parent of a delta link
}

// Probe tells whether header (the first bytes of a file, 64 or more are
// enough) looks like a VMDK sparse extent or descriptor.
func Probe(header []byte) bool {
	if len(header) >= 4 {
		m := binary.LittleEndian.Uint32(header)
		if m == magicKDMV || m == magicCOWD {
			return true
		}
	}
	return isDescriptor(header)
}

func isDescriptor(b []byte) bool {
	b = bytes.TrimPrefix(b, []byte("\xef\xbb\xbf"))
	b = bytes.TrimLeft(b, " \t\r\n")
	return bytes.HasPrefix(b, []byte("# Disk DescriptorFile"))
}

// Size is the virtual disk size in bytes.
func (im *Image) Size() int64 { return im.size }

// Info describes the image.
func (im *Image) Info() Info {
	i := im.info
	i.Extents = append([]ExtentInfo(nil), im.info.Extents...)
	i.Warnings = append([]string(nil), im.info.Warnings...)
	return i
}

// Open opens the VMDK file r (size bytes long): a hosted sparse extent
// (monolithicSparse, streamOptimized, with its embedded descriptor) or a
// descriptor file whose extents (monolithicFlat, twoGbMaxExtent*,
// vmfs) are opened through opts.Open. It returns an error wrapping
// ErrNotVMDK when r is neither, errors.ErrUnsupported for extents it cannot read,
// a *FormatError or *LimitError when the structures are malformed or too
// big.
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	return open(r, size, opts, 0)
}

func open(r io.ReaderAt, size int64, opts Options, depth int) (*Image, error) {
	lim := opts.Limits.withDefaults()
	if size < 4 {
		return nil, fmt.Errorf("vmdk: %d-byte file: %w", size, ErrNotVMDK)
	}
	head := make([]byte, min(size, 512))
	if err := readFull(r, size, head, 0); err != nil {
		return nil, err
	}
	im := &Image{}
	var d *descriptor
	switch binary.LittleEndian.Uint32(head) {
	case magicKDMV:
		sp, hdr, err := openSparse(r, size, lim, lim.MaxTableBytes, lim.MaxCacheBytes, &grainCache{})
		if err != nil {
			return nil, err
		}
		if hdr.descOffset != 0 && hdr.descSize != 0 {
			d, err = readEmbeddedDescriptor(r, size, hdr, lim)
			if err != nil {
				im.info.Warnings = append(im.info.Warnings, "embedded descriptor ignored: "+err.Error())
				d = nil
			}
		}
		e := &extent{length: sp.capacity, kind: extSparse, sp: sp}
		im.extents = []*extent{e}
		im.size = sp.capacity
		im.info.Extents = []ExtentInfo{{Type: "SPARSE", Sectors: sp.capacity / SectorSize}}
		im.info.Variant = "monolithicSparse"
		if sp.compressed {
			im.info.Variant = "streamOptimized"
		}
		if d != nil {
			if d.createType != "" {
				im.info.Variant = d.createType
			}
			if len(d.extents) != 1 || d.extents[0].typ != "SPARSE" {
				im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("embedded descriptor lists %d extents; the sparse extent itself is read", len(d.extents)))
			} else if d.extents[0].sectors*SectorSize != sp.capacity {
				im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("embedded descriptor gives %d sectors, header capacity %d: the header is used", d.extents[0].sectors, sp.capacity/SectorSize))
			}
		}
	case magicCOWD:
		return nil, unsupported("ESX/VMFS sparse extent (COWD) cannot be read")
	default:
		if !isDescriptor(head) {
			return nil, fmt.Errorf("vmdk: %w", ErrNotVMDK)
		}
		if size > lim.MaxDescriptorSize {
			return nil, limitErr(0, "MaxDescriptorSize", size, lim.MaxDescriptorSize)
		}
		text := make([]byte, size)
		if err := readFull(r, size, text, 0); err != nil {
			return nil, err
		}
		var err error
		if d, err = parseDescriptor(text, 0, lim); err != nil {
			return nil, err
		}
		if err := im.openExtents(d, opts, lim); err != nil {
			return nil, err
		}
		im.info.Variant = d.createType
	}
	if d != nil {
		im.info.CID, im.info.ParentCID = d.cid, d.parentCID
	}
	for _, e := range im.extents {
		if e.kind == extSparse {
			im.info.BlockSize = e.sp.grain
			im.info.Version = int(e.sp.version)
			im.info.Compressed = e.sp.compressed
			break
		}
	}
	im.info.VirtualSize = im.size
	if d != nil && d.parentCID != "" && !strings.EqualFold(d.parentCID, "ffffffff") {
		if d.parentHint == "" {
			im.info.Warnings = append(im.info.Warnings, "parentCID set but no parentFileNameHint: unallocated grains read as zeros")
		} else {
			im.info.Parent = d.parentHint
			if opts.Open == nil {
				return nil, unsupported("delta link: the image needs its parent %q and Options.Open is nil", d.parentHint)
			}
			if depth+1 > lim.MaxParentDepth {
				return nil, limitErr(0, "MaxParentDepth", int64(depth+1), int64(lim.MaxParentDepth))
			}
			pr, psize, err := opts.Open(d.parentHint)
			if err != nil {
				return nil, fmt.Errorf("vmdk: open parent %q: %w", d.parentHint, err)
			}
			p, err := open(pr, psize, opts, depth+1)
			if err != nil {
				return nil, fmt.Errorf("vmdk: parent %q: %w", d.parentHint, err)
			}
			if p.info.CID != "" && !strings.EqualFold(p.info.CID, d.parentCID) {
				im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("parent CID %s differs from parentCID %s (parent changed since the link was made)", p.info.CID, d.parentCID))
			}
			im.parent = readkit.Backing{R: p, Size: p.size}
		}
	}
	return im, nil
}

// openExtents opens the extents of a descriptor file through opts.Open.
func (im *Image) openExtents(d *descriptor, opts Options, lim Limits) error {
	if len(d.extents) == 0 {
		return formatErr(0, "descriptor lists no extent")
	}
	// The grain directories of all sparse extents share MaxTableBytes, and
	// their grain table caches MaxCacheBytes.
	nSparse := int64(0)
	for _, x := range d.extents {
		if x.typ == "SPARSE" {
			nSparse++
		}
	}
	tableBudget, cacheBudget := lim.MaxTableBytes, lim.MaxCacheBytes/max(nSparse, 1)
	grains := &grainCache{}
	var pos int64
	for i, x := range d.extents {
		length := x.sectors * SectorSize
		if length > maxVirtualSize-pos {
			return formatErr(0, "extents add up to more than %d bytes", int64(maxVirtualSize))
		}
		e := &extent{start: pos, length: length}
		ei := ExtentInfo{Type: x.typ, Name: x.name, Sectors: x.sectors, Offset: x.offset}
		switch x.typ {
		case "ZERO":
			e.kind = extZero
		case "FLAT", "VMFS", "SPARSE":
			if opts.Open == nil {
				return unsupported("extent %d is the file %q and Options.Open is nil", i, x.name)
			}
			r, size, err := opts.Open(x.name)
			if err != nil {
				return fmt.Errorf("vmdk: open extent %q: %w", x.name, err)
			}
			if x.typ == "SPARSE" {
				sp, _, err := openSparse(r, size, lim, tableBudget, cacheBudget, grains)
				if err != nil {
					return fmt.Errorf("vmdk: extent %q: %w", x.name, err)
				}
				tableBudget -= int64(len(sp.gd)) * 4
				if sp.capacity != length {
					im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("extent %q: descriptor gives %d sectors, header capacity %d", x.name, x.sectors, sp.capacity/SectorSize))
				}
				e.kind, e.sp = extSparse, sp
			} else {
				base := x.offset * SectorSize
				if x.offset > maxVirtualSize/SectorSize || base > size || length > size-base {
					return formatErr(0, "flat extent %q: sectors %d at sector %d run past its end (%d bytes)", x.name, x.sectors, x.offset, size)
				}
				e.kind, e.r, e.rsize, e.base = extFlat, r, size, base
			}
		default:
			return unsupported("extent type %s (%q)", x.typ, x.name)
		}
		im.extents = append(im.extents, e)
		im.info.Extents = append(im.info.Extents, ei)
		pos += length
	}
	im.size = pos
	return nil
}

// readFull reads exactly len(p) bytes at off of r (size bytes), refusing
// ranges outside it.
func readFull(r io.ReaderAt, size int64, p []byte, off int64) error {
	return readkit.ReadFull("vmdk", r, size, p, off)
}

// descriptor is the parsed text descriptor.
type descriptor struct {
	createType string
	cid        string
	parentCID  string
	parentHint string
	extents    []descExtent
}

type descExtent struct {
	access  string
	sectors int64
	typ     string
	name    string
	offset  int64
}

func readEmbeddedDescriptor(r io.ReaderAt, size int64, h *sparseHeader, lim Limits) (*descriptor, error) {
	if h.descOffset > uint64(size)/SectorSize || h.descSize > uint64(lim.MaxDescriptorSize)/SectorSize {
		return nil, formatErr(36, "embedded descriptor at sector %d, %d sectors: out of bounds", h.descOffset, h.descSize)
	}
	off := int64(h.descOffset) * SectorSize
	n := min(int64(h.descSize)*SectorSize, size-off)
	text := make([]byte, n)
	if err := readFull(r, size, text, off); err != nil {
		return nil, err
	}
	return parseDescriptor(text, off, lim)
}

// parseDescriptor decodes descriptor text (up to the first NUL byte).
func parseDescriptor(text []byte, off int64, lim Limits) (*descriptor, error) {
	if i := bytes.IndexByte(text, 0); i >= 0 {
		text = text[:i]
	}
	d := &descriptor{}
	lineOff := off
	for len(text) > 0 {
		line := text
		if i := bytes.IndexByte(text, '\n'); i >= 0 {
			line, text = text[:i], text[i+1:]
		} else {
			text = nil
		}
		here := lineOff
		lineOff += int64(len(line)) + 1
		s := strings.TrimSpace(string(line))
		if s == "" || s[0] == '#' {
			continue
		}
		f := strings.Fields(s)
		switch f[0] {
		case "RW", "RDONLY", "NOACCESS":
			if len(d.extents) >= lim.MaxExtents {
				return nil, limitErr(here, "MaxExtents", int64(len(d.extents)+1), int64(lim.MaxExtents))
			}
			x, err := parseExtentLine(s, here)
			if err != nil {
				return nil, err
			}
			d.extents = append(d.extents, x)
			continue
		}
		k, v, ok := strings.Cut(s, "=")
		if !ok {
			continue
		}
		k = strings.TrimSpace(k)
		v = unquote(strings.TrimSpace(v))
		switch k {
		case "createType":
			d.createType = v
		case "CID":
			d.cid = v
		case "parentCID":
			d.parentCID = v
		case "parentFileNameHint":
			d.parentHint = v
		}
	}
	return d, nil
}

func unquote(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}

// parseExtentLine decodes `ACCESS SECTORS TYPE ["NAME" [OFFSET]]`.
func parseExtentLine(s string, off int64) (descExtent, error) {
	var x descExtent
	f := strings.Fields(s)
	if len(f) < 3 {
		return x, formatErr(off, "extent line %q: too few fields", s)
	}
	x.access, x.typ = f[0], strings.ToUpper(f[2])
	n, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || n < 0 || n > maxVirtualSize/SectorSize {
		return x, formatErr(off, "extent line %q: bad sector count", s)
	}
	x.sectors = n
	if x.typ == "ZERO" {
		return x, nil
	}
	// The name is quoted and may contain spaces.
	i := strings.IndexByte(s, '"')
	if i < 0 {
		return x, formatErr(off, "extent line %q: no quoted file name", s)
	}
	j := strings.IndexByte(s[i+1:], '"')
	if j < 0 {
		return x, formatErr(off, "extent line %q: unterminated file name", s)
	}
	x.name = s[i+1 : i+1+j]
	if x.name == "" {
		return x, formatErr(off, "extent line %q: empty file name", s)
	}
	if rest := strings.Fields(s[i+2+j:]); len(rest) > 0 {
		o, err := strconv.ParseInt(rest[0], 10, 64)
		if err != nil || o < 0 || o > maxVirtualSize/SectorSize {
			return x, formatErr(off, "extent line %q: bad offset", s)
		}
		x.offset = o
	}
	return x, nil
}
