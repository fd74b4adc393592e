package blockloop

import (
	"bytes"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"io"
	"os"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// Kind says what sort of thing an image holds.
type Kind string

const (
	KindUnknown        Kind = "unknown"
	KindFilesystem     Kind = "filesystem"
	KindPartitionTable Kind = "partition-table"
	KindDiskImage      Kind = "disk-image" // qcow2, vmdk, vhdx: not raw, a loop device cannot read it
	KindCrypto         Kind = "crypto"     // LUKS
	KindSwap           Kind = "swap"
)

// ProbeResult is what Probe found in an image or a partition. Type, Label,
// UUID, PTType and PTUUID use the names and formats of `blkid -p`.
type ProbeResult struct {
	Kind   Kind
	Type   string // blkid TYPE: ext4, xfs, iso9660, squashfs, crypto_LUKS, qcow2…; "" for a bare partition table
	Label  string
	UUID   string
	PTType string // "dos" (MBR) or "gpt" when a partition table was found
	PTUUID string

	// Size is the size of what was probed; FSSize the size the superblock
	// claims (0 when unknown). FSSize > Size means a truncated image.
	Size   int64
	FSSize int64

	// Ambiguous lists the other filesystem signatures found beside Type.
	Ambiguous []string
	// Also lists filesystems present beside Type by design, not by
	// accident: the ISO 9660 tree of a UDF bridge disc. blkid calls such
	// a disc udf; --type iso9660 mounts the other tree.
	Also []string

	// Partitions are the entries of the partition table, each probed.
	Partitions []Partition
	// PTError is why the partition table could not be read, if it could not.
	PTError error
}

// Truncated reports whether the superblock claims more bytes than there are.
func (p *ProbeResult) Truncated() bool { return p.FSSize > p.Size }

// ProbeFile opens path read-only and probes it. A directory or a device is
// refused with ErrNotRegular. Like `blkid -p FILE`; needs read access only.
func ProbeFile(path string) (*ProbeResult, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, opErr("probe", path, "", "", unwrapPath(err))
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, opErr("probe", path, "", "", unwrapPath(err))
	}
	if !st.Mode().IsRegular() {
		return nil, opErr("probe", path, "", "", notRegular(st.Mode()))
	}
	p, err := Probe(f, st.Size())
	if err != nil {
		return nil, opErr("probe", path, "", "", err)
	}
	return p, nil
}

// Probe identifies the content of r, of the given size: a filesystem by its
// superblock magic (and its label, UUID and claimed size), a partition table
// (whose partitions it probes in turn), a qcow2/vmdk/vhdx disk image or a
// LUKS volume. An unknown format is not an error: Kind is KindUnknown. It
// returns an error only when r cannot be read.
func Probe(r io.ReaderAt, size int64) (*ProbeResult, error) {
	return probe(r, size, true)
}

// probers in blkid's order: UDF before ISO 9660 (bridge discs carry both),
// FAT/exFAT/NTFS before MBR (their boot sectors carry 55AA too).
var probers = []struct {
	name string
	fn   func(*reader, *ProbeResult) bool
}{
	{"luks", probeLUKS},
	{"qcow2", probeDiskImage},
	{"udf", probeUDF},
	{"iso9660", probeISO},
	{"ext", probeExt},
	{"xfs", probeXFS},
	{"btrfs", probeBtrfs},
	{"squashfs", probeSquashfs},
	{"erofs", probeErofs},
	{"vfat", probeFAT},
	{"exfat", probeExFAT},
	{"ntfs", probeNTFS},
	{"swap", probeSwap},
}

