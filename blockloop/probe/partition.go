package probe

import (
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strings"
	"unicode/utf16"
)

// PartitionTable is an MBR ("dos") or GPT partition table.
type PartitionTable struct {
	Type       string // "dos" or "gpt", as blkid's PTTYPE
	UUID       string // blkid's PTUUID: the MBR disk signature or the GPT disk GUID
	SectorSize int
	Partitions []Partition
}

// Partition is one entry of a partition table.
type Partition struct {
	Number int    // 1-based: MBR 1–4 primary, 5… logical; GPT the entry index + 1
	Start  int64  // offset in bytes
	Size   int64  // length in bytes
	Type   string // MBR "0x83", GPT the type GUID
	// TypeName is a readable name for Type ("Linux filesystem"), or "".
	TypeName string
	Name     string // GPT partition name
	UUID     string // PARTUUID: GPT unique GUID, MBR "<disk id>-NN"
	// Container is true for an MBR extended partition, which holds the
	// logical ones and no filesystem.
	Container bool
	// FS is what the partition holds, probed; nil past the end of the image.
	FS *Result
}

// maxGPTEntriesBytes caps the partition-entry array read from a GPT header.
const maxGPTEntriesBytes = 1 << 20

// ReadPartitions reads an MBR or GPT partition table from r. It returns
// (nil, nil) when there is none. A GPT with a bad checksum is an error.
// The kernel has its own parser (`losetup -P`); this one works where the
// kernel was built without one.
func ReadPartitions(r io.ReaderAt, size int64) (*PartitionTable, error) {
	rd := &reader{r: r, size: size}
	mbr := rd.at(0, 512)
	if rd.err != nil {
		return nil, rd.err
	}
	if mbr == nil || mbr[510] != 0x55 || mbr[511] != 0xAA {
		// A GPT without a protective MBR is still a GPT (blkid agrees).
		if pt, err := readGPT(rd); pt != nil || err != nil {
			return pt, err
		}
		return nil, rd.err
	}
	protective := false
	used := 0
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i:]
		if e[0] != 0 && e[0] != 0x80 {
			return nil, nil // not a partition table (boot code or a filesystem)
		}
		if e[4] == 0xEE {
			protective = true
		}
		if e[4] != 0 {
			used++
		}
	}
	if protective {
		pt, err := readGPT(rd)
		if err != nil || pt != nil {
			return pt, err
		}
		return nil, fmt.Errorf("protective MBR but no GPT header")
	}
	if used == 0 {
		return nil, nil
	}
	return readMBR(rd, mbr)
}

func readMBR(rd *reader, mbr []byte) (*PartitionTable, error) {
	id := le32(mbr, 440)
	pt := &PartitionTable{Type: "dos", UUID: fmt.Sprintf("%08x", id), SectorSize: 512}
	var ext int64 = -1
	for i := 0; i < 4; i++ {
		e := mbr[446+16*i:]
		typ := e[4]
		start, n := int64(le32(e, 8)), int64(le32(e, 12))
		if typ == 0 || n == 0 {
			continue
		}
		p := Partition{
			Number: i + 1, Start: start * 512, Size: n * 512,
			Type: fmt.Sprintf("0x%02x", typ), TypeName: mbrTypes[typ],
			UUID: fmt.Sprintf("%08x-%02x", id, i+1),
		}
		if isExtended(typ) {
			p.Container = true
			if ext < 0 {
				ext = start
			}
		}
		pt.Partitions = append(pt.Partitions, p)
	}
	if ext >= 0 {
		// Logical partitions: a chain of EBRs, each relative to the
		// extended partition's start. Bound it against loops.
		num := 5
		seen := map[int64]bool{}
		next := int64(0)
		for len(seen) < 128 {
			at := ext + next
			if seen[at] {
				return pt, fmt.Errorf("extended partition chain loops at sector %d", at)
			}
			seen[at] = true
			ebr := rd.at(at*512, 512)
			if ebr == nil || ebr[510] != 0x55 || ebr[511] != 0xAA {
				break
			}
			l, link := ebr[446:], ebr[462:]
			if l[4] != 0 && le32(l, 12) != 0 {
				pt.Partitions = append(pt.Partitions, Partition{
					Number: num, Start: (at + int64(le32(l, 8))) * 512, Size: int64(le32(l, 12)) * 512,
					Type: fmt.Sprintf("0x%02x", l[4]), TypeName: mbrTypes[l[4]],
					UUID: fmt.Sprintf("%08x-%02x", id, num),
				})
				num++
			}
			if !isExtended(link[4]) || le32(link, 8) == 0 {
				break
			}
			next = int64(le32(link, 8))
		}
	}
	return pt, rd.err
}

func isExtended(t byte) bool { return t == 0x05 || t == 0x0F || t == 0x85 }

