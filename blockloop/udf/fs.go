package udf

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"sync"

	"github.com/loops-cli/loops/blockloop/readkit"
)

// Limits bound what a (possibly hostile) image can make the reader do.
// Zero fields take the defaults of [DefaultLimits].
type Limits struct {
	MaxDirSize        int64 // bytes of one directory read at once
	MaxDirEntries     int   // file identifier descriptors in one directory
	MaxExtents        int   // extents of one file (after partition mapping)
	MaxAEDHops        int   // allocation extent descriptors followed for one file (4 times that for the files of one directory)
	MaxMapSteps       int   // steps mapping one file's extents to the image (4 times that for one directory)
	MaxICBHops        int   // indirect entries followed to reach a file entry
	MaxVDSDescriptors int   // descriptors read in a volume descriptor sequence, pointers included
	MaxSymlinkSize    int64 // bytes of a symbolic link's path components
	MaxTableSize      int64 // bytes of a sparing table or virtual allocation table
	MaxDepth          int   // path components walked by Lookup
}

// DefaultLimits are generous for real images (a Blu-ray has directories of a
// few thousand entries, files of a few extents) and small enough that a
// hostile one costs little.
var DefaultLimits = Limits{
	MaxDirSize:        32 << 20,
	MaxDirEntries:     1 << 19,
	MaxExtents:        1 << 18,
	MaxAEDHops:        4096,
	MaxMapSteps:       1 << 22,
	MaxICBHops:        64,
	MaxVDSDescriptors: 1024,
	MaxSymlinkSize:    64 << 10,
	MaxTableSize:      64 << 20,
	MaxDepth:          1024,
}

func (l Limits) withDefaults() Limits { return readkit.WithDefaults(l, DefaultLimits) }

// Options tune OpenOptions. The zero value is what Open uses.
type Options struct {
	Limits Limits
	// Unhide lists the files whose identifier is marked hidden; by default
	// they are left out, as the Linux udf driver does (its unhide option).
	Unhide bool
}

// FS is an opened UDF image. It is safe for concurrent use.
type FS struct {
	r    io.ReaderAt
	size int64
	lim  Limits
	bs   int64 // logical block size

	rec      Recognition
	label    string
	volSetID string
	rev      uint16
	parts    []*partition // by partition reference number; internal ones after the LVD's
	nmaps    int          // partition maps in the logical volume descriptor
	unhide   bool
	root     *Entry

	claims readkit.Claims[lbAddr, lbAddr] // directory ICB -> the ICB of the directory listing it

	cacheMu sync.Mutex
	cache   map[lbAddr]*icbData // file entries read, by the address identifiers name
}

// dirFactor times MaxAEDHops and MaxMapSteps is the budget of listing one
// directory.
const dirFactor = 4

// Open reads the anchor, the volume descriptor sequence, the partition maps,
// the file set descriptor and the root directory of the UDF image r (size
// bytes long). It returns an error wrapping ErrNotUDF when there is no
// recognition sequence and no anchor, a *FormatError when the descriptors
// are malformed, one wrapping ErrUnsupported for what the reader does not
// implement.
func Open(r io.ReaderAt, size int64) (*FS, error) {
	return OpenOptions(r, size, Options{})
}

// OpenOptions is Open with options.
func OpenOptions(r io.ReaderAt, size int64, opts Options) (*FS, error) {
	if size < 0 {
		return nil, fmt.Errorf("udf: negative image size %d", size)
	}
	rec, rerr := Detect(r, size)
	if rerr != nil && !errors.Is(rerr, ErrNotUDF) {
		return nil, rerr
	}
	anchors, err := findAnchors(r, size)
	if err != nil {
		return nil, err
	}
	if len(anchors) == 0 {
		if rerr != nil {
			return nil, rerr
		}
		return nil, fmt.Errorf("udf: no anchor volume descriptor pointer at block 256, N-257 or N-1 (block sizes 512 to 32768): %w", ErrNotUDF)
	}
	var firstErr error
	tried := map[[3]int64]bool{}
	for _, a := range anchors {
		for _, seq := range []extentAD{a.main, a.reserve} {
			k := [3]int64{a.bs, int64(seq.loc), int64(seq.length)}
			if tried[k] {
				continue
			}
			tried[k] = true
			f := &FS{r: r, size: size, lim: opts.Limits.withDefaults(), bs: a.bs, rec: rec, unhide: opts.Unhide}
			err := f.load(seq)
			if err == nil {
				return f, nil
			}
			if firstErr == nil {
				firstErr = err
			}
		}
	}
	return nil, firstErr
}

// Root is the root directory.
func (f *FS) Root() *Entry { return f.root }

// Label is the logical volume identifier, or the primary volume
// descriptor's volume identifier when that is empty (what blkid reports as
// LABEL).
func (f *FS) Label() string { return f.label }

// VolumeSetID is the primary volume descriptor's volume set identifier.
func (f *FS) VolumeSetID() string { return f.volSetID }

