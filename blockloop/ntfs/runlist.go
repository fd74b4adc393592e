package ntfs

import "fmt"

// run is a range of an attribute's clusters: VCNs vcn..vcn+length-1 are at
// LCNs lcn..; lcn is -1 for a sparse run (not stored: zeros).
type run struct {
	vcn, lcn, length int64
}

// decodeRuns decodes an attribute's mapping pairs b starting at VCN vcn:
// each pair is a header byte (low nibble: bytes of the length, high: bytes
// of the LCN delta; 0 ends the list), the length (unsigned) and the LCN
// relative to the previous run's (signed; absent for a sparse run). At most
// maxRuns runs; every length positive; no LCN negative (the check against
// the volume size is the caller's).
func decodeRuns(b []byte, vcn int64, maxRuns int) ([]run, error) {
	var runs []run
	lcn := int64(0)
	i := 0
	for {
		if i >= len(b) {
			return nil, fmt.Errorf("ntfs: run list not terminated within its %d bytes", len(b))
		}
		h := b[i]
		if h == 0 {
			return runs, nil
		}
		ln, lo := int(h&0x0F), int(h>>4)
		if ln == 0 || ln > 8 || lo > 8 || i+1+ln+lo > len(b) {
			return nil, fmt.Errorf("ntfs: run list entry %d: header 0x%02x overruns its %d bytes", len(runs), h, len(b))
		}
		length := int64(0)
		for k := ln - 1; k >= 0; k-- {
			length = length<<8 | int64(b[i+1+k])
		}
		if length <= 0 || length > 1<<48 {
			return nil, fmt.Errorf("ntfs: run list entry %d: length %d", len(runs), length)
		}
		r := run{vcn: vcn, lcn: -1, length: length}
		if lo > 0 {
			d := int64(int8(b[i+ln+lo])) // sign from the top byte
			for k := lo - 2; k >= 0; k-- {
				d = d<<8 | int64(b[i+1+ln+k])
			}
			lcn += d
			if lcn < 0 || lcn > 1<<48 {
				return nil, fmt.Errorf("ntfs: run list entry %d: LCN %d", len(runs), lcn)
			}
			r.lcn = lcn
		}
		if len(runs) >= maxRuns {
			return nil, limitErr(-1, "MaxRuns", int64(len(runs)+1), int64(maxRuns))
		}
		runs = append(runs, r)
		vcn += length
		if vcn > 1<<48 {
			return nil, fmt.Errorf("ntfs: run list reaches VCN %d", vcn)
		}
		i += 1 + ln + lo
	}
}

// runsLen is the number of clusters runs cover.
func runsLen(runs []run) int64 {
	n := int64(0)
	for _, r := range runs {
		n += r.length
	}
	return n
}
