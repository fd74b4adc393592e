package erofs_test

import (
	"bytes"
	"fmt"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/erofs"
	"github.com/loops-cli/loops/blockloop/erofs/erofstest"
)

// fixture is a device (the image) and a tree description over it.
type fixture struct {
	dev  []byte
	root *erofs.Node
}

const (
	modeDir  = 0o040000
	modeReg  = 0o100000
	modeLink = 0o120000
	modeFifo = 0o010000
	modeChr  = 0o020000
)

var baseTime = time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)

func dir(name string, mode uint32, kids ...*erofs.Node) *erofs.Node {
	return &erofs.Node{Name: name, Mode: modeDir | mode, Mtime: baseTime, Children: kids}
}

// file is a regular file of the given extents.
func file(name string, xs ...erofs.Extent) *erofs.Node {
	var size int64
	for _, x := range xs {
		size += x.Length
	}
	return &erofs.Node{Name: name, Mode: modeReg | 0o644, Mtime: baseTime, Size: size, Extents: xs}
}

// fill writes a pattern into dev at off: each byte its offset's hash, so
// misplaced reads show.
func fill(dev []byte, off, n int64) {
	for i := off; i < off+n; i++ {
		dev[i] = byte(i*131 + i>>8*7 + 1)
	}
}

// nodeData is what a node's file should read as.
func nodeData(t testing.TB, n *erofs.Node, dev []byte, base int64) []byte {
	if n.Extents == nil {
		b := make([]byte, n.Size)
		if n.Size > 0 {
			if _, err := n.Data.ReadAt(b, 0); err != nil && err != io.EOF {
				t.Fatal(err)
			}
		}
		return b
	}
	var out []byte
	for _, x := range n.Extents {
		if x.Zero {
			out = append(out, make([]byte, x.Length)...)
			continue
		}
		out = append(out, dev[base+x.Offset:base+x.Offset+x.Length]...)
	}
	return out
}

// paths maps each path of the description ("" the root) to its node.
func paths(root *erofs.Node) map[string]*erofs.Node {
	out := map[string]*erofs.Node{"": root}
	var walk func(string, *erofs.Node)
	walk = func(p string, n *erofs.Node) {
		for _, k := range n.Children {
			out[p+"/"+k.Name] = k
			walk(p+"/"+k.Name, k)
		}
	}
	walk("", root)
	return out
}

// write writes the fixture's index with o (DeviceSize and Device filled in).
func (f *fixture) write(t testing.TB, o erofs.Options) ([]byte, erofs.Info) {
	t.Helper()
	o.DeviceSize = int64(len(f.dev))
	o.Device = bytes.NewReader(f.dev)
	var buf bytes.Buffer
	info, err := erofs.Write(&buf, f.root, o)
	if err != nil {
		t.Fatal(err)
	}
	if int64(buf.Len()) != info.Size || info.Size%int64(info.BlockSize) != 0 {
		t.Fatalf("wrote %d bytes, info says %d at %d-byte blocks", buf.Len(), info.Size, info.BlockSize)
	}
	return buf.Bytes(), info
}

// decoded is one file as the decoder reads it.
type decoded struct {
	nid      uint64
	mode     uint32
	uid, gid uint32
	nlink    uint32
	size     int64
	mtime    time.Time
	rdev     uint32
	target   string
	data     []byte
}

