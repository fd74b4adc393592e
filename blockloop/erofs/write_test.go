package erofs_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/loops-cli/loops/blockloop/erofs"
	"github.com/loops-cli/loops/blockloop/erofs/erofstest"
)

// TestWriteDecode writes the mixed tree at each alignment and block size
// and reads every file back with the decoder.
func TestWriteDecode(t *testing.T) {
	for _, align := range []int64{512, 2048, 4096} {
		for _, bs := range []int{0, 512, 1024, 2048, 4096} {
			if bs > int(align) {
				continue
			}
			for _, compact := range []bool{false, true} {
				f := mixed(align)
				index, info := f.write(t, erofs.Options{BlockSize: bs, CompactMtime: compact, Label: "mixed"})
				if bs == 0 && info.BlockSize != int(align) {
					t.Errorf("align %d: chose %d-byte blocks", align, info.BlockSize)
				}
				if info.Copied != 4 { // embedded, embedded-big, unaligned, setuid
					t.Errorf("align %d bs %d: %d files copied, want 4", align, bs, info.Copied)
				}
				compare(t, f, decode(t, index, f.dev), 0)
			}
		}
	}
}

// TestBlockSizeChoice: the largest block size every extent allows.
func TestBlockSizeChoice(t *testing.T) {
	for _, c := range []struct {
		offset, length int64
		want           int
	}{
		{8192, 100, 4096}, {2048, 100, 2048}, {1024, 5000, 1024}, {512, 3, 512}, {513, 3, 4096}, // an unaligned file is copied at any size
		{4096, 4096*3 + 1, 4096}, {3 << 20, 1 << 20, 4096},
	} {
		f := &fixture{dev: make([]byte, 4<<20)}
		f.root = dir("", 0o755, file("a", erofs.Extent{Offset: c.offset, Length: c.length}),
			file("b", erofs.Extent{Offset: 1 << 20, Length: 4096}, erofs.Extent{Offset: 2 << 20, Length: 10}))
		_, info := f.write(t, erofs.Options{})
		if info.BlockSize != c.want {
			t.Errorf("extent at %d: %d-byte blocks, want %d", c.offset, info.BlockSize, c.want)
		}
		if c.offset == 513 && info.Copied != 1 {
			t.Errorf("an extent at 513: %d files copied, want 1", info.Copied)
		}
	}
}

// TestBlockSizeUnit: no block larger than the format's allocation unit
// (a file's last block must hold nothing of another file).
func TestBlockSizeUnit(t *testing.T) {
	f := &fixture{dev: make([]byte, 1<<20)}
	f.root = dir("", 0o755, file("a", erofs.Extent{Offset: 8192, Length: 100}), file("b", erofs.Extent{Offset: 8192 + 512, Length: 100}))
	if _, info := f.write(t, erofs.Options{}); info.BlockSize != 512 {
		t.Errorf("extents 512 apart: %d-byte blocks", info.BlockSize)
	}
	f.root = dir("", 0o755, file("a", erofs.Extent{Offset: 8192, Length: 100}), file("b", erofs.Extent{Offset: 16384, Length: 100}))
	for unit, want := range map[int]int{0: 4096, 1024: 1024, 2048: 2048, 512: 512} {
		if _, info := f.write(t, erofs.Options{Unit: unit}); info.BlockSize != want {
			t.Errorf("unit %d: %d-byte blocks, want %d", unit, info.BlockSize, want)
		}
	}
}

// TestPartitionOffset: extents count from Options.Offset.
func TestPartitionOffset(t *testing.T) {
	f := mixed(512)
	base := int64(1 << 20)
	f.dev = append(make([]byte, base), f.dev...)
	fill(f.dev, 0, base)
	for _, n := range paths(f.root) {
		if n.Name == "at-the-end" {
			n.Extents[0].Offset -= 0 // still within: the device grew at the front
		}
	}
	index, _ := f.write(t, erofs.Options{Offset: base})
	compare(t, f, decode(t, index, f.dev), base)
}

