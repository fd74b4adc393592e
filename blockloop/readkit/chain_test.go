package readkit

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

// heap32 is a volume of 8 clusters of 16 bytes at byte 64, chained by a
// FAT of 32-bit entries at byte 0 (entries 0..9, then padding).
func heap32(fat map[uint32]uint32) *ClusterHeap {
	img := make([]byte, 64+8*16)
	for c, v := range fat {
		binary.LittleEndian.PutUint32(img[c*4:], v)
	}
	h := &ClusterHeap{Format: "test", R: bytes.NewReader(img), Size: int64(len(img)),
		FATOff: 0, FATBytes: 40, HeapOff: 64, ClusterSize: 16, Clusters: 8,
		End: func(v uint32) bool { return v == 0xFFFFFFFF }}
	h.Next = func(n uint32) (uint32, error) { return h.Uint(int64(n)*4, 4) }
	return h
}

func TestClusterHeapChain(t *testing.T) {
	h := heap32(map[uint32]uint32{2: 3, 3: 4, 4: 7, 7: 0xFFFFFFFF, 5: 6, 6: 5, 8: 9, 9: 0})
	budget := int64(100)
	xs, n, err := h.Chain(2, -1, 8, 8, &budget)
	if err != nil || n != 64 || len(xs) != 2 || xs[0] != (Extent{Offset: 64, Length: 48}) || xs[1] != (Extent{Offset: 64 + 5*16, Length: 16}) {
		t.Errorf("chain from 2: %v, %d, %v", xs, n, err)
	}
	if budget != 96 {
		t.Errorf("budget left %d, want 96", budget)
	}
	if xs, n, err := h.Chain(2, 2, 2, 8, &budget); err != nil || n != 32 || len(xs) != 1 {
		t.Errorf("2 clusters from 2: %v, %d, %v", xs, n, err)
	}
	var fe *FormatError
	var le *LimitError
	for _, c := range []struct {
		name                      string
		start                     uint32
		want, maxClusters, maxExt int64
		budget                    int64
		limit                     string // "": a FormatError
	}{
		{"a loop", 5, -1, 8, 8, 100, ""},
		{"ends early", 2, 5, 5, 8, 100, ""},
		{"a free cluster in the chain", 8, -1, 8, 8, 100, ""},
		{"outside the volume", 10, -1, 8, 8, 100, ""},
		{"more than the volume", 2, 9, 9, 8, 100, ""},
		{"over the budget", 2, -1, 8, 8, 2, ""},
		{"over MaxExtents", 2, -1, 8, 1, 100, "MaxExtents"},
		{"over MaxDirSize", 2, -1, 2, 8, 100, "MaxDirSize"},
	} {
		b := c.budget
		_, _, err := h.Chain(c.start, c.want, c.maxClusters, c.maxExt, &b)
		switch {
		case c.limit == "" && !errors.As(err, &fe):
			t.Errorf("%s: %v, want a FormatError", c.name, err)
		case c.limit != "" && (!errors.As(err, &le) || le.Limit != c.limit):
			t.Errorf("%s: %v, want a LimitError of %s", c.name, err, c.limit)
		}
	}
}

func TestClusterHeapFAT(t *testing.T) {
	h := heap32(map[uint32]uint32{2: 0x01020304})
	if v, err := h.Uint(8, 4); err != nil || v != 0x01020304 {
		t.Errorf("Uint(8, 4) = %#x, %v", v, err)
	}
	if v, err := h.Uint(9, 2); err != nil || v != 0x0203 {
		t.Errorf("Uint(9, 2) = %#x, %v", v, err)
	}
	var fe *FormatError
	if _, err := h.Uint(38, 4); !errors.As(err, &fe) {
		t.Errorf("an entry past the FAT: %v", err)
	}
	h = heap32(nil)
	h.FATBytes, h.Size = 400, 100
	if _, err := h.Uint(120, 1); !errors.As(err, &fe) {
		t.Errorf("a FAT past the image: %v", err)
	}
	if !h.Valid(2) || !h.Valid(9) || h.Valid(1) || h.Valid(10) || h.Off(3) != 80 {
		t.Errorf("Valid/Off: %v %v %v %v %d", h.Valid(2), h.Valid(9), h.Valid(1), h.Valid(10), h.Off(3))
	}
}
