package ntfs

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/loops-cli/loops/blockloop/ntfs/ntfstest"
	"github.com/loops-cli/loops/internal/testkit"
)

// small is the 16 MiB FillSmall image, made once per package run.
var small struct {
	once sync.Once
	b    []byte
	err  error
}

func smallImage(t testing.TB) []byte {
	t.Helper()
	testkit.RequireRoot(t)
	testkit.Tool(t, "mkntfs")
	testkit.Tool(t, "ntfs-3g")
	small.once.Do(func() {
		dir, err := os.MkdirTemp("", "ntfs-small-")
		if err != nil {
			small.err = err
			return
		}
		defer os.RemoveAll(dir)
		img := filepath.Join(dir, "small.img")
		if small.err = ntfstest.BuildSmall(img, 16<<20); small.err == nil {
			small.b, small.err = os.ReadFile(img)
		}
	})
	if small.err != nil {
		t.Fatal(small.err)
	}
	return bytes.Clone(small.b)
}

func openBytes(b []byte) (*FS, error) { return Open(bytes.NewReader(b), int64(len(b))) }

func mustOpen(t *testing.T, b []byte) *FS {
	t.Helper()
	f, err := openBytes(b)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func mustLookup(t *testing.T, f *FS, p string) *Entry {
	t.Helper()
	e, err := f.Lookup(p)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

// readAll reads e's data whole.
func readAll(e *Entry) ([]byte, error) {
	b := make([]byte, e.Size)
	n, err := e.ReaderAt().ReadAt(b, 0)
	if err == io.EOF && int64(n) == e.Size {
		err = nil
	}
	return b[:n], err
}

// healthy checks that the files at paths still read.
func healthy(t *testing.T, f *FS, paths ...string) {
	t.Helper()
	for _, p := range paths {
		e := mustLookup(t, f, p)
		if _, err := readAll(e); err != nil {
			t.Errorf("%s: %v", p, err)
		}
	}
}

// dataAttr is the image offset of e's unnamed $DATA attribute.
func dataAttr(t *testing.T, f *FS, e *Entry) *attr {
	t.Helper()
	fr, err := f.loadFile(int64(e.Ino))
	if err != nil {
		t.Fatal(err)
	}
	a := findAttr(fr.all, atData, "")
	if a == nil {
		t.Fatalf("%s: no $DATA", e.Name)
	}
	return a
}

// notFixup fails the test when image offset off of record rec is one of
// the bytes the update sequence replaces (the patch would be undone).
func notFixup(t *testing.T, recOff, off int64) {
	t.Helper()
	if k := (off - recOff) % 512; k >= 510 {
		t.Fatalf("byte %d is under a fixup", off)
	}
}

func TestMFTMirror(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	want := walk(t, f)
	copy(b[f.mftLCN*f.clusterSize:], "JUNK")
	g := mustOpen(t, b)
	if !g.Info().MFTMirror {
		t.Error("Info.MFTMirror not set")
	}
	if d := ntfstest.Diff(want, walk(t, g), false); len(d) > 0 {
		t.Errorf("read through $MFTMirr: %s", strings.Join(d, "\n"))
	}
	copy(b[g.mirrLCN*g.clusterSize:], "JUNK")
	if _, err := openBytes(b); err == nil || !strings.Contains(err.Error(), "$MFTMirr") {
		t.Errorf("both copies damaged: %v", err)
	}
}

func TestHostileFixup(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	off := f.recordOffset(int64(mustLookup(t, f, "a.txt").Ino))
	b[off+510] ^= 0xFF
	g := mustOpen(t, b)
	var fe *FormatError
	for _, p := range []string{"a.txt", "hard.txt"} {
		err := mustLookup(t, g, p).DataErr()
		if !errors.As(err, &fe) || !strings.Contains(err.Error(), "update sequence") {
			t.Errorf("%s: DataErr %v", p, err)
		}
	}
	healthy(t, g, "plain.bin", "comp/text.txt", "many/file-399.txt")
}

func TestHostileRunPastVolume(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	e := mustLookup(t, f, "plain.bin")
	a := dataAttr(t, f, e)
	mp := a.off + int64(binary.LittleEndian.Uint16(b[a.off+0x20:]))
	h := b[mp]
	top := mp + int64(h&0xF) + int64(h>>4) // the LCN's most significant byte
	notFixup(t, f.recordOffset(int64(e.Ino)), top)
	b[top] = 0x7F
	g := mustOpen(t, b)
	err := mustLookup(t, g, "plain.bin").DataErr()
	if err == nil || !strings.Contains(err.Error(), "past the volume") {
		t.Errorf("DataErr %v", err)
	}
	healthy(t, g, "a.txt", "comp/text.txt")
}

func TestHostileAttrLength(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	e := mustLookup(t, f, "plain.bin")
	a := dataAttr(t, f, e)
	notFixup(t, f.recordOffset(int64(e.Ino)), a.off+4)
	binary.LittleEndian.PutUint32(b[a.off+4:], 0x7FF8)
	g := mustOpen(t, b)
	err := mustLookup(t, g, "plain.bin").DataErr()
	if err == nil || !strings.Contains(err.Error(), "overruns the record") {
		t.Errorf("DataErr %v", err)
	}
	healthy(t, g, "a.txt", "comp/text.txt")
}

// indexRoot is directory e's $INDEX_ROOT attribute.
func indexRoot(t *testing.T, f *FS, e *Entry) *attr {
	t.Helper()
	fr, err := f.loadFile(int64(e.Ino))
	if err != nil {
		t.Fatal(err)
	}
	return findAttr(fr.all, atIndexRoot, "$I30")
}

// subnodePointers are the image offsets of the subnode VCNs of the
// entries of directory e's index root.
func subnodePointers(t *testing.T, f *FS, b []byte, e *Entry) []int64 {
	t.Helper()
	ir := indexRoot(t, f, e)
	voff := ir.off + int64(binary.LittleEndian.Uint16(b[ir.off+0x14:]))
	h := voff + 0x10
	at := h + int64(binary.LittleEndian.Uint32(b[h:]))
	var out []int64
	for {
		n := int64(binary.LittleEndian.Uint16(b[at+8:]))
		flags := binary.LittleEndian.Uint16(b[at+12:])
		if flags&ieSubnode != 0 {
			out = append(out, at+n-8)
		}
		if flags&ieLast != 0 {
			return out
		}
		at += n
	}
}

func TestHostileIndexLoop(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	many := mustLookup(t, f, "many")
	subs := subnodePointers(t, f, b, many)
	if len(subs) == 0 {
		t.Fatal("the 400-entry directory's root has no subnode")
	}
	// The root's last subnode: make its first child pointer point back to
	// it (or, when the root has several, the second pointer to the first).
	if len(subs) >= 2 {
		notFixup(t, f.recordOffset(int64(many.Ino)), subs[1])
		copy(b[subs[1]:subs[1]+8], b[subs[0]:subs[0]+8])
	} else {
		vcn := int64(binary.LittleEndian.Uint64(b[subs[0]:]))
		fr, err := f.loadFile(int64(many.Ino))
		if err != nil {
			t.Fatal(err)
		}
		alloc, err := f.newStream(findAttr(fr.all, atIndexAlloc, "$I30"))
		if err != nil {
			t.Fatal(err)
		}
		blk := imageOffset(alloc.extents(), vcn*f.clusterSize)
		c := bytes.Clone(b[blk : blk+4096])
		if err := applyFixups(c, blk); err != nil {
			t.Fatal(err)
		}
		at := 0x18 + int64(binary.LittleEndian.Uint32(c[0x18:]))
		for {
			n := int64(binary.LittleEndian.Uint16(c[at+8:]))
			flags := binary.LittleEndian.Uint16(c[at+12:])
			if flags&ieSubnode != 0 && (at+n-8)%512 < 504 {
				binary.LittleEndian.PutUint64(b[blk+at+n-8:], uint64(vcn))
				break
			}
			if flags&ieLast != 0 {
				t.Fatal("the node below the root has no child pointer to patch")
			}
			at += n
		}
	}
	g := mustOpen(t, b)
	_, err := mustLookup(t, g, "many").Entries()
	if err == nil || !strings.Contains(err.Error(), "reached twice") {
		t.Errorf("Entries: %v", err)
	}
	healthy(t, g, "a.txt", "plain.bin")
}

func TestHostileIndexBlock(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	many := mustLookup(t, f, "many")
	fr, err := f.loadFile(int64(many.Ino))
	if err != nil {
		t.Fatal(err)
	}
	ia := findAttr(fr.all, atIndexAlloc, "$I30")
	if ia == nil || len(ia.runs) == 0 {
		t.Fatal("no index allocation")
	}
	blk := ia.runs[0].lcn * f.clusterSize // the block at VCN 0
	b[blk+0x10] = 77                      // its own VCN
	_, err = mustLookup(t, mustOpen(t, b), "many").Entries()
	if err == nil || !strings.Contains(err.Error(), "says it is VCN") {
		t.Errorf("a block with the wrong VCN: %v", err)
	}
	b[blk+0x10] = 0
	copy(b[blk:], "XXXX")
	_, err = mustLookup(t, mustOpen(t, b), "many").Entries()
	if err == nil || !strings.Contains(err.Error(), "INDX") {
		t.Errorf("a block without its signature: %v", err)
	}
}

func TestHostileLZNT1(t *testing.T) {
	b := smallImage(t)
	f := mustOpen(t, b)
	e := mustLookup(t, f, "comp/text.txt")
	if e.data == nil || e.data.unit == 0 {
		t.Fatalf("comp/text.txt is not compressed: %+v", e.data)
	}
	r := e.data.runs[0]
	if r.lcn < 0 || r.length >= e.data.unit {
		t.Fatalf("first run %+v: not a compressed unit", r)
	}
	binary.LittleEndian.PutUint16(b[r.lcn*f.clusterSize:], 0xBFFF) // a chunk longer than what is stored
	g := mustOpen(t, b)
	if _, err := readAll(mustLookup(t, g, "comp/text.txt")); !errors.Is(err, errLZNT1) {
		t.Errorf("read: %v", err)
	}
	healthy(t, g, "a.txt", "plain.bin")
}

// TestTruncated opens the image cut short at several places: an error or
// a tree whose broken files fail, never a panic or hang.
func TestTruncated(t *testing.T) {
	b := smallImage(t)
	for _, n := range []int{511, 4096, 1 << 20, 4 << 20, 8 << 20, 12 << 20} {
		f, err := openBytes(b[:n])
		if err != nil {
			continue
		}
		walkAll(f.Root())
	}
}
