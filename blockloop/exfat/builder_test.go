package exfat

import (
	"encoding/binary"
	"io"
	"sort"
	"unicode/utf16"
)

// sparseImage is an image of size bytes made of written chunks over zeros:
// a multi-GiB volume costs only what is written.
type sparseImage struct {
	size   int64
	chunks []chunk
}

type chunk struct {
	off  int64
	data []byte
}

func (s *sparseImage) write(off int64, data []byte) {
	s.chunks = append(s.chunks, chunk{off, append([]byte(nil), data...)})
}

func (s *sparseImage) ReadAt(p []byte, off int64) (int, error) {
	if off >= s.size {
		return 0, io.EOF
	}
	n := len(p)
	var err error
	if int64(n) > s.size-off {
		n, err = int(s.size-off), io.EOF
	}
	clear(p[:n])
	for _, c := range s.chunks { // later chunks win
		lo, hi := max(off, c.off), min(off+int64(n), c.off+int64(len(c.data)))
		if lo < hi {
			copy(p[lo-off:hi-off], c.data[lo-c.off:hi-c.off])
		}
	}
	return n, err
}

// bytes is the image as one slice (small images only).
func (s *sparseImage) bytes() []byte {
	b := make([]byte, s.size)
	s.ReadAt(b, 0)
	return b
}

// builder writes an exFAT volume entry by entry (the tests' own writer, to
// make what mkfs.exfat and exfat-fuse cannot: files over 4 GiB on a sparse
// image, broken chains, bad sets).
type builder struct {
	img        *sparseImage
	bss, spcs  uint
	volSectors int64
	fatOff     int64 // sectors
	fatLen     int64
	heapOff    int64
	count      uint32
	next       uint32 // next free cluster
	fat        map[uint32]uint32
	root       uint32
	rootLen    uint32 // clusters
	upcase     []byte
	bitmap     uint32
	upcaseCl   uint32
	upcaseSum  uint32
}

func newBuilder(volBytes int64, bss, spcs uint) *builder {
	b := &builder{img: &sparseImage{size: volBytes}, bss: bss, spcs: spcs, fat: map[uint32]uint32{}}
	b.volSectors = volBytes >> bss
	b.fatOff = 24
	clusters := b.volSectors >> spcs
	b.fatLen = ((clusters+2)*4 + 1<<bss - 1) >> bss
	b.heapOff = b.fatOff + b.fatLen
	b.count = uint32((b.volSectors - b.heapOff) >> spcs)
	b.next = 2
	b.fat[0], b.fat[1] = 0xFFFFFFF8, 0xFFFFFFFF
	// Allocation bitmap, up-case table, root directory (2 clusters).
	b.bitmap = b.allocChain((int64(b.count) + 7) / 8)
	b.upcase = upcaseTable()
	b.upcaseSum = tableChecksum(b.upcase)
	b.upcaseCl = b.allocChain(int64(len(b.upcase)))
	b.img.write(b.clusterOff(b.upcaseCl), b.upcase)
	b.root = b.allocChain(2 * b.clusterSize())
	b.rootLen = 2
	return b
}

func (b *builder) clusterSize() int64 { return 1 << (b.bss + b.spcs) }

func (b *builder) clusterOff(c uint32) int64 {
	return b.heapOff<<b.bss + int64(c-2)*b.clusterSize()
}

// alloc reserves the clusters of n bytes, contiguous, without FAT entries.
func (b *builder) alloc(n int64) uint32 {
	c := b.next
	b.next += uint32((n + b.clusterSize() - 1) / b.clusterSize())
	if n == 0 {
		return 0
	}
	return c
}

// allocChain is alloc with a FAT chain.
func (b *builder) allocChain(n int64) uint32 {
	c := b.alloc(n)
	k := uint32((n + b.clusterSize() - 1) / b.clusterSize())
	for i := uint32(0); i < k; i++ {
		b.fat[c+i] = c + i + 1
	}
	if k > 0 {
		b.fat[c+k-1] = 0xFFFFFFFF
	}
	return c
}

// upcaseTable is a compressed up-case table: a-z and à-þ (not ÷) upper-cased,
// every other character itself.
func upcaseTable() []byte {
	var u []uint16
	u = append(u, 0xFFFF, 'a')
	for c := uint16('a'); c <= 'z'; c++ {
		u = append(u, c-32)
	}
	u = append(u, 0xFFFF, 0xE0-('z'+1))
	for c := uint16(0xE0); c <= 0xFE; c++ {
		if c == 0xF7 {
			u = append(u, c)
		} else {
			u = append(u, c-32)
		}
	}
	u = append(u, 0xFFFF, 0xFFFF-0xFE)
	out := make([]byte, 2*len(u))
	for i, c := range u {
		binary.LittleEndian.PutUint16(out[2*i:], c)
	}
	return out
}

