package erofs

import "encoding/binary"

// The on-disk format, as the kernel's fs/erofs/erofs_fs.h defines it.
const (
	Magic          = 0xE0F5E1E2
	SuperOffset    = 1024 // the superblock's byte offset
	superSize      = 128
	slotSize       = 128  // one device slot
	slotOffset     = 1152 // our one slot, right after the superblock
	metaStart      = slotOffset + slotSize
	compactSize    = 32
	extendedSize   = 64
	direntSize     = 12
	chunkIndexSize = 8
	maxNameLen     = 255
	nullAddr       = 0xFFFFFFFF // a hole chunk (32-bit addresses)

	compatMtime         = 0x2 // compact inodes carry their own mtime (Linux 6.15+)
	incompatChunkedFile = 0x4
	incompatDeviceTable = 0x8

	layoutFlatPlain  = 0
	layoutFlatInline = 2
	layoutChunkBased = 4

	chunkFormatIndexes = 0x20
	chunkBitsMask      = 0x1f
)

// File types of a dirent.
const (
	ftUnknown = iota
	ftRegular
	ftDir
	ftChar
	ftBlock
	ftFifo
	ftSocket
	ftSymlink
)

// st_mode type bits (Linux values on every architecture).
const (
	sIFMT   = 0o170000
	sIFSOCK = 0o140000
	sIFLNK  = 0o120000
	sIFREG  = 0o100000
	sIFBLK  = 0o060000
	sIFDIR  = 0o040000
	sIFCHR  = 0o020000
	sIFIFO  = 0o010000
)

// fileType is the dirent type of a mode (ftUnknown for no known type).
func fileType(mode uint32) uint8 {
	switch mode & sIFMT {
	case sIFREG:
		return ftRegular
	case sIFDIR:
		return ftDir
	case sIFCHR:
		return ftChar
	case sIFBLK:
		return ftBlock
	case sIFIFO:
		return ftFifo
	case sIFSOCK:
		return ftSocket
	case sIFLNK:
		return ftSymlink
	}
	return ftUnknown
}

// superblock is what the index's superblock records.
type superblock struct {
	blkszbits   uint8
	rootNid     uint16
	inodes      uint64
	epoch       uint64
	blocks      uint32 // of the index itself
	compat      uint32
	incompat    uint32
	label       string
	devBlocks   uint32 // device 1, in blocks
	devUniaddr  uint32 // where device 1 starts in the unified address space
	extraDevice bool
}

// putSuper encodes the superblock and its device slot at their offsets in
// b (at least metaStart bytes).
func putSuper(b []byte, s superblock) {
	p := b[SuperOffset : SuperOffset+superSize]
	le := binary.LittleEndian
	le.PutUint32(p[0:], Magic)
	le.PutUint32(p[8:], s.compat)
	p[12] = s.blkszbits
	le.PutUint16(p[14:], s.rootNid)
	le.PutUint64(p[16:], s.inodes)
	le.PutUint64(p[24:], s.epoch)
	le.PutUint32(p[36:], s.blocks)
	copy(p[64:80], s.label)
	le.PutUint32(p[80:], s.incompat)
	if s.extraDevice {
		le.PutUint16(p[86:], 1)
		le.PutUint16(p[88:], slotOffset/slotSize)
		d := b[slotOffset : slotOffset+slotSize]
		le.PutUint32(d[64:], s.devBlocks)
		le.PutUint32(d[68:], s.devUniaddr)
	}
}

// inode is one on-disk inode, compact or extended.
type inode struct {
	extended bool
	layout   uint8
	mode     uint16
	nlink    uint32
	size     uint64
	iu       uint32 // startblk, rdev or chunk format
	ino      uint32
	uid, gid uint32
	mtime    int64 // seconds (extended) or seconds after the epoch (compact)
	nsec     uint32
}

// putInode encodes i at the start of b (32 or 64 bytes).
func putInode(b []byte, i inode) {
	le := binary.LittleEndian
	format := uint16(i.layout) << 1
	if i.extended {
		format |= 1
	}
	le.PutUint16(b[0:], format)
	le.PutUint16(b[4:], i.mode)
	if i.extended {
		le.PutUint64(b[8:], i.size)
		le.PutUint32(b[16:], i.iu)
		le.PutUint32(b[20:], i.ino)
		le.PutUint32(b[24:], i.uid)
		le.PutUint32(b[28:], i.gid)
		le.PutUint64(b[32:], uint64(i.mtime))
		le.PutUint32(b[40:], i.nsec)
		le.PutUint32(b[44:], i.nlink)
		return
	}
	le.PutUint16(b[6:], uint16(i.nlink))
	le.PutUint32(b[8:], uint32(i.size))
	le.PutUint32(b[12:], uint32(i.mtime))
	le.PutUint32(b[16:], i.iu)
	le.PutUint32(b[20:], i.ino)
	le.PutUint16(b[24:], uint16(i.uid))
	le.PutUint16(b[26:], uint16(i.gid))
}

// putChunkIndex encodes one chunk index: blk on device dev, or a hole.
func putChunkIndex(b []byte, dev uint16, blk uint32) {
	le := binary.LittleEndian
	le.PutUint16(b[0:], 0)
	le.PutUint16(b[2:], dev)
	le.PutUint32(b[4:], blk)
}

// putDirent encodes one dirent.
func putDirent(b []byte, nid uint64, nameoff uint16, ft uint8) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], nid)
	le.PutUint16(b[8:], nameoff)
	b[10] = ft
	b[11] = 0
}

// encodeDev is the kernel's new_encode_dev of a Linux dev_t.
func encodeDev(rdev uint64) uint32 {
	major := uint32((rdev>>8)&0xfff | (rdev>>32)&^0xfff)
	minor := uint32(rdev&0xff | (rdev>>12)&^0xff)
	return minor&0xff | major<<8 | (minor&^0xff)<<12
}
