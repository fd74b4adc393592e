package fat

import (
	"encoding/binary"
	"syscall"
)

// loadFAT reads the FAT in use into memory.
func (v *Volume) loadFAT() error {
	b := v.b
	n := (int64(b.clusters)+2)*int64(b.bits)/8 + 2
	n = min(n, b.fatBytes)
	v.raw = make([]byte, n)
	if err := v.read(v.raw, b.fatOff); err != nil {
		return err
	}
	v.val = make([]uint32, b.clusters+2)
	for c := uint32(2); c < uint32(len(v.val)); c++ {
		e := v.rawEntry(c)
		if b.bits == 32 {
			e &= 0x0FFFFFFF
		}
		v.val[c] = e
		if e == 0 {
			v.free++
		}
	}
	if !v.validCluster(v.hint) {
		v.hint = 2
	}
	return nil
}

func (v *Volume) validCluster(c uint32) bool { return c >= 2 && c <= v.b.clusters+1 }

// rawEntry is FAT entry c as written (FAT32's top four bits included).
func (v *Volume) rawEntry(c uint32) uint32 {
	r := v.raw
	switch v.b.bits {
	case 12:
		o := int(c) + int(c)/2
		x := uint32(r[o]) | uint32(r[o+1])<<8
		if c&1 != 0 {
			return x >> 4
		}
		return x & 0xFFF
	case 16:
		return uint32(binary.LittleEndian.Uint16(r[2*c:]))
	}
	return binary.LittleEndian.Uint32(r[4*c:])
}

// setRaw sets FAT entry c in the written copy (not yet on the image).
func (v *Volume) setRaw(c uint32, e uint32) {
	r := v.raw
	switch v.b.bits {
	case 12:
		o := int(c) + int(c)/2
		if c&1 != 0 {
			r[o] = r[o]&0x0F | byte(e<<4)
			r[o+1] = byte(e >> 4)
		} else {
			r[o] = byte(e)
			r[o+1] = r[o+1]&0xF0 | byte(e>>8)&0x0F
		}
	case 16:
		binary.LittleEndian.PutUint16(r[2*c:], uint16(e))
	default:
		old := binary.LittleEndian.Uint32(r[4*c:])
		binary.LittleEndian.PutUint32(r[4*c:], old&0xF0000000|e&0x0FFFFFFF)
	}
}

// entryBytes is the byte range of the FAT holding entries lo..hi.
func (v *Volume) entryBytes(lo, hi uint32) (int64, int64) {
	switch v.b.bits {
	case 12:
		return int64(lo) + int64(lo)/2, int64(hi) + int64(hi)/2 + 2
	case 16:
		return 2 * int64(lo), 2*int64(hi) + 2
	}
	return 4 * int64(lo), 4*int64(hi) + 4
}

// writeRaw writes the bytes of entries lo..hi to every FAT (the active one
// only when mirroring is off).
func (v *Volume) writeRaw(lo, hi uint32) error {
	a, z := v.entryBytes(lo, hi)
	z = min(z, int64(len(v.raw)))
	if !v.mirror {
		return v.write(v.raw[a:z], v.b.fatOff+a)
	}
	first := v.b.fatOff - v.activeIndex()*v.fatStride
	for i := 0; i < v.nfats; i++ {
		if err := v.write(v.raw[a:z], first+int64(i)*v.fatStride+a); err != nil {
			return err
		}
	}
	return nil
}

// activeIndex is the index of the FAT in use (0 unless mirroring is off).
func (v *Volume) activeIndex() int64 {
	if v.mirror {
		return 0
	}
	return int64(binary.LittleEndian.Uint16(v.bootSec[40:]) & 0x0F)
}

// onImage is FAT entry c as the image has it (FAT32's top bits dropped).
func (v *Volume) onImage(c uint32) uint32 {
	e := v.rawEntry(c)
	if v.b.bits == 32 {
		e &= 0x0FFFFFFF
	}
	return e
}

// eocValue is the end-of-chain mark written.
func (v *Volume) eocValue() uint32 {
	switch v.b.bits {
	case 12:
		return 0xFFF
	case 16:
		return 0xFFFF
	}
	return 0x0FFFFFFF
}

func (v *Volume) isEOC(e uint32) bool {
	switch v.b.bits {
	case 12:
		return e >= 0xFF8
	case 16:
		return e >= 0xFFF8
	}
	return e >= 0x0FFFFFF8
}

