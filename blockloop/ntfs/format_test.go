package ntfs

import (
	"bytes"
	"errors"
	"testing"
)

func TestDecodeRuns(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
		want []run
		bad  bool
	}{
		{"one run", []byte{0x21, 0x10, 0x00, 0x01, 0}, []run{{0, 0x100, 0x10}}, false},
		{"sparse then back", []byte{0x21, 0x08, 0x00, 0x02, 0x01, 0x04, 0x11, 0x02, 0xFE, 0}, []run{{0, 0x200, 8}, {8, -1, 4}, {12, 0x1FE, 2}}, false},
		{"negative delta", []byte{0x21, 0x01, 0x00, 0x10, 0x21, 0x01, 0x00, 0xF0, 0}, []run{{0, 0x1000, 1}, {1, 0, 1}}, false},
		{"LCN below zero", []byte{0x11, 0x01, 0x10, 0x11, 0x01, 0xE0, 0}, nil, true},
		{"no terminator", []byte{0x11, 0x01, 0x10}, nil, true},
		{"overrun", []byte{0x44, 0x01}, nil, true},
		{"zero length", []byte{0x11, 0x00, 0x10, 0}, nil, true},
		{"nine length bytes", []byte{0x19, 1, 1, 1, 1, 1, 1, 1, 1, 1, 1, 0}, nil, true},
	} {
		got, err := decodeRuns(tc.b, 0, 100)
		if tc.bad {
			if err == nil {
				t.Errorf("%s: no error, runs %v", tc.name, got)
			}
			continue
		}
		if err != nil || len(got) != len(tc.want) {
			t.Errorf("%s: %v, %v", tc.name, got, err)
			continue
		}
		for i := range got {
			if got[i] != tc.want[i] {
				t.Errorf("%s: run %d = %+v, want %+v", tc.name, i, got[i], tc.want[i])
			}
		}
	}
	var le *LimitError
	if _, err := decodeRuns(bytes.Repeat([]byte{0x11, 1, 1}, 10), 0, 5); !errors.As(err, &le) || le.Limit != "MaxRuns" {
		t.Errorf("6 runs with MaxRuns 5: %v", err)
	}
}

func TestLZNT1(t *testing.T) {
	// "abcabcabcabc": three literals, then a back reference of 9 bytes
	// (offset 3, at position 3: 12 length bits, token (3-1)<<12 | (9-3)).
	comp := []byte{0b00001000, 'a', 'b', 'c', 0x06, 0x20}
	chunk := append([]byte{byte(len(comp) - 1), 0xB0}, comp...)
	dst := make([]byte, 8192)
	if err := decompressLZNT1(dst, chunk); err != nil {
		t.Fatal(err)
	}
	if got := string(dst[:12]); got != "abcabcabcabc" || dst[12] != 0 {
		t.Errorf("got %q", dst[:16])
	}
	// A stored (uncompressed) chunk, then a compressed one: each fills 4 KiB.
	raw := bytes.Repeat([]byte("r"), 4096)
	two := append([]byte{0xFF, 0x3F}, raw...)
	two = append(two, chunk...)
	clear(dst)
	if err := decompressLZNT1(dst, two); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(dst[:4096], raw) || string(dst[4096:4108]) != "abcabcabcabc" {
		t.Errorf("two chunks: %q ... %q", dst[:8], dst[4096:4112])
	}
	for name, bad := range map[string][]byte{
		"reference before the start": {0x02, 0xB0, 0b00000001, 0x00, 0x10},
		"chunk past its data":        {0xFF, 0xBF, 0x00, 'a'},
		"expands past its unit":      append([]byte{0xFF, 0x3F}, bytes.Repeat([]byte("r"), 4096)...),
		"reference past the chunk":   {0x04, 0xB0, 0b00000010, 'a', 0xFF, 0x0F},
	} {
		small := make([]byte, 4096)
		if name != "expands past its unit" {
			small = make([]byte, 8192)
		} else {
			bad = append(bad, bad...)
		}
		if err := decompressLZNT1(small, bad); !errors.Is(err, errLZNT1) {
			t.Errorf("%s: %v", name, err)
		}
	}
}

func TestFixups(t *testing.T) {
	b := make([]byte, 1024)
	copy(b, "FILE")
	b[4], b[6] = 0x30, 3 // array at 0x30, 3 entries
	b[0x30], b[0x31] = 0x07, 0x00
	b[0x32], b[0x33] = 'x', 'y'
	b[0x34], b[0x35] = 'z', 'w'
	b[510], b[511], b[1022], b[1023] = 0x07, 0x00, 0x07, 0x00
	c := bytes.Clone(b)
	if err := applyFixups(c, 0); err != nil || string(c[510:512]) != "xy" || string(c[1022:]) != "zw" {
		t.Fatalf("fixups: %v %q %q", err, c[510:512], c[1022:])
	}
	b[1023] = 9
	var fe *FormatError
	if err := applyFixups(b, 4096); !errors.As(err, &fe) || fe.Offset != 4096+1022 {
		t.Errorf("torn record: %v", err)
	}
}

func TestParseBoot(t *testing.T) {
	good := func() []byte {
		b := make([]byte, 512)
		copy(b[3:], "NTFS    ")
		b[0x0B], b[0x0C], b[0x0D] = 0, 2, 8 // 512-byte sectors, 8 per cluster
		b[0x28], b[0x30], b[0x38] = 0x80, 4, 8
		b[0x29] = 0x10
		b[0x40], b[0x44] = 0xF6, 1 // 1 KiB records, 1-cluster index blocks
		b[510], b[511] = 0x55, 0xAA
		return b
	}
	bt, err := parseBoot(good())
	if err != nil || bt.clusterSize != 4096 || bt.recordSize != 1024 || bt.indexSize != 4096 {
		t.Fatalf("%+v %v", bt, err)
	}
	// Without the 0x55AA signature: read (TestNoBootSignature).
	nosig := good()
	nosig[510], nosig[511] = 0, 0
	if _, err := parseBoot(nosig); err != nil {
		t.Errorf("no signature: %v", err)
	}
	for name, mod := range map[string]func(b []byte){
		"no OEM name":   func(b []byte) { b[3] = 'X' },
		"sector 300":    func(b []byte) { b[0x0B], b[0x0C] = 0x2C, 1 },
		"3 per cluster": func(b []byte) { b[0x0D] = 3 },
		"record 3 KiB":  func(b []byte) { b[0x0D], b[0x40] = 1, 6 },
		"no MFT":        func(b []byte) { b[0x30] = 0 },
		"no sectors":    func(b []byte) { b[0x28], b[0x29] = 0, 0 },
		"2^40 clusters": func(b []byte) { b[0x0D] = 256 - 40 },
	} {
		b := good()
		mod(b)
		if _, err := parseBoot(b); !errors.Is(err, ErrNotNTFS) {
			t.Errorf("%s: %v", name, err)
		}
	}
}
