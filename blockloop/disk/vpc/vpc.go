package vpc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

const (
	// FooterSize is the size of the footer (and of its copy at byte 0).
	FooterSize = 512
	// DynHeaderSize is the size of the dynamic disk header.
	DynHeaderSize = 1024

	// Disk types (the footer's type field).
	TypeFixed   = 2
	TypeDynamic = 3
	TypeDiff    = 4

	cookie    = "conectix"
	dynCookie = "cxsparse"

	blockUnallocated = 0xffffffff

	maxSectors  = 0xff000000       // 2040 GiB, qemu's VHD_MAX_SECTORS
	maxGeometry = 65535 * 16 * 255 // the largest CHS geometry
	maxLocator  = 64 << 10         // bytes of one parent locator's data
	minBlock    = 512              // smallest block size
	bitsPerByte = 8                // sectors per bitmap byte
	sector      = 512              // bytes of a sector
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxBlockSize   int64 // bytes of one block
	MaxTableBytes  int64 // bytes of the BAT
	MaxParentDepth int   // differencing images followed (parent of parent...)
}

// DefaultLimits: Virtual PC, Hyper-V and qemu use 2 MiB blocks; a 2040 GiB
// disk then has a 4 MiB BAT.
var DefaultLimits = Limits{
	MaxBlockSize:   256 << 20,
	MaxTableBytes:  64 << 20,
	MaxParentDepth: 32,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune Open. The zero value opens standalone images only.
type Options struct {
	// Open opens another file the image refers to by name: the parent of
	// a differencing image, as a parent locator stores it, backslashes
	// turned into slashes (the relative W2ru path first, e.g.
	// "./base.vhd", then the absolute W2ku path, then the parent's
	// Unicode name). A name whose Open fails with an error matching
	// fs.ErrNotExist is followed by the next. nil means differencing
	// images are refused with a clear error. The caller resolves paths
	// and limits depth/cycles.
	Open   func(name string) (io.ReaderAt, int64, error)
	Limits Limits
}

// Info describes an opened image.
type Info struct {
	Type           int    // TypeFixed, TypeDynamic, TypeDiff
	Variant        string // "fixed", "dynamic" or "differencing"
	CreatorApp     string // e.g. "qemu", "qem2", "win ", "vpc "
	CreatorVersion string // "major.minor"
	CreatorOS      string // e.g. "Wi2k"
	VirtualSize    int64
	CurrentSize    int64  // the footer's current size
	Geometry       [3]int // cylinders, heads, sectors per track
	SizeFrom       string // "chs" or "current size": what VirtualSize comes from
	BlockSize      int64  // 0 for fixed images
	TableEntries   int64  // BAT entries
	BlocksAlloc    int64  // allocated BAT entries
	UUID           string // the footer's
	ParentUUID     string // differencing: the parent's UUID
	ParentName     string // differencing: the parent's Unicode file name
	Parent         string // differencing: the name the parent was opened by
	Warnings       []string
}

// Image is an opened VHD image, an io.ReaderAt over its virtual disk. It
// is safe for concurrent use (it keeps no mutable state).
type Image struct {
	r         io.ReaderAt
	size      int64 // of the file
	info      Info
	typ       int
	disk      int64
	block     int64
	bitmap    int64 // bytes of a block's sector bitmap, padded to 512
	bat       []uint32
	dynHeader []byte          // the dynamic header (differencing: its parent locators)
	parent    readkit.Backing // the parent of a differencing image
}

type footer struct {
	dataOffset uint64
	creatorApp [4]byte
	major      uint16
	minor      uint16
	creatorOS  [4]byte
	current    uint64
	cyls       uint16
	heads      uint8
	secs       uint8
	typ        uint32
	uuid       [16]byte
}

// checksum is the ones' complement of the byte sum of b with the 4 bytes
// at skip left out.
func checksum(b []byte, skip int) uint32 {
	var s uint32
	for i, c := range b {
		if i < skip || i >= skip+4 {
			s += uint32(c)
		}
	}
	return ^s
}

// parseFooter decodes a footer of 511 or 512 bytes whose cookie was
// checked, at byte off of the file.
func parseFooter(b []byte, off int64) (*footer, error) {
	be := binary.BigEndian
	if got, want := checksum(b, 64), be.Uint32(b[64:]); got != want {
		return nil, formatErr(off+64, "footer checksum %#08x, the footer sums to %#08x", want, got)
	}
	f := &footer{
		dataOffset: be.Uint64(b[16:]),
		major:      be.Uint16(b[32:]),
		minor:      be.Uint16(b[34:]),
		current:    be.Uint64(b[48:]),
		cyls:       be.Uint16(b[56:]),
		heads:      b[58],
		secs:       b[59],
		typ:        be.Uint32(b[60:]),
	}
	copy(f.creatorApp[:], b[28:32])
	copy(f.creatorOS[:], b[36:40])
	copy(f.uuid[:], b[68:84])
	return f, nil
}

func uuidString(u []byte) string {
	return fmt.Sprintf("%x-%x-%x-%x-%x", u[0:4], u[4:6], u[6:8], u[8:10], u[10:16])
}

// Probe tells whether header (the first bytes of a file, 8 or more) starts
// with the footer copy of a dynamic or differencing VHD. A fixed VHD has
// its footer at the end only: see [ProbeTail].
func Probe(header []byte) bool {
	return len(header) >= 8 && string(header[:8]) == cookie
}

// ProbeTail tells whether tail, the last 512 bytes of a file, hold the
// footer of a fixed VHD (cookie, type 2, a checksum that matches).
func ProbeTail(tail []byte) bool {
	if len(tail) < FooterSize || string(tail[len(tail)-FooterSize:][:8]) != cookie {
		return false
	}
	f, err := parseFooter(tail[len(tail)-FooterSize:], 0)
	return err == nil && f.typ == TypeFixed
}

// Open opens the VHD image r (size bytes long). It returns an error
// wrapping ErrNotVPC when r has no VHD footer, errors.ErrUnsupported for what the
// reader does not implement, a *FormatError or *LimitError when a header
// or the BAT is malformed or too big.
func Open(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	return open(r, size, opts, 0)
}

func open(r io.ReaderAt, size int64, opts Options, depth int) (*Image, error) {
	lim := opts.Limits.withDefaults()
	if size < 8 {
		return nil, fmt.Errorf("vpc: %d-byte file: %w", size, ErrNotVPC)
	}
	im := &Image{r: r, size: size}
	var (
		fb   []byte
		foff int64
	)
	head := make([]byte, min(size, FooterSize))
	if err := readFull(r, size, head, 0); err != nil {
		return nil, err
	}
	switch {
	case Probe(head):
		if size < FooterSize {
			return nil, formatErr(0, "file of %d bytes: shorter than the footer", size)
		}
		fb = head
	case size >= FooterSize-1:
		// A fixed image: the footer ends the file (511 bytes long in
		// images made before Virtual PC 2004).
		for _, n := range []int64{FooterSize, FooterSize - 1} {
			if size < n {
				continue
			}
			b := make([]byte, FooterSize)
			if err := readFull(r, size, b[:n], size-n); err != nil {
				return nil, err
			}
			if string(b[:8]) == cookie {
				fb, foff = b, size-n
				if n < FooterSize {
					im.info.Warnings = append(im.info.Warnings, "511-byte footer (made before Virtual PC 2004)")
				}
				break
			}
		}
	}
	if fb == nil {
		return nil, fmt.Errorf("vpc: %w", ErrNotVPC)
	}
	f, err := parseFooter(fb, foff)
	if err != nil {
		return nil, err
	}
	im.typ = int(f.typ)
	im.info.Type = im.typ
	switch {
	case foff == 0 && (f.typ == TypeDynamic || f.typ == TypeDiff):
	case foff > 0 && f.typ == TypeFixed:
	case f.typ == TypeFixed:
		return nil, formatErr(60, "a fixed image's footer at the start of the file")
	case f.typ == TypeDynamic || f.typ == TypeDiff:
		return nil, formatErr(foff+60, "a dynamic image's footer only at the end of the file (its copy at byte 0 is missing)")
	default:
		return nil, formatErr(foff+60, "disk type %d", f.typ)
	}
	im.info.Variant = map[int]string{TypeFixed: "fixed", TypeDynamic: "dynamic", TypeDiff: "differencing"}[im.typ]
	im.info.CreatorApp = string(f.creatorApp[:])
	im.info.CreatorOS = string(f.creatorOS[:])
	im.info.CreatorVersion = fmt.Sprintf("%d.%d", f.major, f.minor)
	im.info.Geometry = [3]int{int(f.cyls), int(f.heads), int(f.secs)}
	im.info.UUID = uuidString(f.uuid[:])
	im.info.CurrentSize = int64(min(f.current, 1<<62))

	// The virtual size, as qemu reckons it (vpc.c, vpc_open).
	sectors := int64(f.cyls) * int64(f.heads) * int64(f.secs)
	im.info.SizeFrom = "chs"
	if !usesCHS(f.creatorApp) || sectors == maxGeometry {
		sectors = int64(min(f.current/sector, 1<<40))
		im.info.SizeFrom = "current size"
	}
	if sectors > maxSectors {
		return nil, formatErr(foff+48, "virtual size of %d sectors: more than 2040 GiB", sectors)
	}
	im.disk = sectors * sector
	im.info.VirtualSize = im.disk
	if im.typ == TypeFixed {
		if data := foff; data < im.disk {
			im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("virtual size %d past the data's %d bytes (reads as zeros past the end of the file)", im.disk, data))
		}
		return im, nil
	}
	if err := im.openDynamic(f, lim); err != nil {
		return nil, err
	}
	if im.typ == TypeDiff {
		if err := im.openParent(opts, lim, depth); err != nil {
			return nil, err
		}
	}
	return im, nil
}