// TestNlinkCounted: nlink 0 counts the names and subdirectories.
func TestNlinkCounted(t *testing.T) {
	a := file("a", erofs.Extent{Offset: 0, Length: 1})
	a.Link = 5
	b := *a
	b.Name = "b"
	f := &fixture{dev: make([]byte, 4096), root: dir("", 0o755, a, &b, dir("d1", 0o755, dir("d2", 0o755)), dir("d3", 0o755))}
	index, _ := f.write(t, erofs.Options{})
	got := decode(t, index, f.dev)
	for p, want := range map[string]uint32{"": 4, "/a": 2, "/b": 2, "/d1": 3, "/d1/d2": 2, "/d3": 2} {
		if got[p].nlink != want {
			t.Errorf("%q: nlink %d, want %d", p, got[p].nlink, want)
		}
	}
}

// TestWriteRefuses: descriptions Write refuses, with the sentinel.
func TestWriteRefuses(t *testing.T) {
	ok := func() *erofs.Node { return file("f", erofs.Extent{Offset: 0, Length: 10}) }
	cyc := dir("loop", 0o755)
	cyc.Children = []*erofs.Node{cyc}
	for _, c := range []struct {
		name string
		root *erofs.Node
		o    erofs.Options
		want error
	}{
		{"root a file", ok(), erofs.Options{}, erofs.ErrInvalid},
		{"empty name", dir("", 0o755, file("")), erofs.Options{}, erofs.ErrInvalid},
		{"dot", dir("", 0o755, dir(".", 0o755)), erofs.Options{}, erofs.ErrInvalid},
		{"slash", dir("", 0o755, file("a/b")), erofs.Options{}, erofs.ErrInvalid},
		{"nul", dir("", 0o755, file("a\x00")), erofs.Options{}, erofs.ErrInvalid},
		{"long name", dir("", 0o755, file(strings.Repeat("n", 256))), erofs.Options{}, erofs.ErrInvalid},
		{"twice", dir("", 0o755, ok(), ok()), erofs.Options{}, erofs.ErrInvalid},
		{"cycle", dir("", 0o755, cyc), erofs.Options{}, erofs.ErrInvalid},
		{"no type", dir("", 0o755, &erofs.Node{Name: "x", Mode: 0o644}), erofs.Options{}, erofs.ErrInvalid},
		{"size without data", dir("", 0o755, &erofs.Node{Name: "x", Mode: modeReg, Size: 5}), erofs.Options{}, erofs.ErrInvalid},
		{"extents short", dir("", 0o755, &erofs.Node{Name: "x", Mode: modeReg, Size: 50, Extents: []erofs.Extent{{0, 10, false}}}), erofs.Options{}, erofs.ErrInvalid},
		{"negative", dir("", 0o755, file("x", erofs.Extent{Offset: -1, Length: 10})), erofs.Options{}, erofs.ErrInvalid},
		{"outside", dir("", 0o755, file("x", erofs.Extent{Offset: 4000, Length: 200})), erofs.Options{}, erofs.ErrOutside},
		{"outside by offset", dir("", 0o755, ok()), erofs.Options{Offset: 4090}, erofs.ErrOutside},
		{"empty link", dir("", 0o755, &erofs.Node{Name: "l", Mode: modeLink}), erofs.Options{}, erofs.ErrInvalid},
		{"dir with data", dir("", 0o755, &erofs.Node{Name: "d", Mode: modeDir, Extents: []erofs.Extent{{0, 1, false}}}), erofs.Options{}, erofs.ErrInvalid},
		{"link of two types", dir("", 0o755, &erofs.Node{Name: "a", Mode: modeFifo, Link: 1}, &erofs.Node{Name: "b", Mode: modeReg, Link: 1}), erofs.Options{}, erofs.ErrInvalid},
		{"block size", dir("", 0o755, ok()), erofs.Options{BlockSize: 8192}, erofs.ErrInvalid},
		{"copy limit", dir("", 0o755, file("u", erofs.Extent{Offset: 1, Length: 3000})), erofs.Options{MaxCopy: 100}, erofs.ErrTooLarge},
	} {
		o := c.o
		o.DeviceSize = 4096
		if o.Device == nil {
			o.Device = bytes.NewReader(make([]byte, 4096))
		}
		var buf bytes.Buffer
		_, err := erofs.Write(&buf, c.root, o)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: %v, want %v", c.name, err, c.want)
		}
		if err != nil && buf.Len() != 0 {
			t.Errorf("%s: %d bytes written before the error", c.name, buf.Len())
		}
	}
	// Without a device to copy from, unaligned data is refused.
	_, err := erofs.Write(&bytes.Buffer{}, dir("", 0o755, file("u", erofs.Extent{Offset: 1, Length: 30})), erofs.Options{DeviceSize: 4096})
	if !errors.Is(err, erofs.ErrNoDevice) {
		t.Errorf("unaligned without a device: %v", err)
	}
}