func probe(r io.ReaderAt, size int64, partitions bool) (*ProbeResult, error) {
	rd := &reader{r: r, size: size}
	res := &ProbeResult{Kind: KindUnknown, Size: size}
	for _, p := range probers {
		var cand ProbeResult
		cand.Size = size
		if !p.fn(rd, &cand) {
			continue
		}
		if res.Type == "" {
			*res = cand
			continue
		}
		// A second filesystem signature. Disk images and LUKS headers
		// come first and win outright.
		switch {
		case res.Type == "udf" && cand.Type == "iso9660":
			res.Also = append(res.Also, cand.Type)
			if res.Label == "" {
				res.Label, res.UUID = cand.Label, cand.UUID
			}
		case res.Kind == KindFilesystem && cand.Kind == KindFilesystem:
			res.Ambiguous = append(res.Ambiguous, cand.Type)
		}
	}
	if rd.err != nil {
		return nil, rd.err
	}
	if partitions && (res.Kind == KindUnknown || res.Kind == KindFilesystem) {
		pt, err := ReadPartitions(r, size)
		if rd.err == nil && pt != nil {
			res.PTType, res.PTUUID = pt.Type, pt.UUID
			if res.Kind == KindUnknown {
				res.Kind = KindPartitionTable
			}
			for _, part := range pt.Partitions {
				if part.Start < size {
					n := part.Size
					if part.Start+n > size {
						n = size - part.Start
					}
					fs, perr := probe(io.NewSectionReader(r, part.Start, n), n, false)
					if perr != nil {
						return nil, perr
					}
					if part.Start+part.Size > size {
						fs.Size = n
						if fs.FSSize == 0 {
							fs.FSSize = part.Size
						}
					}
					part.FS = fs
				}
				res.Partitions = append(res.Partitions, part)
			}
		} else if err != nil && res.Kind == KindUnknown {
			res.PTError = err
		}
	}
	return res, nil
}

// reader reads bounded ranges, remembering the first real I/O error.
type reader struct {
	r    io.ReaderAt
	size int64
	err  error
}

// at returns n bytes at off, or nil when they lie (partly) past the end.
func (rd *reader) at(off int64, n int) []byte {
	if off < 0 || n < 0 || off+int64(n) > rd.size || rd.err != nil {
		return nil
	}
	b := make([]byte, n)
	if _, err := rd.r.ReadAt(b, off); err != nil && !(err == io.EOF) {
		rd.err = err
		return nil
	} else if err == io.EOF {
		return nil
	}
	return b
}

func (rd *reader) has(off int64, magic string) bool {
	b := rd.at(off, len(magic))
	return b != nil && string(b) == magic
}

func le16(b []byte, o int) uint16 { return binary.LittleEndian.Uint16(b[o:]) }
func le32(b []byte, o int) uint32 { return binary.LittleEndian.Uint32(b[o:]) }
func le64(b []byte, o int) uint64 { return binary.LittleEndian.Uint64(b[o:]) }
func be32(b []byte, o int) uint32 { return binary.BigEndian.Uint32(b[o:]) }
func be64(b []byte, o int) uint64 { return binary.BigEndian.Uint64(b[o:]) }

// cstr is a NUL-terminated (or full) string with invalid UTF-8 kept as is,
// as blkid does.
func cstr(b []byte) string {
	if i := bytes.IndexByte(b, 0); i >= 0 {
		b = b[:i]
	}
	return string(b)
}

func uuidString(b []byte) string {
	if allZero(b) {
		return ""
	}
	h := hex.EncodeToString(b)
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32]
}

func allZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}

// mul returns a*b, or -1 when that does not fit an int64.
func mul(a, b uint64) int64 {
	if a != 0 && b > (1<<63-1)/a {
		return -1
	}
	return int64(a * b)
}

func claimed(n int64) int64 {
	if n < 0 {
		return 1<<63 - 1
	}
	return n
}

