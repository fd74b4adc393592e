package vdi

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"io"
	"strings"

	"github.com/loops-cli/loops/blockloop/readkit"
)

const (
	signature = 0xbeda107f
	version11 = 0x00010001

	// HeaderSize is the bytes of the pre-header and header read by Open.
	HeaderSize = 512

	// Image types.
	TypeDynamic = 1 // "normal": blocks allocated on write
	TypeStatic  = 2 // "fixed": every block allocated
	TypeUndo    = 3
	TypeDiff    = 4 // differencing: unallocated blocks come from the parent

	blockUnallocated = 0xffffffff // reads as zeros (or from the parent)
	blockZero        = 0xfffffffe // discarded: reads as zeros

	maxDiskSize = 1 << 62
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxBlockSize   int64 // bytes of one block (and of its extra data)
	MaxTableBytes  int64 // bytes of the block map
	MaxParentDepth int   // differencing images followed (parent of parent...)
}

// DefaultLimits: VirtualBox and qemu use 1 MiB blocks; a 2 TiB disk has an
// 8 MiB block map.
var DefaultLimits = Limits{
	MaxBlockSize:   64 << 20,
	MaxTableBytes:  64 << 20,
	MaxParentDepth: 32,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune Open. The zero value opens standalone images only.
type Options struct {
	// Open opens another file the image refers to. A VDI differencing
	// image names its parent by UUID only: Open is called with the
	// parent's UUID in its canonical text form
	// ("xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx"), and the caller maps it to a
	// file (VirtualBox keeps that map in its media registry). nil means
	// differencing images are refused with a clear error. The caller
	// resolves paths and limits depth/cycles.
	Open   func(name string) (io.ReaderAt, int64, error)
	Limits Limits
}

// Info describes an opened image.
type Info struct {
	Type            int    // TypeDynamic, TypeStatic, TypeDiff
	Variant         string // "dynamic", "static" or "differencing"
	Text            string // the pre-header text, e.g. "<<< Oracle VM VirtualBox Disk Image >>>"
	Description     string
	VirtualSize     int64
	BlockSize       int64
	BlocksInImage   int64
	BlocksAllocated int64
	UUID            string
	Parent          string // UUID of the parent image (differencing), "" when none
	Warnings        []string
}

// Image is an opened VDI image, an io.ReaderAt over its virtual disk. It is
// safe for concurrent use (it keeps no mutable state).
type Image struct {
	r       io.ReaderAt
	size    int64 // of the file
	info    Info
	disk    int64
	block   int64
	extra   int64
	dataOff int64
	bmap    []uint32
	parent  readkit.Backing // the parent of a differencing image
}

// header is the VDI 1.1 header, little endian, after the 64-byte text.
type header struct {
	text        string
	version     uint32
	headerSize  uint32
	imageType   uint32
	flags       uint32
	description string
	offsetBmap  uint32
	offsetData  uint32
	sectorSize  uint32
	diskSize    uint64
	blockSize   uint32
	blockExtra  uint32
	blocks      uint32
	allocated   uint32
	uuidImage   [16]byte
	uuidLink    [16]byte // the parent's image UUID
}

// parseHeader decodes the first 512 bytes of the file.
func parseHeader(b []byte) (*header, error) {
	if len(b) < HeaderSize {
		return nil, fmt.Errorf("vdi: %d-byte file: %w", len(b), ErrNotVDI)
	}
	le := binary.LittleEndian
	if le.Uint32(b[64:]) != signature {
		return nil, fmt.Errorf("vdi: %w", ErrNotVDI)
	}
	h := &header{
		text:        cstring(b[:64]),
		version:     le.Uint32(b[68:]),
		headerSize:  le.Uint32(b[72:]),
		imageType:   le.Uint32(b[76:]),
		flags:       le.Uint32(b[80:]),
		description: cstring(b[84:340]),
		offsetBmap:  le.Uint32(b[340:]),
		offsetData:  le.Uint32(b[344:]),
		sectorSize:  le.Uint32(b[360:]),
		diskSize:    le.Uint64(b[368:]),
		blockSize:   le.Uint32(b[376:]),
		blockExtra:  le.Uint32(b[380:]),
		blocks:      le.Uint32(b[384:]),
		allocated:   le.Uint32(b[388:]),
	}
	copy(h.uuidImage[:], b[392:])
	copy(h.uuidLink[:], b[424:])
	return h, nil
}

func cstring(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return strings.TrimRight(string(b), "\n")
}

// uuidString formats a UUID stored as VirtualBox does (RTUUID: the first
// three fields little endian).
func uuidString(u [16]byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x",
		binary.LittleEndian.Uint32(u[0:]), binary.LittleEndian.Uint16(u[4:]), binary.LittleEndian.Uint16(u[6:]), u[8:10], u[10:16])
}

