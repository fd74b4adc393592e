package udf

import (
	"io/fs"
	"sync"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

func TestCRC16(t *testing.T) {
	// CRC-16/XMODEM (CCITT, initial 0) of "123456789".
	if c := crc16([]byte("123456789")); c != 0x31C3 {
		t.Errorf("crc16 = %#04x", c)
	}
}

func TestCS0(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		want string
	}{
		{[]byte{8, 'a', 0xE9}, "aé"},
		{[]byte{254, 'a', 0xE9}, "aé"},
		{[]byte{16, 0x65, 0xE5, 0x67, 0x2C}, "日本"},
		{[]byte{255, 0, 'x', 0xD8, 0x3D, 0xDE, 0x00}, "x😀"},
		{[]byte{16, 0xD8, 0x3D, 0}, "\uFFFD"}, // unpaired surrogate, odd byte dropped
		{nil, ""},
	} {
		if got := decodeCS0(tc.in); got != tc.want {
			t.Errorf("decodeCS0(% x) = %q, want %q", tc.in, got, tc.want)
		}
	}
	// dstring: the last byte is the length used.
	d := make([]byte, 32)
	copy(d, []byte{8, 'L', 'B', 'L'})
	d[31] = 4
	if got := decodeDString(d); got != "LBL" {
		t.Errorf("dstring %q", got)
	}
	d[31] = 200 // past the field: cut to it
	if got := decodeDString(d); got != "LBL" {
		t.Errorf("dstring with a bad length %q", got)
	}
}

func TestTimestamp(t *testing.T) {
	// 2024-02-29 13:14:15.123456 at UTC+01:30 (type 1, offset 90 minutes).
	b := []byte{90, 0x10, 0xE8, 0x07, 2, 29, 13, 14, 15, 12, 34, 56}
	got := parseTimestamp(b)
	want := time.Date(2024, 2, 29, 13, 14, 15, 123456000, time.FixedZone("", 90*60))
	if !got.Equal(want) {
		t.Errorf("timestamp %v, want %v", got, want)
	}
	if _, off := got.Zone(); off != 90*60 {
		t.Errorf("zone offset %d", off)
	}
	// Offset -2047: not specified, read as UTC.
	b[0], b[1] = 0x01, 0x18
	if got := parseTimestamp(b); got.Location() != time.UTC {
		t.Errorf("unspecified zone: %v", got)
	}
	// Negative offset: -300 minutes.
	b[0], b[1] = 0xD4, 0x1E
	if _, off := parseTimestamp(b).Zone(); off != -300*60 {
		t.Errorf("negative offset %d", off)
	}
	if !parseTimestamp(make([]byte, 12)).IsZero() || !parseTimestamp([]byte{0, 0, 0xE8, 0x07, 13, 1, 0, 0, 0, 0, 0, 0}).IsZero() {
		t.Error("zero or invalid timestamps")
	}
}

func TestPermissions(t *testing.T) {
	// owner rwx (+chattr, delete), group r-x, other --x; setuid and sticky.
	p := uint32(0x1F<<10 | 0x05<<5 | 0x01)
	m := permToMode(p, icbSetuid|icbSticky)
	e := &Entry{Mode: m}
	if m.Perm() != 0o751 || m&fs.ModeSetuid == 0 || m&fs.ModeSticky == 0 || m&fs.ModeSetgid != 0 || e.UnixMode() != 0o105751 {
		t.Errorf("mode %v (%o)", m, e.UnixMode())
	}
	e.Mode = fs.ModeDir | permToMode(0x1F<<10, icbSetgid)
	if e.UnixMode() != 0o042700 {
		t.Errorf("dir mode %o", e.UnixMode())
	}
}

// TestConcurrent lists and reads one image from several goroutines (run it
// with -race).
func TestConcurrent(t *testing.T) {
	imgs, want := udfclientImages(t)
	f := openImage(t, imgs["hd-2048-2.01"], Options{})
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() { readkittest.Compare(t, want, walkFS(t, f), readkittest.Fields{}) })
	}
	wg.Wait()
}