func probeExt(rd *reader, p *ProbeResult) bool {
	sb := rd.at(1024, 1024)
	if sb == nil || le16(sb, 0x38) != 0xEF53 {
		return false
	}
	compat, incompat, rocompat := le32(sb, 0x5C), le32(sb, 0x60), le32(sb, 0x64)
	const (
		hasJournal  = 0x4
		journalDev  = 0x8
		ext3Incompt = 0x2 | 0x4 | 0x10 // filetype, recover, meta_bg
		ext3RoCompt = 0x1 | 0x2 | 0x4  // sparse_super, large_file, btree_dir
	)
	switch {
	case incompat&journalDev != 0:
		p.Type = "jbd"
	case incompat&^ext3Incompt != 0 || rocompat&^ext3RoCompt != 0:
		p.Type = "ext4"
	case compat&hasJournal != 0:
		p.Type = "ext3"
	default:
		p.Type = "ext2"
	}
	p.Kind = KindFilesystem
	p.Label = cstr(sb[0x78 : 0x78+16])
	p.UUID = uuidString(sb[0x68 : 0x68+16])
	logBS := le32(sb, 0x18)
	if logBS < 7 {
		blocks := uint64(le32(sb, 0x04))
		if incompat&0x80 != 0 { // 64bit
			blocks |= uint64(le32(sb, 0x150)) << 32
		}
		p.FSSize = claimed(mul(blocks, 1024<<logBS))
	}
	return true
}

func probeXFS(rd *reader, p *ProbeResult) bool {
	sb := rd.at(0, 512)
	if sb == nil || string(sb[0:4]) != "XFSB" {
		return false
	}
	p.Type, p.Kind = "xfs", KindFilesystem
	p.UUID = uuidString(sb[32:48])
	p.Label = cstr(sb[108:120])
	p.FSSize = claimed(mul(be64(sb, 8), uint64(be32(sb, 4))))
	return true
}

func probeBtrfs(rd *reader, p *ProbeResult) bool {
	sb := rd.at(0x10000, 4096)
	if sb == nil || string(sb[0x40:0x48]) != "_BHRfS_M" {
		return false
	}
	p.Type, p.Kind = "btrfs", KindFilesystem
	p.UUID = uuidString(sb[0x20:0x30])
	p.Label = cstr(sb[0x12B : 0x12B+256])
	p.FSSize = claimed(int64Of(le64(sb, 0x70)))
	return true
}

func int64Of(u uint64) int64 {
	if u > 1<<63-1 {
		return -1
	}
	return int64(u)
}

func probeSquashfs(rd *reader, p *ProbeResult) bool {
	sb := rd.at(0, 96)
	if sb == nil {
		return false
	}
	switch string(sb[0:4]) {
	case "hsqs":
		if le16(sb, 28) < 4 { // s_major: v3 and older are not mountable here
			p.Type = "squashfs3"
		} else {
			p.Type = "squashfs"
			p.FSSize = claimed(int64Of(le64(sb, 40)))
		}
	case "sqsh":
		p.Type = "squashfs3"
	default:
		return false
	}
	p.Kind = KindFilesystem
	return true
}

func probeErofs(rd *reader, p *ProbeResult) bool {
	sb := rd.at(1024, 128)
	if sb == nil || le32(sb, 0) != 0xE0F5E1E2 {
		return false
	}
	p.Type, p.Kind = "erofs", KindFilesystem
	p.UUID = uuidString(sb[48:64])
	p.Label = cstr(sb[64:80])
	if bits := sb[12]; bits >= 9 && bits <= 16 {
		p.FSSize = claimed(mul(uint64(le32(sb, 36)), 1<<bits))
	}
	return true
}

// isoDesc walks the ISO 9660 volume descriptor set at 32 KiB.
func isoDescs(rd *reader, fn func(typ byte, id string, d []byte) bool) {
	for i := int64(0); i < 64; i++ {
		d := rd.at(0x8000+i*2048, 2048)
		if d == nil {
			return
		}
		if !fn(d[0], string(d[1:6]), d) || d[0] == 255 {
			return
		}
	}
}