// usesCHS: qemu's table of creator applications whose images' size is
// their geometry (the others use the footer's current size).
func usesCHS(app [4]byte) bool {
	switch string(app[:]) {
	case "win ", "qem2", "d2v ", "CTXS", "tap\x00":
		return false
	}
	return true
}

func (im *Image) openDynamic(f *footer, lim Limits) error {
	size := im.size
	if f.dataOffset < FooterSize || f.dataOffset > uint64(size) || DynHeaderSize > uint64(size)-f.dataOffset {
		return formatErr(16, "dynamic header at byte %d: outside the file (%d bytes)", f.dataOffset, size)
	}
	hoff := int64(f.dataOffset)
	h := make([]byte, DynHeaderSize)
	if err := readFull(im.r, size, h, hoff); err != nil {
		return err
	}
	if string(h[:8]) != dynCookie {
		return formatErr(hoff, "no dynamic header cookie %q", dynCookie)
	}
	be := binary.BigEndian
	if got, want := checksum(h, 36), be.Uint32(h[36:]); got != want {
		// qemu does not check it.
		im.info.Warnings = append(im.info.Warnings, fmt.Sprintf("dynamic header checksum %#08x, the header sums to %#08x", want, got))
	}
	batOff := be.Uint64(h[16:])
	entries := int64(be.Uint32(h[28:]))
	block := int64(be.Uint32(h[32:]))
	if block < minBlock || block&(block-1) != 0 {
		return formatErr(hoff+32, "block size %d: not a power of two of 512 bytes or more", block)
	}
	if block > lim.MaxBlockSize {
		return limitErr(hoff+32, "MaxBlockSize", block, lim.MaxBlockSize)
	}
	im.block = block
	// qemu's formula, which gives blocks under 4 KiB no bitmap; the
	// specification pads the bitmap to a sector, which a differencing
	// image (read by its bitmap, unlike qemu) must have.
	im.bitmap = (block/(sector*bitsPerByte) + sector - 1) &^ (sector - 1)
	if im.bitmap == 0 && im.typ == TypeDiff {
		im.bitmap = sector
	}
	if entries*block < im.disk {
		return formatErr(hoff+28, "BAT of %d entries of %d bytes: smaller than the virtual size %d", entries, block, im.disk)
	}
	if entries*4 > lim.MaxTableBytes {
		return limitErr(hoff+28, "MaxTableBytes", entries*4, lim.MaxTableBytes)
	}
	if batOff > uint64(size) || uint64(entries*4) > uint64(size)-batOff {
		return formatErr(hoff+16, "BAT of %d entries at byte %d: outside the file (%d bytes)", entries, batOff, size)
	}
	raw := make([]byte, entries*4)
	if err := readFull(im.r, size, raw, int64(batOff)); err != nil {
		return err
	}
	im.bat = make([]uint32, entries)
	for i := range im.bat {
		e := be.Uint32(raw[4*i:])
		im.bat[i] = e
		if e == blockUnallocated {
			continue
		}
		im.info.BlocksAlloc++
		if end := int64(e)*sector + im.bitmap + block; end > size {
			// qemu refuses it too ("the image has been truncated").
			return formatErr(int64(batOff)+4*int64(i), "block %d at sector %d ends at byte %d, past the end of the file (%d bytes): truncated image", i, e, end, size)
		}
	}
	im.info.BlockSize, im.info.TableEntries = block, entries
	if im.typ == TypeDiff {
		im.info.ParentUUID = uuidString(h[40:56])
		im.info.ParentName = utf16String(h[64:576], binary.BigEndian)
	}
	im.dynHeader = h
	return nil
}

