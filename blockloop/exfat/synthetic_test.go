package exfat

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strings"
	"testing"
	"time"
)

// bigVolume is a 6 GiB sparse volume (4 KiB clusters) holding:
//
//	big.bin      4.5 GiB + 100 bytes, NoFatChain, markers at 0, 4 GiB+5, end-5
//	frag.bin     10000 bytes over 3 non-contiguous clusters, 6000 valid
//	Sub Dir/     3 clusters, NoFatChain, 100 empty files
//	Émile.txt    a name the up-case table folds; modified with a UTC offset
//	bad.txt      a set with a wrong SetChecksum (skipped)
//	deleted.txt  a deleted set (skipped)
//	after.txt    after them
type bigVolume struct {
	b                    *builder
	img                  *sparseImage
	bigCl, fragCl, subCl uint32
	fragCls              []uint32
	root                 []byte
	sets                 map[string]int // offset of each set in root
}

const bigSize = 4<<30 + 4<<28 + 100

func makeBigVolume(t testing.TB, patch func(v *bigVolume)) *bigVolume {
	b := newBuilder(6<<30, 9, 3)
	v := &bigVolume{b: b, sets: map[string]int{}}
	cs := b.clusterSize()
	v.bigCl = b.alloc(bigSize)
	for _, at := range []int64{0, 4<<30 + 5, bigSize - 5} {
		b.img.write(b.clusterOff(v.bigCl)+at, []byte("MARK!"))
	}
	// frag.bin: clusters c, c+2, c+4 chained.
	c := b.alloc(5 * cs)
	v.fragCls = []uint32{c, c + 2, c + 4}
	b.fat[c], b.fat[c+2], b.fat[c+4] = c+2, c+4, 0xFFFFFFFF
	for i, k := range v.fragCls {
		b.img.write(b.clusterOff(k), bytes.Repeat([]byte{byte('a' + i)}, int(cs)))
	}
	v.fragCl = c
	v.subCl = b.alloc(3 * cs)
	var sub []byte
	for i := 0; i < 100; i++ {
		sub = append(sub, fileEntry{name: fmt.Sprintf("file-%03d", i), attr: AttrArchive}.set()...)
	}
	b.img.write(b.clusterOff(v.subCl), sub)

	root := b.critical("Big Vol")
	add := func(e fileEntry) {
		v.sets[e.name] = len(root)
		root = append(root, e.set()...)
	}
	add(fileEntry{name: "big.bin", attr: AttrArchive, cluster: v.bigCl, length: bigSize, valid: bigSize, noFatChain: true})
	add(fileEntry{name: "frag.bin", attr: AttrArchive | AttrReadOnly, cluster: v.fragCl, length: 10000, valid: 6000})
	add(fileEntry{name: "Sub Dir", attr: AttrDir, cluster: v.subCl, length: uint64(3 * cs), valid: uint64(3 * cs), noFatChain: true})
	add(fileEntry{name: "Émile.txt", attr: AttrArchive, modified: ts(2020, 1, 2, 3, 4, 6), modified10: 150, modifiedTZ: 0x80 | 8})
	add(fileEntry{name: "bad.txt", attr: AttrArchive})
	root[v.sets["bad.txt"]+70] ^= 1 // a name character: the checksum no longer matches
	add(fileEntry{name: "deleted.txt", attr: AttrArchive})
	for i := v.sets["deleted.txt"]; i < len(root); i += 32 {
		root[i] &^= 0x80
	}
	add(fileEntry{name: "after.txt", attr: AttrArchive})
	v.root = root
	if patch != nil {
		patch(v)
	}
	v.img = b.finish(v.root)
	return v
}

func openSparse(t testing.TB, img *sparseImage, opts Options) (*FS, error) {
	return OpenOptions(img, img.size, opts)
}

func names(es []*Entry) string {
	var s []string
	for _, e := range es {
		s = append(s, e.Name)
	}
	return strings.Join(s, "|")
}

