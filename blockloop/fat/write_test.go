package fat

import (
	"bytes"
	"errors"
	"fmt"
	"math/rand"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"

	"github.com/loops-cli/loops/blockloop/fat/fattest"
	"github.com/loops-cli/loops/blockloop/readkit/readkittest"
)

// openVolume opens img read-write; the file is closed at cleanup.
func openVolume(t testing.TB, img string) *Volume {
	t.Helper()
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.Close() })
	st, _ := f.Stat()
	v, err := OpenVolume(f, st.Size(), VolumeOptions{})
	if err != nil {
		t.Fatalf("open %s read-write: %v", img, err)
	}
	return v
}

// mirror applies the same changes to a volume and to a host tree.
type mirror struct {
	t    testing.TB
	v    *Volume
	host string
}

func (m *mirror) dir(p string) *Node {
	m.t.Helper()
	n := m.v.Root()
	for _, part := range strings.Split(strings.Trim(p, "/"), "/") {
		if part == "" || part == "." {
			continue
		}
		c, err := n.Lookup(part)
		if err != nil {
			m.t.Fatalf("lookup %s in %s: %v", part, p, err)
		}
		n = c
	}
	return n
}

func (m *mirror) write(p string, data []byte) {
	m.t.Helper()
	d := m.dir(path.Dir(p))
	n, err := d.Lookup(path.Base(p))
	if err != nil {
		if n, err = d.Create(path.Base(p)); err != nil {
			m.t.Fatalf("create %s: %v", p, err)
		}
	} else if err := n.Truncate(0); err != nil {
		m.t.Fatalf("truncate %s: %v", p, err)
	}
	if _, err := n.WriteAt(data, 0); err != nil {
		m.t.Fatalf("write %s: %v", p, err)
	}
	if err := os.WriteFile(filepath.Join(m.host, p), data, 0o644); err != nil {
		m.t.Fatal(err)
	}
}

func (m *mirror) appendTo(p string, data []byte) {
	m.t.Helper()
	n := m.dir(p)
	if _, err := n.WriteAt(data, n.Stat().Size); err != nil {
		m.t.Fatalf("append %s: %v", p, err)
	}
	f, _ := os.OpenFile(filepath.Join(m.host, p), os.O_APPEND|os.O_WRONLY, 0)
	f.Write(data)
	f.Close()
}

func (m *mirror) mkdir(p string) {
	m.t.Helper()
	if _, err := m.dir(path.Dir(p)).Mkdir(path.Base(p)); err != nil {
		m.t.Fatalf("mkdir %s: %v", p, err)
	}
	os.Mkdir(filepath.Join(m.host, p), 0o755)
}

func (m *mirror) remove(p string, dir bool) {
	m.t.Helper()
	if err := m.dir(path.Dir(p)).Remove(path.Base(p), dir); err != nil {
		m.t.Fatalf("remove %s: %v", p, err)
	}
	os.Remove(filepath.Join(m.host, p))
}

func (m *mirror) rename(from, to string) {
	m.t.Helper()
	if err := m.v.Rename(m.dir(path.Dir(from)), path.Base(from), m.dir(path.Dir(to)), path.Base(to), false); err != nil {
		m.t.Fatalf("rename %s %s: %v", from, to, err)
	}
	if err := os.Rename(filepath.Join(m.host, from), filepath.Join(m.host, to)); err != nil {
		m.t.Fatal(err)
	}
}

func (m *mirror) truncate(p string, size int64) {
	m.t.Helper()
	if err := m.dir(p).Truncate(size); err != nil {
		m.t.Fatalf("truncate %s: %v", p, err)
	}
	os.Truncate(filepath.Join(m.host, p), size)
}

// check closes the volume and compares the image, read by mtools and by
// the reader, with the host tree; fsck.fat must find it clean.
func (m *mirror) check(img string) {
	m.t.Helper()
	if err := m.v.Close(); err != nil {
		m.t.Fatalf("close: %v", err)
	}
	fattest.FsckClean(m.t, img, 0, 0)
	want := readkittest.HostTree(m.t, m.host)
	m.t.Logf("%d paths compared", len(want))
	readkittest.Compare(m.t, want, fattest.MtoolsTree(m.t, img, 0), readkittest.Fields{})
	readkittest.Compare(m.t, want, walkFS(m.t, openImage(m.t, img)), readkittest.Fields{})
}