// decode reads the whole index back.
func decode(t testing.TB, index, dev []byte) map[string]decoded {
	t.Helper()
	fs, err := erofstest.Open(bytes.NewReader(index), int64(len(index)), bytes.NewReader(dev), int64(len(dev)))
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]decoded{}
	err = fs.Walk(func(e erofstest.Entry) error {
		d := decoded{nid: e.Nid, mode: e.Mode, uid: e.UID, gid: e.GID, nlink: e.Nlink, size: e.Size, mtime: e.Mtime, rdev: e.Rdev}
		switch e.Mode & 0o170000 {
		case modeReg:
			b, err := e.ReadAll()
			if err != nil {
				return err
			}
			d.data = b
		case modeLink:
			s, err := e.Target()
			if err != nil {
				return err
			}
			d.target = s
		}
		out[e.Path] = d
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// compare checks every decoded file against the description: the same
// names, attributes and bytes, hard links on one nid.
func compare(t testing.TB, f *fixture, got map[string]decoded, base int64) {
	t.Helper()
	want := paths(f.root)
	if len(got) != len(want) {
		t.Errorf("decoded %d names, described %d", len(got), len(want))
	}
	links := map[uint64]uint64{}
	for p, n := range want {
		g, ok := got[p]
		if !ok {
			t.Errorf("%s: missing", p)
			continue
		}
		checkAttr(t, p, n, shown{g.mode, g.uid, g.gid, g.nlink, g.nid, g.mtime}, links)
		switch n.Mode & 0o170000 {
		case modeReg:
			if w := nodeData(t, n, f.dev, base); !bytes.Equal(g.data, w) {
				t.Errorf("%s: %d bytes differ from the %d described (first at %d)", p, len(g.data), len(w), firstDiff(g.data, w))
			}
		case modeLink:
			if g.target != n.Target {
				t.Errorf("%s: target %q, want %q", p, g.target, n.Target)
			}
		}
	}
}

// shown is what stat shows of a file.
type shown struct {
	mode, uid, gid, nlink uint32
	ino                   uint64
	mtime                 time.Time
}

// checkAttr compares what both routes must show alike; links maps each
// hard link identity to the first inode seen with it.
func checkAttr(t testing.TB, p string, n *erofs.Node, s shown, links map[uint64]uint64) {
	t.Helper()
	if s.mode != n.Mode {
		t.Errorf("%s: mode %#o, want %#o", p, s.mode, n.Mode)
	}
	if s.uid != n.UID || s.gid != n.GID {
		t.Errorf("%s: owner %d:%d, want %d:%d", p, s.uid, s.gid, n.UID, n.GID)
	}
	if !s.mtime.Equal(n.Mtime) {
		t.Errorf("%s: mtime %v, want %v", p, s.mtime, n.Mtime)
	}
	if n.Nlink != 0 && s.nlink != n.Nlink {
		t.Errorf("%s: nlink %d, want %d", p, s.nlink, n.Nlink)
	}
	if n.Link != 0 {
		if ino, ok := links[n.Link]; ok && ino != s.ino {
			t.Errorf("%s: hard link on inode %d, others on %d", p, s.ino, ino)
		}
		links[n.Link] = s.ino
	}
}

func firstDiff(a, b []byte) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// mixed is a tree of everything the writer makes, over a 4 MiB device
// whose extents are aligned to align (512 makes 512-byte blocks).
func mixed(align int64) *fixture {
	dev := make([]byte, 8<<20)
	fill(dev, 0, int64(len(dev)))
	at := func(k int64) int64 { return k * align }
	var many []*erofs.Node
	for i := range 300 {
		n := file(fmt.Sprintf("file-%03d-%s", i, strings.Repeat("x", i%40)), erofs.Extent{Offset: at(int64(100 + i)), Length: int64(i*7 + 1)})
		many = append(many, n)
	}
	hard1 := file("hard1", erofs.Extent{Offset: at(50), Length: 999})
	hard1.Link = 77
	hard1.Nlink = 3
	hard2 := *hard1
	hard2.Name = "hard2"
	hard3 := *hard1
	hard3.Name = "hard3"
	ext := file("extended", erofs.Extent{Offset: at(60), Length: 3000})
	ext.UID, ext.GID, ext.Mtime = 100000, 70000, baseTime.Add(1234567*time.Nanosecond)
	old := file("old", erofs.Extent{Offset: at(70), Length: 10})
	old.Mtime = time.Date(1950, 1, 1, 0, 0, 0, 0, time.UTC)
	emb := &erofs.Node{Name: "embedded", Mode: modeReg | 0o600, UID: 1000, GID: 1000, Mtime: baseTime.Add(time.Hour),
		Size: 300, Data: bytes.NewReader(bytes.Repeat([]byte("embedded!"), 40)[:300])}
	bigEmb := &erofs.Node{Name: "embedded-big", Mode: modeReg | 0o644, Mtime: baseTime, Size: 5000,
		Data: bytes.NewReader(bytes.Repeat([]byte("0123456789abcdefg"), 400)[:5000])}
	unaligned := file("unaligned", erofs.Extent{Offset: at(80) + 3, Length: 7000})
	frag := file("fragmented",
		erofs.Extent{Offset: at(400), Length: 2 * align},
		erofs.Extent{Offset: at(900), Length: 4 * align},
		erofs.Extent{Offset: at(402), Length: align},
		erofs.Extent{Length: 8 * align, Zero: true},
		erofs.Extent{Offset: at(1000), Length: 100},
	)
	contiguous := file("contiguous", erofs.Extent{Offset: at(1200), Length: 3 * align}, erofs.Extent{Offset: at(1203), Length: 5*align + 17})
	sparse := file("sparse", erofs.Extent{Length: 1 << 20, Zero: true})
	midHole := file("mid-hole", erofs.Extent{Offset: at(1300), Length: align}, erofs.Extent{Length: align, Zero: true}, erofs.Extent{Offset: at(1302), Length: 5})
	empty := file("empty")
	group := file("group-read", erofs.Extent{Offset: at(95), Length: 20})
	group.Mode, group.UID, group.GID = modeReg|0o640, 1000, 65534
	last := file("at-the-end", erofs.Extent{Offset: int64(len(dev)) - 2*align, Length: 2 * align})
	root := dir("", 0o755,
		dir("sub", 0o700, many...),
		dir("deep", 0o755, dir("a", 0o755, dir("b", 0o750, file("leaf", erofs.Extent{Offset: at(90), Length: 1})))),
		dir("!first", 0o755), dir("#hash", 0o755), dir("-dash", 0o755),
		hard1, &hard2, &hard3, ext, old, emb, bigEmb, unaligned, frag, contiguous, sparse, midHole, empty, last, group,
		&erofs.Node{Name: "link", Mode: modeLink | 0o777, Mtime: baseTime, Target: "sub/file-001-x"},
		&erofs.Node{Name: "longlink", Mode: modeLink | 0o777, Mtime: baseTime, Target: strings.Repeat("d/", 1000) + "x"},
		&erofs.Node{Name: "fifo", Mode: modeFifo | 0o644, Mtime: baseTime},
		&erofs.Node{Name: "null", Mode: modeChr | 0o666, Mtime: baseTime, Rdev: 1<<8 | 3},
		&erofs.Node{Name: "setuid", Mode: modeReg | 0o4755, Mtime: baseTime, Size: 4, Data: strings.NewReader("#!/x")},
	)
	return &fixture{dev: dev, root: root}
}

// tempFile writes b to a file of t's temp dir.
func tempFile(t testing.TB, dir, name string, b []byte) string {
	t.Helper()
	p := dir + "/" + name
	if err := os.WriteFile(p, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}