func TestSyntheticBig(t *testing.T) {
	v := makeBigVolume(t, nil)
	f, err := openSparse(t, v.img, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if f.Label() != "Big Vol" || f.Type() != "exfat" || f.ClusterSize() != 4096 || f.UpcaseErr() != nil || f.Serial() != 0x12345678 {
		t.Errorf("label %q type %s cluster %d upcase %v", f.Label(), f.Type(), f.ClusterSize(), f.UpcaseErr())
	}
	kids, err := f.Root().Entries()
	if got := names(kids); err != nil || got != "big.bin|frag.bin|Sub Dir|Émile.txt|after.txt" {
		t.Fatalf("root: %s %v", got, err)
	}
	big := kids[0]
	if big.Size != bigSize || len(big.Extents) != 1 || !big.noFatChain || big.DataErr() != nil {
		t.Fatalf("big.bin: %+v", big)
	}
	buf := make([]byte, 5)
	for _, at := range []int64{0, 4<<30 + 5, bigSize - 5} {
		if n, err := big.ReaderAt().ReadAt(buf, at); n != 5 || string(buf) != "MARK!" {
			t.Errorf("big.bin at %d: %q %v", at, buf[:n], err)
		}
	}
	if n, err := big.ReaderAt().ReadAt(make([]byte, 10), bigSize-5); n != 5 || err != io.EOF {
		t.Errorf("read over the end: %d %v", n, err)
	}

	frag := kids[1]
	if len(frag.Extents) != 2 || frag.ValidSize != 6000 || frag.Mode != 0o444 || frag.Attr != AttrArchive|AttrReadOnly {
		t.Errorf("frag.bin: %+v", frag)
	}
	got, err := io.ReadAll(io.NewSectionReader(frag.ReaderAt(), 0, frag.Size))
	want := append(append(bytes.Repeat([]byte("a"), 4096), bytes.Repeat([]byte("b"), 6000-4096)...), make([]byte, 4000)...)
	if err != nil || !bytes.Equal(got, want) {
		t.Errorf("frag.bin: %d bytes, equal %v, %v", len(got), bytes.Equal(got, want), err)
	}

	sub := kids[2]
	if !sub.IsDir() || sub.Size != 3*4096 || sub.UnixMode() != 0o40755 {
		t.Errorf("Sub Dir: %+v", sub)
	}
	sk, err := sub.Entries()
	if err != nil || len(sk) != 100 || sk[99].Name != "file-099" {
		t.Errorf("Sub Dir: %d entries, %v", len(sk), err)
	}

	// Case-insensitive lookups through the up-case table.
	for _, p := range []string{"ÉMILE.TXT", "émile.txt", "sub dir/FILE-042", "BIG.BIN"} {
		if _, err := f.Lookup(p); err != nil {
			t.Errorf("lookup %q: %v", p, err)
		}
	}
	if _, err := f.Lookup("bad.txt"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("bad.txt: %v", err)
	}
	e, _ := f.Lookup("émile.txt")
	wantT := time.Date(2020, 1, 2, 1, 4, 7, 500_000_000, time.UTC)
	if e == nil || !e.ModTime.Equal(wantT) {
		t.Errorf("Émile.txt mtime %v, want %v", e.ModTime, wantT)
	}
}

// TestHostile: broken chains fail that file only; broken boot regions,
// loops and limits give clear errors.
func TestHostile(t *testing.T) {
	setStream := func(v *bigVolume, name string, patch func(s []byte)) {
		off := v.sets[name]
		patch(v.root[off+32 : off+64])
		binary.LittleEndian.PutUint16(v.root[off+2:], setChecksum(v.root[off:off+32*(1+int(v.root[off+1]))]))
	}
	for _, tc := range []struct {
		name, file, want string
		patch            func(v *bigVolume)
	}{
		{"cycle", "frag.bin", "loops", func(v *bigVolume) { v.b.fat[v.fragCls[1]] = v.fragCls[0] }},
		{"self", "frag.bin", "loops", func(v *bigVolume) { v.b.fat[v.fragCls[0]] = v.fragCls[0] }},
		{"past the end", "frag.bin", "outside", func(v *bigVolume) { v.b.fat[v.fragCls[1]] = 0xFFFFFF00 }},
		{"free", "frag.bin", "outside", func(v *bigVolume) { v.b.fat[v.fragCls[1]] = 0 }},
		{"short", "frag.bin", "ends after 2", func(v *bigVolume) { v.b.fat[v.fragCls[1]] = 0xFFFFFFFF }},
		{"valid over length", "frag.bin", "valid data length", func(v *bigVolume) {
			setStream(v, "frag.bin", func(s []byte) { binary.LittleEndian.PutUint64(s[8:], 20000) })
		}},
		{"contiguous past the volume", "big.bin", "leave the volume", func(v *bigVolume) {
			setStream(v, "big.bin", func(s []byte) { binary.LittleEndian.PutUint64(s[24:], 1<<40) })
		}},
		{"huge", "big.bin", "valid data length", func(v *bigVolume) {
			setStream(v, "big.bin", func(s []byte) { binary.LittleEndian.PutUint64(s[24:], 1<<63) })
		}},
		{"dir is the root", "Sub Dir", "", func(v *bigVolume) {
			setStream(v, "Sub Dir", func(s []byte) { binary.LittleEndian.PutUint32(s[20:], v.b.root) })
		}},
		{"dir chain loop", "Sub Dir", "loops", func(v *bigVolume) {
			setStream(v, "Sub Dir", func(s []byte) { s[1] &^= flagNoChain })
			v.b.fat[v.subCl], v.b.fat[v.subCl+1] = v.subCl+1, v.subCl
		}},
		{"dir odd size", "Sub Dir", "directory Sub Dir of 100 bytes", func(v *bigVolume) {
			setStream(v, "Sub Dir", func(s []byte) {
				binary.LittleEndian.PutUint64(s[8:], 100)
				binary.LittleEndian.PutUint64(s[24:], 100)
			})
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			v := makeBigVolume(t, tc.patch)
			f, err := openSparse(t, v.img, Options{})
			if err != nil {
				t.Fatal(err)
			}
			e, err := f.Lookup(tc.file)
			if tc.want == "" {
				if !errors.Is(err, fs.ErrNotExist) {
					t.Errorf("%s: %v, want it left out", tc.file, err)
				}
			} else {
				if err != nil {
					t.Fatal(err)
				}
				err = e.DataErr()
				if err == nil && e.IsDir() {
					_, err = e.Entries()
				}
				if err == nil || !strings.Contains(err.Error(), tc.want) {
					t.Errorf("%s: %v, want %q", tc.file, err, tc.want)
				}
				if !e.IsDir() {
					if _, rerr := e.ReaderAt().ReadAt(make([]byte, 1), 0); rerr == nil {
						t.Error("read of a broken file succeeded")
					}
				}
			}
			for _, p := range []string{"big.bin", "frag.bin", "Sub Dir/file-050", "émile.txt", "after.txt"} {
				if strings.HasPrefix(p, tc.file) {
					continue
				}
				e, err := f.Lookup(p)
				if err != nil || e.DataErr() != nil {
					t.Errorf("%s: %v %v", p, err, e.DataErr())
					continue
				}
				if e.Size == 0 {
					continue
				}
				if _, err := e.ReaderAt().ReadAt(make([]byte, min(e.Size, 100)), 0); err != nil {
					t.Errorf("%s: %v", p, err)
				}
			}
		})
	}
}

func TestBootRegion(t *testing.T) {
	v := makeBigVolume(t, nil)
	// A bad main boot region: the backup serves.
	v.img.write(100, []byte{0xFF})
	f, err := openSparse(t, v.img, Options{})
	if err != nil || !f.boot.backup {
		t.Fatalf("backup boot region: %v", err)
	}
	// Both bad.
	v.img.write(12*512+100, []byte{0xFF})
	_, err = openSparse(t, v.img, Options{})
	var fe *FormatError
	if !errors.As(err, &fe) || !strings.Contains(err.Error(), "checksum") {
		t.Errorf("both boot regions bad: %v", err)
	}
	for name, patch := range map[string]func(b []byte){
		"not exfat":     func(b []byte) { copy(b[3:], "NTFS    ") },
		"sector shift":  func(b []byte) { b[108] = 13 },
		"cluster shift": func(b []byte) { b[109] = 20 },
		"fats":          func(b []byte) { b[110] = 3 },
		"must be zero":  func(b []byte) { b[20] = 1 },
		"root cluster":  func(b []byte) { binary.LittleEndian.PutUint32(b[96:], 0xFFFFFFF0) },
		"cluster count": func(b []byte) { binary.LittleEndian.PutUint32(b[92:], 0xFFFFFFF0) },
		"fat length":    func(b []byte) { binary.LittleEndian.PutUint32(b[84:], 1) },
		"revision":      func(b []byte) { b[105] = 2 },
	} {
		b := make([]byte, 1<<20)
		img := newBuilder(1<<20, 9, 0).finish(nil)
		img.ReadAt(b, 0)
		patch(b)
		patch(b[12*512:]) // the backup too
		_, err := Open(bytes.NewReader(b), int64(len(b)))
		if err == nil {
			t.Errorf("%s: opened", name)
		}
		if name == "not exfat" && !errors.Is(err, ErrNotExFAT) {
			t.Errorf("%s: %v", name, err)
		}
		if name == "revision" && !errors.Is(err, errors.ErrUnsupported) {
			t.Errorf("%s: %v", name, err)
		}
	}
	if _, err := Open(bytes.NewReader(make([]byte, 4096)), 4096); !errors.Is(err, ErrNotExFAT) {
		t.Errorf("zeros: %v", err)
	}
}

func TestLimits(t *testing.T) {
	v := makeBigVolume(t, nil)
	f, err := openSparse(t, v.img, Options{Limits: Limits{MaxDirSize: 8192, MaxDirEntries: 50}})
	if err != nil {
		t.Fatal(err)
	}
	var le *LimitError
	if _, err := f.Lookup("Sub Dir/x"); !errors.As(err, &le) || le.Limit != "MaxDirSize" {
		t.Errorf("MaxDirSize: %v", err)
	}
	f, _ = openSparse(t, v.img, Options{Limits: Limits{MaxDirEntries: 50}})
	if _, err := f.Lookup("Sub Dir/x"); !errors.As(err, &le) || le.Limit != "MaxDirEntries" {
		t.Errorf("MaxDirEntries: %v", err)
	}
	if _, err := f.Lookup(strings.Repeat("a/", 2000)); !errors.As(err, &le) || le.Limit != "MaxDepth" {
		t.Errorf("MaxDepth: %v", err)
	}
}

func TestTimestamp(t *testing.T) {
	f := &FS{loc: time.UTC}
	got := f.timestamp(ts(2025, 12, 31, 23, 59, 58), 199, 0x80|0x7C) // -1 h
	if want := time.Date(2026, 1, 1, 0, 59, 59, 990_000_000, time.UTC); !got.Equal(want) {
		t.Errorf("%v, want %v", got, want)
	}
	if got := f.timestamp(0, 0, 0); !got.Equal(time.Date(1980, 1, 1, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("zero: %v", got)
	}
}
