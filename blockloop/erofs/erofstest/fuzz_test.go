package erofstest_test

import (
	"bytes"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/erofs"
	"github.com/loops-cli/loops/blockloop/erofs/erofstest"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzDecode feeds hostile indexes (seeded with ones the writer wrote) to
// the decoder over a fixed device: no panic, no hang, bounded memory.
//
//	go test -run '^$' -fuzz FuzzDecode -fuzztime 30s ./blockloop/erofs/erofstest/
func FuzzDecode(f *testing.F) {
	dev := make([]byte, 64<<10)
	for i := range dev {
		dev[i] = byte(i * 7)
	}
	for _, bs := range []int{512, 2048} {
		f.Add(seedIndex(f, dev, bs))
	}
	erofstest.MaxData = 1 << 20
	f.Fuzz(func(t *testing.T, index []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		fs, err := erofstest.Open(bytes.NewReader(index), int64(len(index)), bytes.NewReader(dev), int64(len(dev)))
		if err != nil {
			return
		}
		fs.Walk(func(e erofstest.Entry) error {
			if e.Mode&0o170000 == 0o100000 {
				e.ReadAll()
			}
			return nil
		})
	})
}

// seedIndex writes a small index of every kind of inode.
func seedIndex(t testing.TB, dev []byte, bs int) []byte {
	t.Helper()
	mt := time.Unix(1700000000, 0)
	reg := func(name string, xs ...erofs.Extent) *erofs.Node {
		n := &erofs.Node{Name: name, Mode: 0o100644, Mtime: mt, Extents: xs}
		for _, x := range xs {
			n.Size += x.Length
		}
		return n
	}
	root := &erofs.Node{Mode: 0o40755, Mtime: mt, Children: []*erofs.Node{
		{Name: "d", Mode: 0o40700, Mtime: mt, UID: 70000, Children: []*erofs.Node{reg("flat", erofs.Extent{Offset: 4096, Length: 5000})}},
		reg("chunks", erofs.Extent{Offset: 8192, Length: 2048}, erofs.Extent{Length: 2048, Zero: true}, erofs.Extent{Offset: 2048, Length: 10}),
		reg("copied", erofs.Extent{Offset: 3, Length: 700}),
		{Name: "l", Mode: 0o120777, Mtime: mt, Target: "d/flat"},
		{Name: "f", Mode: 0o10644, Mtime: mt.Add(time.Millisecond)},
	}}
	var buf bytes.Buffer
	if _, err := erofs.Write(&buf, root, erofs.Options{DeviceSize: int64(len(dev)), Device: bytes.NewReader(dev), BlockSize: bs}); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}