func TestWriteEdits(t *testing.T) {
	for _, bits := range []string{"12", "16", "32"} {
		t.Run("fat"+bits, func(t *testing.T) {
			size := map[string]int64{"12": 4 << 20, "16": 24 << 20, "32": 40 << 20}[bits]
			img := mkfs(t, size, "-F", bits, "-n", "EDITS")
			m := &mirror{t: t, v: openVolume(t, img), host: t.TempDir()}
			m.write("cmdline.txt", []byte("console=serial0,115200 root=PARTUUID=1234-02 rootwait\n"))
			m.write("config.txt", bytes.Repeat([]byte("dtparam=audio=on\n"), 300))
			m.write("ssh", nil)
			m.write("README", []byte("upper 8.3\n"))
			m.write("Mixed.Txt", []byte("mixed\n"))
			m.write("unicodé 日本語 name.txt", []byte("utf-8\n"))
			m.write("a very long file name that does not fit in eight dot three.data", bytes.Repeat([]byte{7}, 5000))
			m.mkdir("overlays")
			m.mkdir("overlays/Deeper Dir")
			for i := 0; i < 150; i++ {
				m.write(fmt.Sprintf("overlays/Overlay File %03d.dtbo", i), bytes.Repeat([]byte{byte(i)}, i*37))
			}
			m.appendTo("cmdline.txt", []byte(" quiet\n"))
			m.write("config.txt", []byte("short\n"))
			m.remove("README", false)
			m.rename("Mixed.Txt", "overlays/Deeper Dir/moved.txt")
			m.rename("overlays/Overlay File 007.dtbo", "overlays/Overlay File 008.dtbo")
			m.rename("overlays/Deeper Dir", "Deeper Dir")
			m.truncate("a very long file name that does not fit in eight dot three.data", 1000)
			m.truncate("ssh", 10000)
			m.mkdir("gone")
			m.remove("gone", true)
			m.check(img)
		})
	}
}

