package fat

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

// memImage is an image in memory, for the fuzz targets; oob counts
// writes that did not fit.
type memImage struct {
	b   []byte
	oob int
}

func (m *memImage) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}

func (m *memImage) WriteAt(p []byte, off int64) (int, error) {
	if off < 0 || off+int64(len(p)) > int64(len(m.b)) {
		m.oob++
		return 0, syscall.ENOSPC
	}
	return copy(m.b[off:], p), nil
}

func (m *memImage) Sync() error { return nil }

// fuzzNames exercise 8.3-only names, case bits, long and UTF-8 names and
// "~1" aliases that collide.
var fuzzNames = []string{"a", "B.TXT", "readme.txt", "Long Name Here.data", "ünïcode ✓.txt", "x.tar.gz", "sub dir", "longname1.text", "longname2.text", "Mixed.Txt"}

// model is the tree the operations should leave: path -> content (nil for
// a directory).
type model map[string][]byte

func (m model) dirs() []string {
	out := []string{""}
	for p, c := range m {
		if c == nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (m model) files() []string {
	var out []string
	for p, c := range m {
		if c != nil {
			out = append(out, p)
		}
	}
	sort.Strings(out)
	return out
}

func (m model) empty(dir string) bool {
	for p := range m {
		if strings.HasPrefix(p, dir+"/") {
			return false
		}
	}
	return true
}

// fuzzDir finds directory p of the volume.
func fuzzDir(t *testing.T, v *Volume, p string) *Node {
	n := v.Root()
	for _, part := range strings.Split(p, "/") {
		if part == "" {
			continue
		}
		c, err := n.Lookup(part)
		if err != nil {
			t.Fatalf("lookup %s: %v", p, err)
		}
		n = c
	}
	return n
}

// runOps applies the operations data encodes to v and to a model, and
// returns the model.
func runOps(t *testing.T, v *Volume, data []byte) model {
	m := model{}
	next := func() int {
		if len(data) == 0 {
			return 0
		}
		b := data[0]
		data = data[1:]
		return int(b)
	}
	for steps := 0; len(data) > 0 && steps < 64; steps++ {
		op := next() % 8
		dirs, files := m.dirs(), m.files()
		d := dirs[next()%len(dirs)]
		name := fuzzNames[next()%len(fuzzNames)]
		p := strings.TrimPrefix(path.Join(d, name), "/")
		_, exists := m[p]
		switch op {
		case 0: // write a file
			if exists && m[p] == nil {
				continue
			}
			content := bytes.Repeat([]byte{byte(next())}, next()*41)
			dn := fuzzDir(t, v, d)
			n, err := dn.Lookup(name)
			if err != nil {
				n, err = dn.Create(name)
			} else {
				err = n.Truncate(0)
			}
			if err == nil {
				_, err = n.WriteAt(content, 0)
			}
			if err != nil {
				t.Fatalf("write %s: %v", p, err)
			}
			m[p] = content
		case 1, 2: // append, truncate
			if len(files) == 0 {
				continue
			}
			p = files[next()%len(files)]
			n := fuzzDir(t, v, p)
			var err error
			if op == 1 {
				add := bytes.Repeat([]byte{byte(next())}, next()*13)
				_, err = n.WriteAt(add, int64(len(m[p])))
				m[p] = append(m[p], add...)
			} else {
				size := next() * 29
				err = n.Truncate(int64(size))
				m[p] = append(m[p], make([]byte, max(0, size-len(m[p])))...)[:size]
			}
			if err != nil {
				t.Fatalf("op %d on %s: %v", op, p, err)
			}
		case 3: // mkdir
			_, err := fuzzDir(t, v, d).Mkdir(name)
			if exists != errors.Is(err, syscall.EEXIST) || (!exists && err != nil) {
				t.Fatalf("mkdir %s (exists %v): %v", p, exists, err)
			}
			if !exists {
				m[p] = nil
			}
		case 4, 5: // unlink, rmdir
			err := fuzzDir(t, v, d).Remove(name, op == 5)
			isDir := exists && m[p] == nil
			switch {
			case !exists:
				if !errors.Is(err, fs.ErrNotExist) {
					t.Fatalf("remove %s (absent): %v", p, err)
				}
			case isDir != (op == 5):
				if err == nil {
					t.Fatalf("remove %s as the wrong type succeeded", p)
				}
			case isDir && !m.empty(p):
				if !errors.Is(err, syscall.ENOTEMPTY) {
					t.Fatalf("rmdir %s (not empty): %v", p, err)
				}
			default:
				if err != nil {
					t.Fatalf("remove %s: %v", p, err)
				}
				delete(m, p)
			}
		case 6: // rename
			all := append(files, dirs[1:]...)
			if len(all) == 0 {
				continue
			}
			from := all[next()%len(all)]
			to := p
			if from == to || strings.HasPrefix(to+"/", from+"/") || (exists && (m[to] == nil || m[from] == nil)) {
				continue
			}
			err := v.Rename(fuzzDir(t, v, path.Dir("/"+from)), path.Base(from), fuzzDir(t, v, d), name, false)
			if err != nil {
				t.Fatalf("rename %s %s: %v", from, to, err)
			}
			for q, c := range m {
				if q == from || strings.HasPrefix(q, from+"/") {
					delete(m, q)
					m[to+strings.TrimPrefix(q, from)] = c
				}
			}
		case 7:
			if err := v.Sync(); err != nil {
				t.Fatal(err)
			}
		}
	}
	return m
}

// checkModel reads the image back with the reader and compares it with m.
func checkModel(t *testing.T, img []byte, m model) {
	f, err := Open(bytes.NewReader(img), int64(len(img)))
	if err != nil {
		t.Fatalf("reader: %v", err)
	}
	got := model{}
	var walk func(e *Entry, p string)
	walk = func(e *Entry, p string) {
		kids, err := e.Entries()
		if err != nil {
			t.Fatalf("list %s: %v", p, err)
		}
		for _, k := range kids {
			q := strings.TrimPrefix(p+"/"+k.Name, "/")
			if k.IsDir() {
				got[q] = nil
				walk(k, q)
				continue
			}
			b := make([]byte, k.Size)
			if _, err := k.ReaderAt().ReadAt(b, 0); err != nil && !errors.Is(err, io.EOF) {
				t.Fatalf("read %s: %v", q, err)
			}
			got[q] = b
		}
	}
	walk(f.Root(), "")
	for p, c := range m {
		g, ok := got[p]
		if !ok || (c == nil) != (g == nil) || !bytes.Equal(c, g) {
			t.Errorf("%s: image has %v %d bytes, model %d bytes (dir %v)", p, ok, len(g), len(c), c == nil)
		}
	}
	for p := range got {
		if _, ok := m[p]; !ok {
			t.Errorf("%s: in the image only", p)
		}
	}
}

// FuzzWriteOps: any sequence of operations on a FAT12 volume leaves an
// image the reader reads as the model of the tree says.
func FuzzWriteOps(f *testing.F) {
	base, err := os.ReadFile(mkfs(f, 4<<20, "-F", "12", "-n", "FUZZ"))
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte{0, 0, 0, 7, 3, 3, 0, 6, 0, 1, 0, 4, 0, 0, 0, 2, 0, 0, 9})
	f.Add([]byte{3, 0, 6, 0, 1, 1, 5, 100, 0, 1, 2, 0, 6, 1, 0, 0, 4, 0, 0, 5, 0, 6, 7})
	f.Add([]byte{0, 0, 3, 1, 200, 0, 0, 4, 1, 250, 6, 0, 0, 1, 7, 2, 1, 1, 33, 5, 0, 0, 0, 0, 9})
	f.Fuzz(func(t *testing.T, data []byte) {
		img := &memImage{b: append([]byte(nil), base...)}
		v, err := OpenVolume(img, int64(len(img.b)), VolumeOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := runOps(t, v, data)
		if err := v.Close(); err != nil {
			t.Fatal(err)
		}
		checkModel(t, img.b, m)
	})
}

// FuzzOpenVolume opens data, padded with zeros to 2 MiB, read-write, lists
// and reads every directory and file it can, makes a file and a directory
// in the root, removes a file, and closes: no panic, hang or write past
// the image. Seeds are FuzzOpen's (mkfs.vfat images).
func FuzzOpenVolume(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		img := &memImage{b: make([]byte, max(len(data), padTo))}
		copy(img.b, data)
		v, err := OpenVolume(img, int64(len(img.b)), VolumeOptions{})
		if err != nil {
			return
		}
		var walk func(n *Node, depth int)
		walk = func(n *Node, depth int) {
			kids, err := n.List()
			if err != nil || depth > 8 {
				return
			}
			buf := make([]byte, 4096)
			for _, k := range kids {
				if k.IsDir() {
					walk(k, depth+1)
					continue
				}
				k.ReadAt(buf, 0)
			}
		}
		walk(v.Root(), 0)
		if c, err := v.Root().Create("fuzz file.txt"); err == nil {
			c.WriteAt(bytes.Repeat([]byte{1}, 5000), 0)
			c.Truncate(100)
			v.Sync()
		}
		v.Root().Mkdir("fuzz dir")
		if kids, err := v.Root().List(); err == nil && len(kids) > 0 {
			v.Root().Remove(kids[0].Name(), kids[0].IsDir())
		}
		v.Close()
		if img.oob > 0 {
			t.Errorf("%d writes past the end of the image", img.oob)
		}
	})
}