// flushEntries writes the entries of cs whose value differs from the
// image's, when keep says so, in as few writes as their spread allows.
func (v *Volume) flushEntries(cs []uint32, keep func(c, old, now uint32) bool) error {
	var lo, hi uint32
	have := false
	flush := func() error {
		if !have {
			return nil
		}
		have = false
		return v.writeRaw(lo, hi)
	}
	for _, c := range cs {
		old, now := v.onImage(c), v.val[c]
		if old == now || !keep(c, old, now) {
			continue
		}
		v.setRaw(c, now)
		if have && c >= lo && c <= hi+64 && c+64 >= lo {
			lo, hi = min(lo, c), max(hi, c)
			continue
		}
		if err := flush(); err != nil {
			return err
		}
		lo, hi, have = c, c, true
	}
	return flush()
}

// grows tells whether changing an entry from old to now only grows a
// chain: a free cluster taken, or an end of chain linked on.
func (v *Volume) grows(old, now uint32) bool {
	return old == 0 || (v.isEOC(old) && !v.isEOC(now) && now != 0)
}

// allocate takes n free clusters, after the cluster after (0: none)
// where they are free, else from the FSInfo hint on, and returns them.
// They are marked in memory only (end of chain); the caller links them.
func (v *Volume) allocate(n int, after uint32) ([]uint32, error) {
	if n == 0 {
		return nil, nil
	}
	if uint32(n) > v.free {
		return nil, errnoErr(syscall.ENOSPC, "%d clusters needed, %d free", n, v.free)
	}
	out := make([]uint32, 0, n)
	c := v.hint
	if after != 0 && v.validCluster(after+1) && v.val[after+1] == 0 && v.onImage(after+1) == 0 {
		c = after + 1
	}
	total := v.b.clusters
	for scanned := uint32(0); len(out) < n && scanned <= total; scanned++ {
		if !v.validCluster(c) {
			c = 2
		}
		if v.val[c] == 0 && v.onImage(c) == 0 {
			v.val[c] = v.eocValue()
			out = append(out, c)
			v.free--
		}
		c++
	}
	if len(out) < n {
		v.release(out)
		if len(v.pendingFree) > 0 {
			// Clusters freed since the last checkpoint: free them on the
			// image, then look again.
			if err := v.checkpoint(); err != nil {
				return nil, err
			}
			return v.allocate(n, after)
		}
		return nil, errnoErr(syscall.ENOSPC, "%d clusters needed, %d free", n, len(out))
	}
	v.hint = c
	if !v.validCluster(v.hint) {
		v.hint = 2
	}
	return out, nil
}

// release frees clusters in memory that the image never had allocated.
func (v *Volume) release(cs []uint32) {
	for _, c := range cs {
		if v.val[c] != 0 {
			v.val[c] = 0
			v.free++
		}
	}
}

// readChain follows the chain from start to its end, at most max clusters.
func (v *Volume) readChain(start uint32, max int64) ([]uint32, error) {
	var out []uint32
	c := start
	seen := map[uint32]bool{}
	for {
		if !v.validCluster(c) {
			return nil, formatErr(v.b.fatOff, "cluster chain from %d reaches cluster %d, outside 2..%d", start, c, v.b.clusters+1)
		}
		if seen[c] || int64(len(out)) >= max {
			return nil, formatErr(v.b.fatOff, "cluster chain from %d loops or is longer than %d clusters", start, max)
		}
		seen[c] = true
		out = append(out, c)
		e := v.val[c]
		if v.isEOC(e) {
			return out, nil
		}
		if e == 0 {
			return nil, formatErr(v.b.fatOff, "cluster chain from %d meets free cluster %d", start, c)
		}
		c = e
	}
}

// clusterOff is the byte offset in the image of cluster c.
func (v *Volume) clusterOff(c uint32) int64 {
	return v.b.dataOff + int64(c-2)*v.b.clusterSize
}

// zeroClusters writes zeros over clusters cs (a new directory's).
func (v *Volume) zeroClusters(cs []uint32) error {
	z := make([]byte, v.b.clusterSize)
	for _, c := range cs {
		if err := v.write(z, v.clusterOff(c)); err != nil {
			return err
		}
	}
	return nil
}

// checkSize refuses a cluster count a file cannot have.
func (v *Volume) checkChainLen(n int64) error {
	if n > int64(v.b.clusters) {
		return errnoErr(syscall.ENOSPC, "%d clusters needed, the volume has %d", n, v.b.clusters)
	}
	return nil
}
