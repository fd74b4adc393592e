package vpc

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"io"
	"os"
	"testing"
	"unicode/utf16"

	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

// The helpers the tests share with the other readers' are in disktest.

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// openFile opens an image file, the files it refers to relative to it.
func openFile(t testing.TB, path string) *Image {
	t.Helper()
	return disktest.OpenFile(t, path, func(r io.ReaderAt, size int64, other disktest.Opener) (*Image, error) {
		return Open(r, size, Options{Open: other})
	})
}

func isFormat(err error) bool {
	var fe *FormatError
	var le *LimitError
	return errors.As(err, &fe) || errors.As(err, &le)
}

// sealFooter writes the footer checksum of b (512 bytes).
func sealFooter(b []byte) {
	binary.BigEndian.PutUint32(b[64:], checksum(b[:FooterSize], 64))
}

// sealDyn writes the dynamic header checksum of h (1024 bytes).
func sealDyn(h []byte) {
	binary.BigEndian.PutUint32(h[36:], checksum(h[:DynHeaderSize], 36))
}

// child is a differencing image made by hand (qemu cannot make one).
type child struct {
	typ      uint32         // TypeDiff when 0
	footer   []byte         // a footer to start from (geometry, size, creator): a real image's
	parent   [16]byte       // the parent's UUID
	block    uint32         // block size
	entries  int            // BAT entries
	blocks   map[int][]byte // block index -> bitmap and data (bitmap padded + block bytes)
	locators [][2]string    // platform code, path
	name     string         // the parent's Unicode name
}

// bytes lays the image out: footer copy, dynamic header, BAT, locators,
// blocks, footer.
func (c child) bytes() []byte {
	be := binary.BigEndian
	f := append([]byte(nil), c.footer[:FooterSize]...)
	be.PutUint32(f[60:], TypeDiff)
	if c.typ != 0 {
		be.PutUint32(f[60:], c.typ)
	}
	be.PutUint64(f[16:], FooterSize)
	f[68] ^= 0x5a // a UUID of its own
	sealFooter(f)
	out := append([]byte(nil), f...)
	h := make([]byte, DynHeaderSize)
	copy(h, dynCookie)
	be.PutUint64(h[8:], 0xffffffffffffffff)
	batOff := int64(FooterSize + DynHeaderSize)
	be.PutUint64(h[16:], uint64(batOff))
	be.PutUint32(h[24:], 0x00010000)
	be.PutUint32(h[28:], uint32(c.entries))
	be.PutUint32(h[32:], c.block)
	copy(h[40:56], c.parent[:])
	for i, u := range utf16.Encode([]rune(c.name)) {
		be.PutUint16(h[64+2*i:], u)
	}
	batLen := (int64(c.entries)*4 + 511) &^ 511
	pos := batOff + batLen
	var locs []byte
	for i, l := range c.locators {
		u := utf16.Encode([]rune(l[1]))
		b := make([]byte, 512)
		for j, x := range u {
			binary.LittleEndian.PutUint16(b[2*j:], x)
		}
		e := h[576+24*i:]
		copy(e, l[0])
		be.PutUint32(e[4:], 512)
		be.PutUint32(e[8:], uint32(2*len(u)))
		be.PutUint64(e[16:], uint64(pos))
		locs = append(locs, b...)
		pos += 512
	}
	sealDyn(h)
	out = append(out, h...)
	bat := make([]byte, batLen)
	for i := range bat {
		bat[i] = 0xff
	}
	var data []byte
	for i := 0; i < c.entries; i++ {
		if b, ok := c.blocks[i]; ok {
			be.PutUint32(bat[4*i:], uint32((pos+int64(len(data)))/512))
			data = append(data, b...)
		}
	}
	out = append(out, bat...)
	out = append(out, locs...)
	out = append(out, data...)
	return append(out, f...)
}

// compareQemu is disktest.CompareQemu with the format named: qemu probes
// a fixed VHD (no footer copy at byte 0) as raw.
func compareQemu(t testing.TB, im *Image, img string) {
	t.Helper()
	out := testkit.Run(t, disktest.QemuImg(t), "info", "-f", "vpc", "--output=json", img)
	var v struct {
		VirtualSize int64 `json:"virtual-size"`
	}
	if err := json.Unmarshal([]byte(out), &v); err != nil {
		t.Fatalf("qemu-img info: %v\n%s", err, out)
	}
	if im.Size() != v.VirtualSize {
		t.Fatalf("Size %d, qemu-img info says %d", im.Size(), v.VirtualSize)
	}
	disktest.Compare(t, im, rawOf(t, img))
}

// rawOf is disktest.RawOf with the format named.
func rawOf(t testing.TB, img string) []byte {
	t.Helper()
	out := img + ".raw"
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "vpc", "-O", "raw", img, out)
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	os.Remove(out)
	return b
}
