package probe

import "io"

// reader reads bounded ranges, remembering the first real I/O error. It
// reads the first headWindow bytes of the image, and the last tailWindow
// bytes (RAID signatures, backup superblocks), once each: probing reads
// dozens of small pieces, and a pread each would cost more than blkid.
type reader struct {
	r     io.ReaderAt
	size  int64
	err   error
	whole bool // a whole image, not a partition: firmware RAID metadata counts
	// windows: read the head and tail windows once and serve reads from
	// them (Probe); without, each read is a pread (ReadPartitions).
	windows bool

	head, tail         []byte
	headDone, tailDone bool
	tailOff            int64

	pt     *PartitionTable // read on first need, by coveredByPT
	ptDone bool
}

// coveredByPT tells whether [off, off+n) lies inside a partition of the
// image's partition table, as blkid's blkid_probe_is_covered_by_pt: an md
// 0.90 superblock or a ZFS label found there on the whole disk belongs to
// the partition, not to the disk. A table that does not fit the image
// covers nothing.
func (rd *reader) coveredByPT(off, n int64) bool {
	if !rd.whole {
		return false
	}
	if !rd.ptDone {
		rd.ptDone = true
		rd.pt, _ = ReadPartitions(rd.r, rd.size)
	}
	if rd.pt == nil {
		return false
	}
	for _, p := range rd.pt.Partitions {
		if p.Start/512+p.Size/512 > rd.size/512 {
			return false
		}
	}
	start, end := off/512, (off+n)/512
	for _, p := range rd.pt.Partitions {
		if start >= p.Start/512 && end <= p.Start/512+p.Size/512 {
			return true
		}
	}
	return false
}

const (
	headWindow = 256 << 10 // every superblock near the start, the xfs log scan
	tailWindow = 192 << 10 // md 0.90 (up to 128 KiB from the end), DDF, isw
)

func (rd *reader) load(off, n int64) []byte {
	if c, ok := rd.r.(*headCache); ok && off >= 0 && n <= int64(len(c.head))-off {
		return c.head[off : off+n : off+n] // shared, as at's windows are
	}
	b := make([]byte, n)
	got, err := rd.r.ReadAt(b, off)
	if int64(got) < n {
		if err != nil && err != io.EOF {
			rd.err = err
		}
		return nil
	}
	return b
}

// at returns n bytes at off, or nil when they lie (partly) past the end.
// The bytes may be shared with later calls: callers must not modify them.
func (rd *reader) at(off int64, n int) []byte {
	if off < 0 || n < 0 || off > rd.size || int64(n) > rd.size-off || rd.err != nil {
		return nil
	}
	end := off + int64(n)
	if !rd.windows {
		return rd.load(off, int64(n))
	}
	if end <= min(rd.size, headWindow) {
		if !rd.headDone {
			rd.headDone = true
			rd.head = rd.load(0, min(rd.size, headWindow))
		}
		if rd.head != nil {
			return rd.head[off:end:end]
		}
	}
	if t := max(0, rd.size-tailWindow); off >= t && rd.size > headWindow {
		if !rd.tailDone {
			rd.tailDone = true
			rd.tailOff = t
			rd.tail = rd.load(t, rd.size-t)
		}
		if rd.tail != nil {
			return rd.tail[off-rd.tailOff : end-rd.tailOff : end-rd.tailOff]
		}
	}
	if rd.err != nil {
		return nil
	}
	return rd.load(off, int64(n))
}

// atInto is at for a piece the caller is done with before its next
// atInto: a piece outside both windows is read into buf (len(buf) bytes)
// instead of a fresh slice, so a prober that scans several such pieces
// (ZFS's uberblock rings, 128 KiB each) faults in one buffer's pages, not
// one per piece.
func (rd *reader) atInto(buf []byte, off int64) []byte {
	n := int64(len(buf))
	if off < 0 || off > rd.size || n > rd.size-off || rd.err != nil {
		return nil
	}
	inHead := off+n <= min(rd.size, headWindow)
	inTail := off >= max(0, rd.size-tailWindow) && rd.size > headWindow
	if !rd.windows || inHead || inTail {
		return rd.at(off, len(buf))
	}
	got, err := rd.r.ReadAt(buf, off)
	if int64(got) < n {
		if err != nil && err != io.EOF {
			rd.err = err
		}
		return nil
	}
	return buf
}

func (rd *reader) has(off int64, magic string) bool {
	b := rd.at(off, len(magic))
	return b != nil && string(b) == magic
}