// probeUDF finds the UDF volume recognition sequence (BEA01, NSR02 or
// NSR03, TEA01) from 32 KiB, read past any ISO 9660 descriptors and their
// terminator, as on bridge discs (blkid reads on too). Descriptors are
// 2048 bytes apart, or a block apart for 4096-byte blocks.
func probeUDF(rd *reader, p *ProbeResult) bool {
	for _, step := range []int64{2048, 4096} {
		if vrsHasNSR(rd, step) {
			p.Type, p.Kind = "udf", KindFilesystem
			return true
		}
	}
	return false
}

func vrsHasNSR(rd *reader, step int64) bool {
	bea := false
	for i := int64(0); i < 64; i++ {
		d := rd.at(0x8000+i*step, 7)
		if d == nil || d[6] != 1 && d[6] != 2 && string(d[1:6]) != "CD001" {
			return false
		}
		switch string(d[1:6]) {
		case "BEA01":
			bea = true
		case "NSR02", "NSR03":
			if bea {
				return true
			}
		case "TEA01":
			bea = false
		case "CD001", "CD002", "BOOT2":
		default:
			return false
		}
	}
	return false
}

func probeISO(rd *reader, p *ProbeResult) bool {
	var pvd, joliet []byte
	isoDescs(rd, func(typ byte, id string, d []byte) bool {
		if id != "CD001" {
			return false
		}
		switch {
		case typ == 1 && pvd == nil:
			pvd = d
		case typ == 2 && joliet == nil && d[88] == '%' && d[89] == '/' && (d[90] == '@' || d[90] == 'C' || d[90] == 'E'):
			joliet = d
		}
		return true
	})
	if pvd == nil {
		return false
	}
	p.Type, p.Kind = "iso9660", KindFilesystem
	p.Label = strings.TrimRight(string(pvd[40:72]), " ")
	if joliet != nil {
		if jl := ucs2be(joliet[40:72]); len(jl) > len(p.Label) || strings.EqualFold(jl, p.Label) {
			p.Label = strings.TrimRight(jl, " ")
		}
	}
	if t := isoDate(pvd[830:847]); t != "" { // modification date, as blkid
		p.UUID = t
	} else {
		p.UUID = isoDate(pvd[813:830])
	}
	p.FSSize = claimed(mul(uint64(le32(pvd, 80)), uint64(le16(pvd, 128))))
	return true
}

func isoDate(b []byte) string {
	for _, c := range b[:16] {
		if c < '0' || c > '9' {
			return ""
		}
	}
	if string(b[:16]) == "0000000000000000" {
		return ""
	}
	s := string(b[:16])
	return fmt.Sprintf("%s-%s-%s-%s-%s-%s-%s", s[0:4], s[4:6], s[6:8], s[8:10], s[10:12], s[12:14], s[14:16])
}

func ucs2be(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := uint16(b[i])<<8 | uint16(b[i+1])
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return string(utf16.Decode(u))
}

func probeFAT(rd *reader, p *ProbeResult) bool {
	b := rd.at(0, 512)
	if b == nil || b[510] != 0x55 || b[511] != 0xAA || (b[0] != 0xEB && b[0] != 0xE9) {
		return false
	}
	switch le16(b, 11) {
	case 512, 1024, 2048, 4096:
	default:
		return false
	}
	var lab, ser int
	switch {
	case string(b[0x36:0x3E]) == "FAT12   " || string(b[0x36:0x3E]) == "FAT16   ":
		lab, ser = 0x2B, 0x27
	case string(b[0x52:0x5A]) == "FAT32   ":
		lab, ser = 0x47, 0x43
	default:
		return false
	}
	p.Type, p.Kind = "vfat", KindFilesystem
	if l := strings.TrimRight(string(b[lab:lab+11]), " "); l != "NO NAME" {
		p.Label = l
	}
	v := le32(b, ser)
	p.UUID = fmt.Sprintf("%04X-%04X", v>>16, v&0xFFFF)
	sectors := uint64(le16(b, 19))
	if sectors == 0 {
		sectors = uint64(le32(b, 32))
	}
	p.FSSize = claimed(mul(sectors, uint64(le16(b, 11))))
	return true
}