// Revision is the UDF revision the volume claims, from the domain
// identifier (0x0102, 0x0150, 0x0201, 0x0250, ...), or 0 when not recorded.
func (f *FS) Revision() uint16 { return f.rev }

// BlockSize is the logical block size in bytes (a power of two, 512 to
// 32768).
func (f *FS) BlockSize() int { return int(f.bs) }

// Size is the image size given to Open.
func (f *FS) Size() int64 { return f.size }

// Recognition is the volume recognition sequence found by Detect.
func (f *FS) Recognition() Recognition { return f.rec }

// Lookup finds the entry at a slash-separated path from the root ("" and
// "/" are the root). Symbolic links are not followed.
func (f *FS) Lookup(p string) (*Entry, error) {
	return readkit.Lookup("udf", f.root, p, f.lim.MaxDepth)
}

// FS is the volume's tree as an fs.FS (also an fs.ReadDirFS and
// fs.StatFS); FileInfo.Sys is the *Entry. Symbolic links are not
// followed.
func (f *FS) FS() fs.FS { return readkit.NewFS("udf", f.root, f.lim.MaxDepth) }

// readAt reads exactly len(p) bytes at off, refusing ranges outside the image.
func (f *FS) readAt(p []byte, off int64) error { return readkit.ReadFull("udf", f.r, f.size, p, off) }

// inImage tells whether [off, off+n) lies inside the image.
func (f *FS) inImage(off, n int64) bool { return readkit.InRange(off, n, f.size) }

// extentAD is an extent_ad (ECMA-167 3/7.1): bytes at a sector.
type extentAD struct {
	length uint32
	loc    uint32
}

func parseExtentAD(b []byte) extentAD {
	return extentAD{length: binary.LittleEndian.Uint32(b), loc: binary.LittleEndian.Uint32(b[4:])}
}

// anchor is an anchor volume descriptor pointer (ECMA-167 3/10.2).
type anchor struct {
	bs            int64
	block         int64
	main, reserve extentAD
}

// blockSizes are the logical block sizes tried, the common ones first:
// ECMA-167 allows every power of two from 512 to 32,768 bytes (mkudffs
// makes them all), and the anchor's tag location tells which is right.
var blockSizes = []int64{2048, 512, 4096, 1024, 8192, 16384, 32768}

// findAnchors looks for anchor volume descriptor pointers at blocks 256,
// N-257 and N-1 (N blocks in the image) for each of blockSizes.
func findAnchors(r io.ReaderAt, size int64) ([]anchor, error) {
	var out []anchor
	var buf [512]byte
	for _, bs := range blockSizes {
		n := size / bs
		seen := map[int64]bool{}
		for _, blk := range []int64{256, n - 257, n - 1} {
			if blk < 0 || seen[blk] || (blk+1)*bs > size {
				continue
			}
			seen[blk] = true
			if err := readkit.ReadFull("udf", r, -1, buf[:], blk*bs); err != nil {
				return nil, err
			}
			t, err := parseTag(buf[:], blk*bs)
			if err != nil || t.ident != tagAnchor || int64(t.location) != blk {
				continue
			}
			out = append(out, anchor{bs: bs, block: blk, main: parseExtentAD(buf[16:]), reserve: parseExtentAD(buf[24:])})
		}
	}
	return out, nil
}

// vdSet holds the prevailing descriptors of a volume descriptor sequence.
type vdSet struct {
	pvd, lvd       []byte
	pvdNum, lvdNum uint32
	lvdOff         int64
	pds            map[uint16]partDesc
}

// partDesc is a partition descriptor (ECMA-167 3/10.5).
type partDesc struct {
	num           uint16
	start, length uint32 // sectors
	vdsNum        uint32
}

// readVDS reads a volume descriptor sequence, following pointers, up to its
// terminator, the end of its extent or the first block that is not a valid
// descriptor.
func (f *FS) readVDS(seq extentAD) (*vdSet, error) {
	v := &vdSet{pds: map[uint16]partDesc{}}
	loc, blocks := int64(seq.loc), int64(seq.length)/f.bs
	buf := make([]byte, f.bs)
	count := 0
	firstOff := loc * f.bs
outer:
	for {
		for i := int64(0); i < blocks; i++ {
			if count++; count > f.lim.MaxVDSDescriptors {
				return nil, limitErr(loc*f.bs, "MaxVDSDescriptors", int64(count), int64(f.lim.MaxVDSDescriptors))
			}
			blk := loc + i
			off := blk * f.bs
			if !f.inImage(off, f.bs) {
				break outer
			}
			if err := f.readAt(buf, off); err != nil {
				return nil, err
			}
			t, err := parseTag(buf, off)
			if err != nil || int64(t.location) != blk {
				break outer
			}
			vdsNum := binary.LittleEndian.Uint32(buf[16:])
			switch t.ident {
			case tagPrimaryVD:
				if v.pvd == nil || vdsNum >= v.pvdNum {
					v.pvd, v.pvdNum = bytes.Clone(buf), vdsNum
				}
			case tagLogicalVD:
				if v.lvd == nil || vdsNum >= v.lvdNum {
					v.lvd, v.lvdNum, v.lvdOff = bytes.Clone(buf), vdsNum, off
				}
			case tagPartitionVD:
				pd := partDesc{
					num:    binary.LittleEndian.Uint16(buf[22:]),
					start:  binary.LittleEndian.Uint32(buf[188:]),
					length: binary.LittleEndian.Uint32(buf[192:]),
					vdsNum: vdsNum,
				}
				if old, ok := v.pds[pd.num]; !ok || vdsNum >= old.vdsNum {
					if len(v.pds) < 256 || ok {
						v.pds[pd.num] = pd
					}
				}
			case tagPointerVD:
				next := parseExtentAD(buf[20:])
				loc, blocks = int64(next.loc), int64(next.length)/f.bs
				continue outer
			case tagTerminatingVD:
				break outer
			}
		}
		break
	}
	if v.lvd == nil {
		return nil, formatErr(firstOff, "volume descriptor sequence has no logical volume descriptor")
	}
	if len(v.pds) == 0 {
		return nil, formatErr(firstOff, "volume descriptor sequence has no partition descriptor")
	}
	return v, nil
}