// TestManyFiles: a wide tree lays out within the root's 16-bit nid and
// decodes; the index stays small per file.
func TestManyFiles(t *testing.T) {
	f := &fixture{dev: make([]byte, 64<<20)}
	root := dir("", 0o755)
	for d := range 50 {
		sub := dir("dir"+strings.Repeat("d", d%7)+string(rune('a'+d%26))+strings.Repeat("0", d/26), 0o755)
		for i := range 400 {
			sub.Children = append(sub.Children, file("f"+strings.Repeat("0", i%3)+string(rune('a'+i%26))+string(rune('a'+i/26)),
				erofs.Extent{Offset: int64(d*400+i) * 2048, Length: 1000}))
		}
		root.Children = append(root.Children, sub)
	}
	f.root = root
	index, info := f.write(t, erofs.Options{CompactMtime: true})
	per := float64(len(index)) / 20050
	t.Logf("%d files: %d bytes of index at %d-byte blocks (%.0f B a file)", info.Inodes, len(index), info.BlockSize, per)
	if per > 120 {
		t.Errorf("%.0f bytes a file", per)
	}
	fs, err := erofstest.Open(bytes.NewReader(index), int64(len(index)), bytes.NewReader(f.dev), int64(len(f.dev)))
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	if err := fs.Walk(func(erofstest.Entry) error { n++; return nil }); err != nil {
		t.Fatal(err)
	}
	if n != 20051 {
		t.Errorf("walked %d names", n)
	}
}

// writeCounter counts the writes it is given.
type writeCounter struct {
	bytes.Buffer
	writes int
}

func (w *writeCounter) Write(p []byte) (int, error) {
	w.writes++
	return w.Buffer.Write(p)
}

// TestWriteSizes: a small index is one write; one with more than 4 MiB of
// copied data is written in 1 MiB pieces after its metadata, and reads
// back the same.
func TestWriteSizes(t *testing.T) {
	for _, c := range []struct {
		copied   int64
		atMost   int
		atLeast  int
		wantCopy int
	}{{7000, 1, 1, 1}, {6<<20 + 123, 9, 7, 1}} {
		f := &fixture{dev: make([]byte, 16<<20)}
		fill(f.dev, 0, int64(len(f.dev)))
		f.root = dir("", 0o755, file("aligned", erofs.Extent{Offset: 8 << 20, Length: 5000}),
			file("unaligned", erofs.Extent{Offset: 3, Length: c.copied}), dir("sub", 0o755, file("x", erofs.Extent{Offset: 4096, Length: 1})))
		var w writeCounter
		info, err := erofs.Write(&w, f.root, erofs.Options{DeviceSize: int64(len(f.dev)), Device: bytes.NewReader(f.dev)})
		if err != nil {
			t.Fatal(err)
		}
		if w.writes < c.atLeast || w.writes > c.atMost || int64(w.Len()) != info.Size || info.Copied != c.wantCopy {
			t.Errorf("%d bytes copied: %d writes of %d bytes (info: %d bytes, %d copied)", c.copied, w.writes, w.Len(), info.Size, info.Copied)
		}
		compare(t, f, decode(t, w.Bytes(), f.dev), 0)
	}
}