func TestWriteShortNames(t *testing.T) {
	img := mkfs(t, 4<<20, "-F", "12")
	v := openVolume(t, img)
	d := v.Root()
	for _, c := range []struct {
		name, short string
		nt          uint8
	}{
		{"readme.txt", "README  TXT", 0x18},
		{"README.TXT", "", 0},
		{"UPPER.TXT", "UPPER   TXT", 0},
		{"lower", "LOWER      ", 0x08},
		{"Mixed.txt", "MIXED   TXT", 0},
		{"a long name.txt", "ALONGN~1TXT", 0},
		{"A Long Name.txt", "", 0},
		{"a long nam2.txt", "ALONGN~2TXT", 0},
		{"x.tar.gz", "XTAR~1  GZ ", 0},
		{"foo[1].c", "FOO_1_~1C  ", 0},
		{".bashrc", "BASHRC~1   ", 0},
	} {
		n, err := d.Create(c.name)
		if c.short == "" {
			if !errors.Is(err, syscall.EEXIST) {
				t.Errorf("%s: %v, want EEXIST", c.name, err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		if got := string(n.de.name[:]); got != c.short || n.de.ntCase != c.nt {
			t.Errorf("%s: 8.3 %q case %#x, want %q %#x", c.name, got, n.de.ntCase, c.short, c.nt)
		}
	}
	for i := 3; i < 12; i++ {
		if _, err := d.Create(fmt.Sprintf("a long nam%d.txt", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := v.Close(); err != nil {
		t.Fatal(err)
	}
	fattest.FsckClean(t, img, 0, 0)
}

// TestWriteRootFull: a FAT12 root directory of 512 entries takes no more
// (ENOSPC, ErrRootFull), and the volume stays clean.
func TestWriteRootFull(t *testing.T) {
	img := mkfs(t, 4<<20, "-F", "12")
	v := openVolume(t, img)
	var err error
	for i := 0; i < 600 && err == nil; i++ {
		_, err = v.Root().Create(fmt.Sprintf("F%d", i))
	}
	if !errors.Is(err, syscall.ENOSPC) || !errors.Is(err, ErrRootFull) {
		t.Errorf("root full: %v", err)
	}
	v.Close()
	fattest.FsckClean(t, img, 0, 0)
}

// TestWriteVolumeFull: writing past the free clusters fails ENOSPC; what
// was written stays, the volume clean.
func TestWriteVolumeFull(t *testing.T) {
	img := mkfs(t, 4<<20, "-F", "12")
	v := openVolume(t, img)
	n, _ := v.Root().Create("big")
	buf := bytes.Repeat([]byte{1}, 64<<10)
	var err error
	var off int64
	for err == nil {
		_, err = n.WriteAt(buf, off)
		if err == nil {
			off += int64(len(buf))
		}
	}
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("full: %v", err)
	}
	if _, free := v.Clusters(); free*uint32(v.ClusterSize()) >= uint32(len(buf)) {
		t.Errorf("%d clusters still free", free)
	}
	v.Close()
	fattest.FsckClean(t, img, 0, 0)
	e, err := openImage(t, img).Lookup("big")
	if err != nil || e.Size != off {
		t.Errorf("big: %v, size %v want %d", err, e, off)
	}
}

// TestWriteDirtyBit: the volume is dirty while open, clean after Close.
func TestWriteDirtyBit(t *testing.T) {
	img := mkfs(t, 24<<20, "-F", "16")
	v := openVolume(t, img)
	if v.WasDirty() {
		t.Error("fresh volume dirty")
	}
	lines, ok := fattest.Fsck(t, img, 0, 0)
	if ok || !strings.Contains(strings.Join(lines, "\n"), "Dirty bit") {
		t.Errorf("open volume: fsck says %v %q, want the dirty bit", ok, lines)
	}
	v.Close()
	fattest.FsckClean(t, img, 0, 0)
	v = openVolume(t, img)
	if v.WasDirty() {
		t.Error("dirty after a clean close")
	}
	v.Close()
}

// TestWriteRandom: random operations against a host tree.
func TestWriteRandom(t *testing.T) {
	img := mkfs(t, 24<<20, "-F", "16", "-s", "1")
	m := &mirror{t: t, v: openVolume(t, img), host: t.TempDir()}
	rnd := rand.New(rand.NewSource(7))
	var files, dirs []string
	dirs = append(dirs, "")
	for i := 0; i < 400; i++ {
		switch op := rnd.Intn(10); {
		case op < 4 || len(files) == 0:
			p := path.Join(dirs[rnd.Intn(len(dirs))], fmt.Sprintf("File %d é.bin", i))
			m.write(p, bytes.Repeat([]byte{byte(i)}, rnd.Intn(20000)))
			files = append(files, p)
		case op < 5:
			p := path.Join(dirs[rnd.Intn(len(dirs))], fmt.Sprintf("d%d", i))
			m.mkdir(p)
			dirs = append(dirs, p)
		case op < 6:
			k := rnd.Intn(len(files))
			m.remove(files[k], false)
			files = append(files[:k], files[k+1:]...)
		case op < 7:
			k := rnd.Intn(len(files))
			to := path.Join(dirs[rnd.Intn(len(dirs))], fmt.Sprintf("Renamed %d.txt", i))
			m.rename(files[k], to)
			files[k] = to
		case op < 8:
			m.truncate(files[rnd.Intn(len(files))], int64(rnd.Intn(30000)))
		default:
			m.appendTo(files[rnd.Intn(len(files))], bytes.Repeat([]byte{byte(i)}, rnd.Intn(5000)))
		}
	}
	m.check(img)
}

// lockedImage is an image file whose writes and snapshots exclude each
// other (the race detector sees a snapshot taken while a file is written).
type lockedImage struct {
	mu sync.Mutex
	f  *os.File
}

func (l *lockedImage) ReadAt(p []byte, off int64) (int, error) { return l.f.ReadAt(p, off) }
func (l *lockedImage) WriteAt(p []byte, off int64) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.f.WriteAt(p, off)
}
func (l *lockedImage) Sync() error { return nil }

func (l *lockedImage) snapshot(t *testing.T, to string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, err := os.ReadFile(l.f.Name())
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(to, b, 0o644)
}

// TestWriteSyncWhileWriting: while one file grows and a directory fills
// (growing into new clusters), the volume is synced
// (what another file's fsync does) and the image copied, again and again:
// every copy is consistent for fsck.fat (only the dirty mark), so a server
// killed at any of those points leaves nothing worse.
func TestWriteSyncWhileWriting(t *testing.T) {
	img := mkfs(t, 24<<20, "-F", "16", "-s", "1")
	f, err := os.OpenFile(img, os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	li := &lockedImage{f: f}
	v, err := OpenVolume(li, 24<<20, VolumeOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n, _ := v.Root().Create("growing.bin")
	sub, _ := v.Root().Mkdir("Growing Directory")
	filled := make(chan struct{})
	go func() {
		defer close(filled)
		for i := 0; i < 400; i++ {
			c, err := sub.Create(fmt.Sprintf("A File With A Long Name Number %d.txt", i))
			if err != nil {
				t.Error(err)
				return
			}
			c.WriteAt([]byte("x"), 0)
		}
	}()
	done := make(chan struct{})
	go func() {
		defer close(done)
		chunk := bytes.Repeat([]byte{3}, 7000)
		for i := 0; i < 1500; i++ {
			if _, err := n.WriteAt(chunk, int64(i*len(chunk))); err != nil {
				t.Error(err)
				return
			}
		}
	}()
	snap := filepath.Join(t.TempDir(), "snap.img")
	for i := 0; i < 12; i++ {
		if err := v.Sync(); err != nil {
			t.Fatal(err)
		}
		li.snapshot(t, snap)
		lines, _ := fattest.Fsck(t, snap, 0, 0)
		for _, l := range lines {
			if !strings.Contains(l, "Dirty bit") && !strings.Contains(l, "dirty bit") && !strings.Contains(l, "Leaving filesystem unchanged") {
				t.Errorf("snapshot %d: fsck.fat -n: %q", i, l)
			}
		}
	}
	<-done
	<-filled
	v.Close()
	fattest.FsckClean(t, img, 0, 0)
}