var mbrTypes = map[byte]string{
	0x01: "FAT12", 0x04: "FAT16 <32M", 0x05: "Extended", 0x06: "FAT16", 0x07: "HPFS/NTFS/exFAT",
	0x0b: "W95 FAT32", 0x0c: "W95 FAT32 (LBA)", 0x0e: "W95 FAT16 (LBA)", 0x0f: "W95 Ext'd (LBA)",
	0x82: "Linux swap", 0x83: "Linux", 0x85: "Linux extended", 0x8e: "Linux LVM",
	0xa5: "FreeBSD", 0xee: "GPT", 0xef: "EFI (FAT-12/16/32)", 0xfd: "Linux raid autodetect",
}

var errGPTChecksum = errors.New("GPT header checksum mismatch")

// readGPT looks for a GPT header at LBA 1 with 512- and 4096-byte sectors.
func readGPT(rd *reader) (*PartitionTable, error) {
	var firstErr error
	for _, ss := range []int64{512, 4096} {
		pt, err := readGPTAt(rd, ss)
		if pt != nil {
			return pt, nil
		}
		if firstErr == nil {
			firstErr = err
		}
	}
	return nil, firstErr
}

func readGPTAt(rd *reader, ss int64) (*PartitionTable, error) {
	h := rd.at(ss, int(ss))
	if h == nil || string(h[0:8]) != "EFI PART" {
		return nil, nil
	}
	hsize := le32(h, 12)
	if hsize < 92 || int64(hsize) > ss {
		return nil, fmt.Errorf("GPT header size %d is invalid", hsize)
	}
	hdr := append([]byte(nil), h[:hsize]...)
	want := le32(hdr, 16)
	hdr[16], hdr[17], hdr[18], hdr[19] = 0, 0, 0, 0
	if crc32.ChecksumIEEE(hdr) != want {
		return nil, errGPTChecksum
	}
	entLBA, num, esz := le64(h, 72), le32(h, 80), le32(h, 84)
	if esz < 128 || esz%8 != 0 || uint64(num)*uint64(esz) > maxGPTEntriesBytes {
		return nil, fmt.Errorf("GPT partition entries (%d of %d bytes) are invalid", num, esz)
	}
	off := mul(entLBA, uint64(ss))
	if off < 0 {
		return nil, fmt.Errorf("GPT partition entries lie past the end of the image")
	}
	ents := rd.at(off, int(num*esz))
	if ents == nil {
		if rd.err != nil {
			return nil, rd.err
		}
		return nil, fmt.Errorf("GPT partition entries lie past the end of the image (truncated?)")
	}
	if crc32.ChecksumIEEE(ents) != le32(h, 88) {
		return nil, fmt.Errorf("GPT partition entries checksum mismatch")
	}
	pt := &PartitionTable{Type: "gpt", UUID: guidString(h[56:72]), SectorSize: int(ss)}
	for i := uint32(0); i < num; i++ {
		e := ents[i*esz : (i+1)*esz]
		if allZero(e[0:16]) {
			continue
		}
		first, last := le64(e, 32), le64(e, 40)
		if last < first {
			continue
		}
		start, end := mul(first, uint64(ss)), mul(last+1, uint64(ss))
		if start < 0 || end < 0 {
			continue
		}
		typ := guidString(e[0:16])
		pt.Partitions = append(pt.Partitions, Partition{
			Number: int(i) + 1, Start: start, Size: end - start,
			Type: typ, TypeName: gptTypes[typ], Name: utf16le(e[56:128]), UUID: guidString(e[16:32]),
		})
	}
	return pt, nil
}

// guidString formats a GPT GUID: the first three fields are little-endian.
func guidString(b []byte) string {
	return fmt.Sprintf("%08x-%04x-%04x-%x-%x", le32(b, 0), le16(b, 4), le16(b, 6), b[8:10], b[10:16])
}

func utf16le(b []byte) string {
	u := make([]uint16, 0, len(b)/2)
	for i := 0; i+1 < len(b); i += 2 {
		c := le16(b, i)
		if c == 0 {
			break
		}
		u = append(u, c)
	}
	return strings.ToValidUTF8(string(utf16.Decode(u)), "\uFFFD")
}

var gptTypes = map[string]string{
	"0fc63daf-8483-4772-8e79-3d69d8477de4": "Linux filesystem",
	"c12a7328-f81f-11d2-ba4b-00a0c93ec93b": "EFI System",
	"0657fd6d-a4ab-43c4-84e5-0933c84b4f4f": "Linux swap",
	"e6d6d379-f507-44c2-a23c-238f2a3df928": "Linux LVM",
	"ebd0a0a2-b9e5-4433-87c0-68b6b72699c7": "Microsoft basic data",
	"21686148-6449-6e6f-744e-656564454649": "BIOS boot",
	"4f68bce3-e8cd-4db1-96e7-fbcaf984b709": "Linux root (x86-64)",
	"933ac7e1-2eb4-4f13-b844-0e14e2aef915": "Linux home",
	"a19d880f-05fc-4d3b-a006-743f0f84911e": "Linux RAID",
}