// utf16String decodes a NUL-terminated UTF-16 string.
func utf16String(b []byte, order binary.ByteOrder) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := order.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

// parentNames lists the names a differencing image gives its parent, in
// the order they are tried: the W2ru locator, the W2ku locator, the
// Unicode name; backslashes made slashes.
func (im *Image) parentNames() ([]string, error) {
	h := im.dynHeader
	be := binary.BigEndian
	var rel, abs []string
	for i := 0; i < 8; i++ {
		e := h[576+24*i:]
		code := string(e[:4])
		if code != "W2ru" && code != "W2ku" {
			continue
		}
		n, off := int64(be.Uint32(e[8:])), be.Uint64(e[16:])
		if n == 0 {
			continue
		}
		if n > maxLocator || n%2 != 0 {
			return nil, formatErr(0, "parent locator %d of %d bytes", i, n)
		}
		if off > uint64(im.size) || uint64(n) > uint64(im.size)-off {
			return nil, formatErr(int64(off), "parent locator %d of %d bytes at byte %d: outside the file (%d bytes)", i, n, off, im.size)
		}
		b := make([]byte, n)
		if err := readFull(im.r, im.size, b, int64(off)); err != nil {
			return nil, err
		}
		name := strings.ReplaceAll(utf16String(b, binary.LittleEndian), `\`, "/")
		if name == "" {
			continue
		}
		if code == "W2ru" {
			rel = append(rel, name)
		} else {
			abs = append(abs, name)
		}
	}
	names := append(rel, abs...)
	if n := strings.ReplaceAll(im.info.ParentName, `\`, "/"); n != "" {
		names = append(names, n)
	}
	return names, nil
}

func (im *Image) openParent(opts Options, lim Limits, depth int) error {
	names, err := im.parentNames()
	if err != nil {
		return err
	}
	if len(names) == 0 {
		return unsupported("differencing image whose parent locators name no Windows path (parent UUID %s)", im.info.ParentUUID)
	}
	if opts.Open == nil {
		return unsupported("differencing image: it needs its parent %q and Options.Open is nil", names[0])
	}
	if depth+1 > lim.MaxParentDepth {
		return limitErr(0, "MaxParentDepth", int64(depth+1), int64(lim.MaxParentDepth))
	}
	var (
		pr    io.ReaderAt
		psize int64
		name  string
	)
	for _, name = range names {
		pr, psize, err = opts.Open(name)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			break
		}
	}
	if err != nil {
		return fmt.Errorf("vpc: open parent %q: %w", name, err)
	}
	p, err := open(pr, psize, opts, depth+1)
	if err != nil {
		return fmt.Errorf("vpc: parent %q: %w", name, err)
	}
	if p.info.UUID != im.info.ParentUUID {
		return formatErr(0, "parent %q has UUID %s, the image wants %s", name, p.info.UUID, im.info.ParentUUID)
	}
	im.parent, im.info.Parent = readkit.Backing{R: p, Size: p.disk}, name
	return nil
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
	if im.typ != TypeFixed {
		return readkit.ReadBlocks("vpc", p, off, im.disk, im.block, im.readBlock)
	}
	p, eof := readkit.Clip("vpc", p, off, im.disk)
	if len(p) == 0 {
		return 0, eof
	}
	if err := im.readFile(p, off); err != nil {
		return 0, err
	}
	return len(p), eof
}

// readBlock fills p from byte in of block bi (off in the disk) to the
// block's end at most, and says how many bytes it filled.
func (im *Image) readBlock(p []byte, bi, in, off int64) (int64, error) {
	l := min(int64(len(p)), im.block-in)
	switch {
	case bi >= int64(len(im.bat)) || im.bat[bi] == blockUnallocated:
		return l, im.parent.Read("vpc", p[:l], off)
	case im.typ == TypeDiff:
		return l, im.readDiff(p[:l], off, bi, in)
	}
	return l, im.readFile(p[:l], int64(im.bat[bi])*sector+im.bitmap+in)
}

// readDiff reads p at off, in (bytes into block bi) of a differencing
// image: its sector bitmap tells which sectors are this file's.
func (im *Image) readDiff(p []byte, off, bi, in int64) error {
	start := int64(im.bat[bi]) * sector
	s0, s1 := in/sector, (in+int64(len(p))-1)/sector
	bm := make([]byte, s1/bitsPerByte-s0/bitsPerByte+1)
	if err := im.readFile(bm, start+s0/bitsPerByte); err != nil {
		return err
	}
	mine := func(s int64) bool {
		i := s/bitsPerByte - s0/bitsPerByte
		return bm[i]&(0x80>>(s%bitsPerByte)) != 0
	}
	for len(p) > 0 {
		s := in / sector
		own := mine(s)
		// The run of sectors with the same bit.
		end := (s + 1) * sector
		for end < in+int64(len(p)) && mine(end/sector) == own {
			end += sector
		}
		l := min(end-in, int64(len(p)))
		var err error
		if own {
			err = im.readFile(p[:l], start+im.bitmap+in)
		} else {
			err = im.parent.Read("vpc", p[:l], off)
		}
		if err != nil {
			return err
		}
		p, off, in = p[l:], off+l, in+l
	}
	return nil
}

// readFile reads p at off of the file; bytes past its end read as zeros
// (a fixed image whose virtual size passes its data; blocks were checked
// to be inside the file at Open).
func (im *Image) readFile(p []byte, off int64) error {
	return readkit.ReadPadded("vpc", im.r, im.size, p, off)
}

// readFull reads exactly len(p) bytes at off of r (size bytes), refusing
// ranges outside it.
func readFull(r io.ReaderAt, size int64, p []byte, off int64) error {
	return readkit.ReadFull("vpc", r, size, p, off)
}