// ImageUUID returns the UUID of the image whose header (its first 512
// bytes) is given, in the form Info.UUID and Info.Parent use; false when
// it is not a VDI header.
func ImageUUID(header []byte) (string, bool) {
	h, err := parseHeader(header)
	if err != nil {
		return "", false
	}
	return uuidString(h.uuidImage), true
}

// Probe tells whether header (the first bytes of a file, 68 or more) holds
// the VDI signature.
func Probe(header []byte) bool {
	return len(header) >= 68 && binary.LittleEndian.Uint32(header[64:]) == signature
}

// Open opens the VDI image r (size bytes long). It returns an error wrapping
// ErrNotVDI when r has no VDI signature, errors.ErrUnsupported for what the reader
// does not implement, a *FormatError or *LimitError when the header or block
// map is malformed or too big.
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	return open(r, size, opts, 0)
}

func open(r io.ReaderAt, size int64, opts Options, depth int) (*Image, error) {
	lim := opts.Limits.withDefaults()
	if size < HeaderSize {
		if size >= 68 {
			b := make([]byte, 68)
			if err := readFull(r, size, b, 0); err == nil && Probe(b) {
				return nil, formatErr(0, "file of %d bytes: shorter than the header", size)
			}
		}
		return nil, fmt.Errorf("vdi: %d-byte file: %w", size, ErrNotVDI)
	}
	b := make([]byte, HeaderSize)
	if err := readFull(r, size, b, 0); err != nil {
		return nil, err
	}
	h, err := parseHeader(b)
	if err != nil {
		return nil, err
	}
	if h.version != version11 {
		return nil, unsupported("header version %d.%d (only 1.1 is known)", h.version>>16, h.version&0xffff)
	}
	if h.headerSize < 0x148 || h.headerSize > HeaderSize-72 {
		return nil, formatErr(72, "header size %d", h.headerSize)
	}
	if h.sectorSize != 512 {
		return nil, unsupported("sector size %d (only 512 is known)", h.sectorSize)
	}
	im := &Image{r: r, size: size}
	im.info = Info{Type: int(h.imageType), Text: h.text, Description: h.description, UUID: uuidString(h.uuidImage)}
	switch h.imageType {
	case TypeDynamic:
		im.info.Variant = "dynamic"
	case TypeStatic:
		im.info.Variant = "static"
	case TypeDiff:
		im.info.Variant = "differencing"
		im.info.Parent = uuidString(h.uuidLink)
	case TypeUndo:
		return nil, unsupported("undo image (type 3)")
	default:
		return nil, formatErr(76, "image type %d", h.imageType)
	}
	if h.blockSize < 512 || h.blockSize%512 != 0 || int64(h.blockSize) > lim.MaxBlockSize {
		if int64(h.blockSize) > lim.MaxBlockSize {
			return nil, limitErr(376, "MaxBlockSize", int64(h.blockSize), lim.MaxBlockSize)
		}
		return nil, formatErr(376, "block size %d: not a multiple of 512", h.blockSize)
	}
	if int64(h.blockExtra) > lim.MaxBlockSize {
		return nil, limitErr(380, "MaxBlockSize", int64(h.blockExtra), lim.MaxBlockSize)
	}
	im.block, im.extra = int64(h.blockSize), int64(h.blockExtra)
	if h.diskSize > maxDiskSize || h.diskSize > uint64(h.blocks)*uint64(h.blockSize) {
		return nil, formatErr(368, "disk size %d larger than its %d blocks of %d bytes", h.diskSize, h.blocks, h.blockSize)
	}
	im.disk = int64(h.diskSize)
	if int64(h.blocks)*4 > lim.MaxTableBytes {
		return nil, limitErr(384, "MaxTableBytes", int64(h.blocks)*4, lim.MaxTableBytes)
	}
	if h.allocated > h.blocks {
		im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("%d blocks allocated of %d", h.allocated, h.blocks))
	}
	bmOff := int64(h.offsetBmap)
	if bmOff < HeaderSize || bmOff > size || int64(h.blocks)*4 > size-bmOff {
		return nil, formatErr(340, "block map of %d entries at byte %d: outside the file (%d bytes)", h.blocks, bmOff, size)
	}
	im.dataOff = int64(h.offsetData)
	if im.dataOff < HeaderSize {
		return nil, formatErr(344, "data at byte %d: inside the header", im.dataOff)
	}
	raw := make([]byte, int64(h.blocks)*4)
	if err := readFull(r, size, raw, bmOff); err != nil {
		return nil, err
	}
	im.bmap = make([]uint32, h.blocks)
	for i := range im.bmap {
		im.bmap[i] = binary.LittleEndian.Uint32(raw[4*i:])
	}
	im.info.VirtualSize, im.info.BlockSize = im.disk, im.block
	im.info.BlocksInImage, im.info.BlocksAllocated = int64(h.blocks), int64(h.allocated)
	if h.imageType == TypeDiff {
		if opts.Open == nil {
			return nil, unsupported("differencing image: it needs its parent (UUID %s) and Options.Open is nil", im.info.Parent)
		}
		if depth+1 > lim.MaxParentDepth {
			return nil, limitErr(0, "MaxParentDepth", int64(depth+1), int64(lim.MaxParentDepth))
		}
		pr, psize, err := opts.Open(im.info.Parent)
		if err != nil {
			return nil, fmt.Errorf("vdi: open parent %s: %w", im.info.Parent, err)
		}
		p, err := open(pr, psize, opts, depth+1)
		if err != nil {
			return nil, fmt.Errorf("vdi: parent %s: %w", im.info.Parent, err)
		}
		if p.info.UUID != im.info.Parent {
			return nil, formatErr(424, "parent file has UUID %s, the image wants %s", p.info.UUID, im.info.Parent)
		}
		im.parent = readkit.Backing{R: p, Size: p.disk}
	}
	return im, nil
}