// ts is an exFAT timestamp.
func ts(year, month, day, hour, min, sec int) uint32 {
	return uint32(year-1980)<<25 | uint32(month)<<21 | uint32(day)<<16 | uint32(hour)<<11 | uint32(min)<<5 | uint32(sec/2)
}

// fileEntry describes one entry set.
type fileEntry struct {
	name          string
	attr          uint16
	cluster       uint32
	length, valid uint64
	noFatChain    bool
	modified      uint32
	modified10    uint8
	modifiedTZ    uint8
}

// set encodes an entry set with its SetChecksum.
func (e fileEntry) set() []byte {
	name := utf16.Encode([]rune(e.name))
	ne := (len(name) + 14) / 15
	b := make([]byte, 32*(2+ne))
	b[0], b[1] = typeFile, byte(1+ne)
	binary.LittleEndian.PutUint16(b[4:], e.attr)
	mod := e.modified
	if mod == 0 {
		mod = ts(2024, 5, 6, 7, 8, 10)
	}
	binary.LittleEndian.PutUint32(b[8:], mod)
	binary.LittleEndian.PutUint32(b[12:], mod)
	binary.LittleEndian.PutUint32(b[16:], mod)
	b[21], b[23] = e.modified10, e.modifiedTZ
	s := b[32:64]
	s[0], s[1], s[3] = typeStream, 0x01, byte(len(name))
	if e.noFatChain {
		s[1] |= flagNoChain
	}
	binary.LittleEndian.PutUint64(s[8:], e.valid)
	binary.LittleEndian.PutUint32(s[20:], e.cluster)
	binary.LittleEndian.PutUint64(s[24:], e.length)
	for i := 0; i < ne; i++ {
		n := b[64+32*i:]
		n[0] = typeName
		for j := 0; j < 15 && 15*i+j < len(name); j++ {
			binary.LittleEndian.PutUint16(n[2+2*j:], name[15*i+j])
		}
	}
	binary.LittleEndian.PutUint16(b[2:], setChecksum(b))
	return b
}

// critical is the root's label, bitmap and up-case entries.
func (b *builder) critical(label string) []byte {
	out := make([]byte, 96)
	l := utf16.Encode([]rune(label))
	out[0], out[1] = typeLabel, byte(len(l))
	for i, c := range l {
		binary.LittleEndian.PutUint16(out[2+2*i:], c)
	}
	bm := out[32:]
	bm[0] = typeBitmap
	binary.LittleEndian.PutUint32(bm[20:], b.bitmap)
	binary.LittleEndian.PutUint64(bm[24:], uint64((b.count+7)/8))
	uc := out[64:]
	uc[0] = typeUpcase
	binary.LittleEndian.PutUint32(uc[4:], b.upcaseSum)
	binary.LittleEndian.PutUint32(uc[20:], b.upcaseCl)
	binary.LittleEndian.PutUint64(uc[24:], uint64(len(b.upcase)))
	return out
}

// finish writes the root directory's entries, the FAT and both boot
// regions.
func (b *builder) finish(root []byte) *sparseImage {
	if int64(len(root)) > int64(b.rootLen)*b.clusterSize() {
		panic("root directory too large")
	}
	b.img.write(b.clusterOff(b.root), root)
	keys := make([]uint32, 0, len(b.fat))
	for k := range b.fat {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return keys[i] < keys[j] })
	var e [4]byte
	for _, k := range keys {
		binary.LittleEndian.PutUint32(e[:], b.fat[k])
		b.img.write(b.fatOff<<b.bss+int64(k)*4, e[:])
	}
	bs := int64(1) << b.bss
	region := make([]byte, 12*bs)
	s := region[:512]
	s[0], s[1], s[2] = 0xEB, 0x76, 0x90
	copy(s[3:], "EXFAT   ")
	binary.LittleEndian.PutUint64(s[72:], uint64(b.volSectors))
	binary.LittleEndian.PutUint32(s[80:], uint32(b.fatOff))
	binary.LittleEndian.PutUint32(s[84:], uint32(b.fatLen))
	binary.LittleEndian.PutUint32(s[88:], uint32(b.heapOff))
	binary.LittleEndian.PutUint32(s[92:], b.count)
	binary.LittleEndian.PutUint32(s[96:], b.root)
	binary.LittleEndian.PutUint32(s[100:], 0x12345678)
	binary.LittleEndian.PutUint16(s[104:], 0x0100)
	s[108], s[109], s[110], s[111] = byte(b.bss), byte(b.spcs), 1, 0x80
	s[510], s[511] = 0x55, 0xAA
	for i := int64(1); i <= 8; i++ {
		region[i*bs+bs-2], region[i*bs+bs-1] = 0x55, 0xAA
	}
	sum := bootChecksum(region[:11*bs])
	for i := 11 * bs; i < 12*bs; i += 4 {
		binary.LittleEndian.PutUint32(region[i:], sum)
	}
	b.img.write(0, region)
	b.img.write(12*bs, region)
	return b.img
}