func probeExFAT(rd *reader, p *ProbeResult) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[3:11]) != "EXFAT   " {
		return false
	}
	p.Type, p.Kind = "exfat", KindFilesystem
	v := le32(b, 100)
	p.UUID = fmt.Sprintf("%04X-%04X", v>>16, v&0xFFFF)
	if s := b[108]; s >= 9 && s <= 12 {
		p.FSSize = claimed(mul(le64(b, 72), 1<<s))
	}
	return true
}

func probeNTFS(rd *reader, p *ProbeResult) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[3:11]) != "NTFS    " {
		return false
	}
	p.Type, p.Kind = "ntfs", KindFilesystem
	p.UUID = fmt.Sprintf("%016X", le64(b, 0x48))
	p.FSSize = claimed(mul(le64(b, 0x28), uint64(le16(b, 11))))
	return true
}

func probeSwap(rd *reader, p *ProbeResult) bool {
	for _, ps := range []int64{4096, 8192, 16384, 65536} {
		m := rd.at(ps-10, 10)
		if m != nil && (string(m) == "SWAPSPACE2" || string(m) == "SWAP-SPACE") {
			p.Type, p.Kind = "swap", KindSwap
			if h := rd.at(1024, 1024); h != nil {
				p.UUID = uuidString(h[12:28])
				p.Label = cstr(h[28:44])
			}
			return true
		}
	}
	return false
}

func probeLUKS(rd *reader, p *ProbeResult) bool {
	b := rd.at(0, 512)
	if b == nil || string(b[0:6]) != "LUKS\xba\xbe" {
		return false
	}
	p.Type, p.Kind = "crypto_LUKS", KindCrypto
	p.UUID = cstr(b[168:208])
	if le16(b, 6) == 2 {
		p.Label = cstr(b[24:72])
	}
	return true
}

func probeDiskImage(rd *reader, p *ProbeResult) bool {
	b := rd.at(0, 8)
	if b == nil {
		return false
	}
	switch {
	case string(b[0:4]) == "QFI\xfb":
		p.Type = "qcow2"
	case string(b[0:4]) == "KDMV":
		p.Type = "vmdk"
	case string(b[0:8]) == "vhdxfile":
		p.Type = "vhdx"
	case string(b[0:4]) == "# Di" && rd.has(0, "# Disk DescriptorFile"):
		p.Type = "vmdk"
	default:
		return false
	}
	p.Kind = KindDiskImage
	return true
}

// validUTF8 replaces invalid UTF-8 for display.
func validUTF8(s string) string {
	if utf8.ValidString(s) {
		return s
	}
	return strings.ToValidUTF8(s, "\uFFFD")
}

// headCache serves reads from the first headCacheSize bytes of an image
// from memory: probing reads a dozen small pieces near the start, and one
// pread instead of a dozen matters in a command that lives a few ms.
type headCache struct {
	r    io.ReaderAt
	head []byte
}

const headCacheSize = 68 << 10 // covers every superblock magic probed (btrfs at 64 KiB)

func newHeadCache(r io.ReaderAt, size int64) io.ReaderAt {
	n := min(size, headCacheSize)
	buf := make([]byte, n)
	got, err := r.ReadAt(buf, 0)
	if got < int(n) && err != nil && err != io.EOF {
		return r
	}
	return &headCache{r: r, head: buf[:got]}
}

func (c *headCache) ReadAt(p []byte, off int64) (int, error) {
	if off >= 0 && off+int64(len(p)) <= int64(len(c.head)) {
		return copy(p, c.head[off:]), nil
	}
	return c.r.ReadAt(p, off)
}