// load reads the volume described by the descriptor sequence seq.
func (f *FS) load(seq extentAD) error {
	v, err := f.readVDS(seq)
	if err != nil {
		return err
	}
	lvd, off := v.lvd, v.lvdOff
	if bs := binary.LittleEndian.Uint32(lvd[212:]); int64(bs) != f.bs {
		return unsupported("logical block size %d in the logical volume descriptor at byte %d, sector size %d", bs, off+212, f.bs)
	}
	f.label = decodeDString(lvd[84:212])
	if isOSTA(lvd[216:248]) {
		f.rev = binary.LittleEndian.Uint16(lvd[240:])
	}
	if v.pvd != nil {
		f.volSetID = decodeDString(v.pvd[72:200])
		if f.label == "" { // as blkid does
			f.label = decodeDString(v.pvd[24:56])
		}
	}
	if err := f.loadMaps(v); err != nil {
		return err
	}
	fsd := parseLongAD(lvd[248:])
	return f.loadFileSet(fsd, off+248)
}

// isOSTA tells whether a regid is the OSTA UDF domain identifier.
func isOSTA(regid []byte) bool {
	return bytes.HasPrefix(regid[1:24], []byte("*OSTA UDF Compliant"))
}

// parseLongAD decodes a long_ad (ECMA-167 4/14.14.2).
func parseLongAD(b []byte) lext {
	raw := binary.LittleEndian.Uint32(b)
	return lext{length: int64(raw & 0x3FFFFFFF), typ: byte(raw >> 30), addr: parseLBAddr(b[4:])}
}

// loadFileSet reads the file set descriptor and the root directory.
func (f *FS) loadFileSet(fsd lext, adOff int64) error {
	buf, err := f.readBlock(fsd.addr)
	if err != nil {
		return fmt.Errorf("udf: file set descriptor (from byte %d): %w", adOff, err)
	}
	t, err := parseTag(buf, 0)
	if err != nil || t.ident != tagFileSet || t.location != fsd.addr.lbn {
		return formatErr(adOff, "no file set descriptor at block %d of partition %d", fsd.addr.lbn, fsd.addr.part)
	}
	if f.rev == 0 && isOSTA(buf[416:448]) {
		f.rev = binary.LittleEndian.Uint16(buf[440:])
	}
	rootAD := parseLongAD(buf[400:])
	root, err := f.newEntry("/", rootAD.addr, nil)
	if err != nil {
		return fmt.Errorf("udf: root directory: %w", err)
	}
	if root == nil || !root.IsDir() { // nil: a file type not served
		return formatErr(adOff, "the root ICB (block %d of partition %d) is not a directory", rootAD.addr.lbn, rootAD.addr.part)
	}
	f.root = root
	return nil
}

// readBlock reads logical block a.
func (f *FS) readBlock(a lbAddr) ([]byte, error) {
	return f.readLogical(a, f.bs)
}

// readLogical reads n bytes from logical block a on.
func (f *FS) readLogical(a lbAddr, n int64) ([]byte, error) {
	exts, err := f.mapExtent(nil, a, n, nil)
	if err != nil {
		return nil, err
	}
	buf := make([]byte, n)
	if err := f.readExtents(exts, buf); err != nil {
		return nil, err
	}
	return buf, nil
}

// readExtents fills buf with the concatenation of exts.
func (f *FS) readExtents(exts []Extent, buf []byte) error {
	pos := int64(0)
	for _, x := range exts {
		if pos >= int64(len(buf)) {
			break
		}
		n := min(x.Length, int64(len(buf))-pos)
		if x.Zero {
			clear(buf[pos : pos+n])
		} else if err := f.readAt(buf[pos:pos+n], x.Offset); err != nil {
			return err
		}
		pos += n
	}
	if pos < int64(len(buf)) {
		clear(buf[pos:])
	}
	return nil
}
