package iso9660

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// SectorSize is the logical block size of every image this package reads.
const SectorSize = 2048

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDirSize    int64 // bytes of one directory extent read at once
	MaxDirEntries int   // entries in one directory
	MaxCEHops     int   // continuation areas followed for one record
	MaxSUSPBytes  int   // SUSP bytes (record + continuations) for one record
	MaxExtents    int   // extents of one multi-extent file
	MaxPathTable  int64 // bytes of a path table
	MaxDepth      int   // directory depth walked by Check and Lookup
}

// DefaultLimits are generous for real images (a Debian DVD has directories of
// a few hundred KiB) and small enough that a hostile one costs little.
var DefaultLimits = Limits{
	MaxDirSize:    32 << 20,
	MaxDirEntries: 1 << 19,
	MaxCEHops:     32,
	MaxSUSPBytes:  64 << 10,
	MaxExtents:    4096,
	MaxPathTable:  32 << 20,
	MaxDepth:      1024,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Tree names the directory tree an Image serves.
type Tree int

const (
	// TreeAuto picks Rock Ridge, else Joliet, else plain (Options only).
	TreeAuto Tree = iota
	// TreeRockRidge is the primary tree read with its Rock Ridge entries.
	TreeRockRidge
	// TreeJoliet is the Joliet supplementary tree (UCS-2 names).
	TreeJoliet
	// TreePlain is the primary tree with its ISO 9660 names.
	TreePlain
)

func (t Tree) String() string {
	switch t {
	case TreeRockRidge:
		return "rockridge"
	case TreeJoliet:
		return "joliet"
	case TreePlain:
		return "plain"
	}
	return "auto"
}

// Options tune Open. The zero value is what Open uses.
type Options struct {
	Limits Limits
	// Tree forces a tree; Open fails when the image lacks it.
	Tree Tree
	// Map says how names without Rock Ridge or Joliet are shown (the
	// plain tree): by default as the kernel shows them (map=normal).
	Map NameMap
}

// volume is one volume descriptor's view: its root record and path table.
type volume struct {
	joliet      bool
	label       string
	rootExtent  uint32 // LBA
	rootSize    uint32
	rootRecOff  int64 // offset of the root record inside the descriptor
	ptSize      uint32
	ptLLocation uint32
	ptMLocation uint32
	blocks      uint32 // volume space size
}

// Image is an opened ISO 9660 image. It is safe for concurrent use.
type Image struct {
	r    io.ReaderAt
	size int64
	lim  Limits
	tree Tree
	pvd  *volume
	svd  *volume // Joliet, if any
	vol  *volume // the one served
	rr   bool    // Rock Ridge in the primary tree
	skip int     // SUSP LEN_SKP from the root's SP entry
	udf  bool    // a UDF recognition sequence is present too (bridge)
	root *Entry

	nameMap NameMap

	claims   readkit.Claims[uint32, uint32] // directory extent -> the extent of the directory listing it
	hiddenMu sync.Mutex
	hidden   map[uint32]bool // directory extents hidden on purpose (Rock Ridge relocation)
}

// Open reads the volume descriptors of the image r (size bytes long) and its
// root directory. It returns an error wrapping ErrNotISO9660 when there is no
// primary volume descriptor (a *UDFOnlyError for UDF-only images), a
// *FormatError when the descriptors are malformed.
func Open(r io.ReaderAt, size int64) (*Image, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*Image, error) {
	img := &Image{r: r, size: size, lim: opts.Limits.withDefaults(), nameMap: opts.Map}
	if err := img.readDescriptors(); err != nil {
		return nil, err
	}
	if err := img.chooseTree(opts.Tree); err != nil {
		return nil, err
	}
	return img, nil
}

// Size is the image size given to Open.
func (img *Image) Size() int64 { return img.size }

// Tree is the directory tree being served.
func (img *Image) Tree() Tree { return img.tree }

// RockRidge tells whether the primary tree carries Rock Ridge.
func (img *Image) RockRidge() bool { return img.rr }

// Joliet tells whether the image has a Joliet tree.
func (img *Image) Joliet() bool { return img.svd != nil }

// UDF tells whether the image also carries a UDF volume recognition sequence
// (a UDF bridge image such as a Windows installer, whose ISO 9660 tree may
// hold only a README).
func (img *Image) UDF() bool { return img.udf }

// Label is the volume identifier, trimmed: the Joliet one when the Joliet
// tree is served (it may hold lower case and more characters), else the
// primary one.
func (img *Image) Label() string {
	if img.tree == TreeJoliet && img.svd.label != "" {
		return img.svd.label
	}
	return img.pvd.label
}

// Root is the root directory.
func (img *Image) Root() *Entry { return img.root }

// readAt reads exactly len(p) bytes at off, refusing ranges outside the image.
func (img *Image) readAt(p []byte, off int64) error {
	return readkit.ReadFull("iso9660", img.r, img.size, p, off)
}

// inImage tells whether [off, off+n) lies inside the image.
func (img *Image) inImage(off, n int64) bool { return readkit.InRange(off, n, img.size) }

const maxDescriptors = 64

func (img *Image) readDescriptors() error {
	var ids []string
	var buf [SectorSize]byte
scan:
	for i := 0; i < maxDescriptors; i++ {
		off := int64(16+i) * SectorSize
		if !img.inImage(off, SectorSize) {
			break
		}
		if err := img.readAt(buf[:], off); err != nil {
			return err
		}
		id := string(buf[1:6])
		switch id {
		case "CD001":
			ids = append(ids, id)
			switch buf[0] {
			case 1:
				if img.pvd == nil {
					v, err := parseVolume(buf[:], off, false)
					if err != nil {
						return err
					}
					img.pvd = v
				}
			case 2:
				if img.svd == nil && isJolietEscape(buf[88:120]) {
					v, err := parseVolume(buf[:], off, true)
					if err != nil {
						return err
					}
					img.svd = v
				}
			}
			// After the ISO 9660 terminator a UDF recognition sequence may
			// follow (a UDF bridge), so the scan goes on.
		case "BEA01", "NSR02", "NSR03", "BOOT2", "CDW02":
			ids = append(ids, id)
			if id == "NSR02" || id == "NSR03" {
				img.udf = true
			}
		case "TEA01":
			ids = append(ids, id)
			break scan
		default:
			break scan
		}
	}
	if img.pvd == nil {
		if img.udf {
			return &UDFOnlyError{Identifiers: ids}
		}
		if len(ids) > 0 {
			return fmt.Errorf("iso9660: volume descriptors %s: %w", strings.Join(ids, ", "), ErrNotISO9660)
		}
		return fmt.Errorf("iso9660: %w", ErrNotISO9660)
	}
	return nil
}

func isJolietEscape(esc []byte) bool {
	for i := 0; i+3 <= len(esc); i++ {
		if esc[i] == '%' && esc[i+1] == '/' && (esc[i+2] == '@' || esc[i+2] == 'C' || esc[i+2] == 'E') {
			return true
		}
	}
	return false
}

func parseVolume(d []byte, off int64, joliet bool) (*volume, error) {
	if bs := binary.LittleEndian.Uint16(d[128:]); bs != SectorSize {
		return nil, fmt.Errorf("iso9660: logical block size %d at byte %d (only 2048 is read): %w", bs, off+128, errors.ErrUnsupported)
	}
	root := d[156:190]
	if root[0] < 34 {
		return nil, formatErr(off+156, "root directory record length %d", root[0])
	}
	v := &volume{
		joliet:      joliet,
		rootExtent:  binary.LittleEndian.Uint32(root[2:]) + uint32(root[1]),
		rootSize:    binary.LittleEndian.Uint32(root[10:]),
		rootRecOff:  off + 156,
		ptSize:      binary.LittleEndian.Uint32(d[132:]),
		ptLLocation: binary.LittleEndian.Uint32(d[140:]),
		ptMLocation: binary.BigEndian.Uint32(d[148:]),
		blocks:      binary.LittleEndian.Uint32(d[80:]),
	}
	// The root record's directory flag is not checked: the record names
	// the root directory whatever its flags say (a mastering tool that
	// leaves the flag out makes a disc isoinfo, xorriso and Linux read),
	// and its extent is read as a directory, bounded like any other.
	if joliet {
		v.label = strings.TrimSpace(decodeUCS2(d[40:72]))
	} else {
		v.label = strings.TrimSpace(string(bytes.TrimRight(d[40:72], " \x00")))
	}
	return v, nil
}

// decodeUCS2 decodes big-endian UCS-2 (read as UTF-16, so surrogate pairs
// written by newer tools decode too), stopping at a NUL.
func decodeUCS2(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := binary.BigEndian.Uint16(b[i:])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func (img *Image) chooseTree(want Tree) error {
	// Rock Ridge is announced by an SP entry in the root's "." record.
	pvdRoot, err := img.readDot(img.pvd.rootExtent, img.pvd.rootSize)
	if err != nil {
		return err
	}
	img.rr, img.skip = img.detectRockRidge(pvdRoot)
	tree := want
	if tree == TreeAuto {
		switch {
		case img.rr:
			tree = TreeRockRidge
		case img.svd != nil:
			tree = TreeJoliet
		default:
			tree = TreePlain
		}
	}
	switch tree {
	case TreeRockRidge:
		if !img.rr {
			return fmt.Errorf("iso9660: no Rock Ridge in the primary tree: %w", errors.ErrUnsupported)
		}
		img.vol = img.pvd
	case TreeJoliet:
		if img.svd == nil {
			return fmt.Errorf("iso9660: no Joliet volume descriptor: %w", errors.ErrUnsupported)
		}
		img.vol = img.svd
	case TreePlain:
		img.vol = img.pvd
	default:
		return fmt.Errorf("iso9660: unknown tree %d", tree)
	}
	img.tree = tree
	dot := pvdRoot
	if img.vol != img.pvd {
		if dot, err = img.readDot(img.vol.rootExtent, img.vol.rootSize); err != nil {
			return err
		}
	}
	root, err := img.newDirEntry(dot, nil, "")
	if err != nil {
		return err
	}
	root.Name = "/"
	img.root = root
	return nil
}

// readDot reads the "." record at the start of a directory extent.
func (img *Image) readDot(lba, size uint32) (*record, error) {
	off := int64(lba) * SectorSize
	if size < 34 || !img.inImage(off, int64(size)) {
		return nil, formatErr(off, "directory extent (LBA %d, %d bytes) outside the image or too small", lba, size)
	}
	var buf [SectorSize]byte
	n := SectorSize
	if int64(n) > img.size-off {
		n = int(img.size - off)
	}
	if err := img.readAt(buf[:n], off); err != nil {
		return nil, err
	}
	rec, _, err := parseRecord(buf[:n], off)
	if err != nil {
		return nil, err
	}
	if rec == nil || len(rec.ident) != 1 || rec.ident[0] != 0 {
		return nil, formatErr(off, "directory does not start with its \".\" record")
	}
	return rec, nil
}

// detectRockRidge looks for the SUSP SP entry (and a Rock Ridge ER or RR
// entry) in the root's "." record.
func (img *Image) detectRockRidge(dot *record) (bool, int) {
	su := dot.systemUse
	if len(su) < 7 || su[0] != 'S' || su[1] != 'P' || su[2] < 7 || su[4] != 0xBE || su[5] != 0xEF {
		return false, 0
	}
	skip := int(su[6])
	f := img.parseSUSP(dot.systemUse, dot.off)
	return f.rrSeen, skip
}