// Size is the virtual disk size in bytes.
func (im *Image) Size() int64 { return im.disk }

// Info describes the image.
func (im *Image) Info() Info {
	i := im.info
	i.Warnings = append([]string(nil), im.info.Warnings...)
	return i
}

// ReadAt reads the virtual disk. It is safe for concurrent use. Reads past
// Size return io.EOF.
func (im *Image) ReadAt(p []byte, off int64) (int, error) {
	return readkit.ReadBlocks("vdi", p, off, im.disk, im.block, im.readBlock)
}

// readBlock fills p from byte in of block bi (off in the disk) to the
// block's end at most, or on through the blocks that follow it in the
// file, and says how many bytes it filled.
func (im *Image) readBlock(p []byte, bi, in, off int64) (int64, error) {
	l := min(int64(len(p)), im.block-in)
	e := im.bmap[bi]
	switch e {
	case blockUnallocated:
		return l, im.parent.Read("vdi", p[:l], off)
	case blockZero:
		clear(p[:l])
		return l, nil
	}
	host := im.dataOff + int64(e)*(im.block+im.extra) + im.extra + in
	// Coalesce blocks that follow each other in the file.
	for im.extra == 0 && l < int64(len(p)) {
		nb := bi + (in+l)/im.block
		if nb >= int64(len(im.bmap)) || im.bmap[nb] != e+uint32(nb-bi) || im.bmap[nb] >= blockZero {
			break
		}
		l = min(l+im.block, int64(len(p)))
	}
	return l, im.readData(p[:l], host, bi)
}

// readData reads block data at host; a block that starts in the file but
// ends past it reads as zeros past the end.
func (im *Image) readData(p []byte, host, bi int64) error {
	if host >= im.size {
		return formatErr(host, "block %d at byte %d: past the end of the file (%d bytes)", bi, host, im.size)
	}
	return readkit.ReadPadded("vdi", im.r, im.size, p, host)
}

// readFull reads exactly len(p) bytes at off of r (size bytes), refusing
// ranges outside it.
func readFull(r io.ReaderAt, size int64, p []byte, off int64) error {
	return readkit.ReadFull("vdi", r, size, p, off)
}
