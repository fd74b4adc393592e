// Package ntfstest makes NTFS images for the tests of the NTFS reader and
// its users: mkntfs makes the volume, ntfs-3g (through FUSE) fills it, and
// an `ntfs-3g -o ro` mount of the same image is the reference the reader
// is compared with. Needs root (FUSE mounts) and the ntfs-3g package.
package ntfstest

import (
	"bytes"
	"fmt"
	"math/rand"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Mkntfs makes an empty NTFS volume of size bytes in the file img, with
// `mkntfs -F -f -q -L label` and args (e.g. "-c", "8192").
func Mkntfs(img string, size int64, label string, args ...string) error {
	f, err := os.Create(img)
	if err != nil {
		return err
	}
	err = f.Truncate(size)
	f.Close()
	if err != nil {
		return err
	}
	return run("mkntfs", append(append([]string{"-F", "-f", "-q", "-L", label}, args...), img)...)
}

// Mount mounts img with ntfs-3g at dir (streams as user.* xattrs, plus
// opts, e.g. "ro"); the returned function unmounts it.
func Mount(img, dir string, opts ...string) (unmount func() error, err error) {
	o := strings.Join(append([]string{"streams_interface=xattr"}, opts...), ",")
	if err := run("ntfs-3g", "-o", o, img, dir); err != nil {
		return nil, err
	}
	return func() error {
		var err error
		for i := 0; i < 50; i++ {
			if err = run("fusermount", "-u", dir); err == nil {
				return nil
			}
			time.Sleep(100 * time.Millisecond)
		}
		return err
	}, nil
}

func run(name string, args ...string) error {
	out, err := exec.Command(name, args...).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, bytes.TrimSpace(out))
	}
	return nil
}

// Sizes of the rich tree.
const (
	SmallFiles = 2000
	BigDir     = 3000
	Data40     = 40 << 20
	Sparse1G   = 1 << 30
	Huge       = 5 << 30 // a sparse file past 4 GiB
)

// Build makes img (size bytes, mkntfs args) and fills it with Fill.
func Build(img string, size int64, label string, many bool, args ...string) error {
	if err := Mkntfs(img, size, label, args...); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(img), "fill-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	umount, err := Mount(img, dir)
	if err != nil {
		return err
	}
	ferr := Fill(dir, many)
	if err := umount(); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}

// Fill writes the test tree into dir, an ntfs-3g mount: small files (MFT
// resident ones among them; SmallFiles of them when many, else 60), a
// BigDir-entry directory (when many), a 40 MiB file, sparse files of 1 GiB
// and 5 GiB, a compressed directory, hard links, symbolic links (Interix,
// as ntfs-3g writes them, and NTFS reparse points: a symlink and a
// junction), Unicode names, names differing only in case, alternate data
// streams and an empty file.
func Fill(dir string, many bool) error {
	w := &writer{root: dir}
	rnd := rand.New(rand.NewSource(24))
	n := 60
	if many {
		n = SmallFiles
	}
	for i := 0; i < n; i++ {
		size := (i * 37) % 3000
		w.file(fmt.Sprintf("small/d%02d/f%04d.txt", i%20, i), pattern(i, size))
	}
	if many {
		for i := 0; i < BigDir; i++ {
			w.file(fmt.Sprintf("bigdir/entry-%04d-ä.dat", i), pattern(i, i%50))
		}
	}
	data := make([]byte, Data40)
	rnd.Read(data)
	w.file("data40.bin", data)
	w.sparse("sparse1g.bin", Sparse1G, map[int64]string{0: "start", 512 << 20: "middle", Sparse1G - 3: "end"})
	w.sparse("huge.bin", Huge, map[int64]string{4<<30 + 12345: "past 4 GiB", Huge - 4: "last"})
	w.file("empty", nil)

	// Compressed: the attribute set on the directory before its files.
	w.mkdir("compressed")
	w.setxattr("compressed", "system.ntfs_attrib_be", []byte{0, 0, 0x08, 0})
	w.file("compressed/text.txt", bytes.Repeat([]byte("compressible text, line after line\n"), 20000))
	rd := make([]byte, 200<<10+17)
	rnd.Read(rd)
	w.file("compressed/random.bin", rd)
	mixed := make([]byte, 3<<20)
	copy(mixed, bytes.Repeat([]byte("abcdefgh"), 40000))
	rnd.Read(mixed[2<<20 : 2<<20+70000])
	w.file("compressed/mixed.bin", mixed)
	w.file("compressed/tiny.txt", []byte("tiny\n"))
	w.sparse("compressed/holes.bin", 2<<20, map[int64]string{100: "x", 1<<20 + 5: "y"})

	// Links.
	w.file("links/a", []byte("linked file\n"))
	w.link("links/a", "links/b")
	w.link("links/a", "small/d00/hardlink")
	w.symlink("a", "links/rel")
	w.symlink("../compressed", "links/dirlink")
	w.symlink("/etc/hostname", "links/abs")
	w.symlink("nowhere", "links/dangling")
	w.file("reparse/target.txt", []byte("reparse target\n"))
	w.mkdir("reparse/tdir")
	w.file("reparse/winlink", nil)
	w.setxattr("reparse/winlink", "system.ntfs_reparse_data", symlinkReparse(`target.txt`, `target.txt`, true))
	w.mkdir("reparse/junction")
	w.setxattr("reparse/junction", "system.ntfs_reparse_data", junctionReparse(`\??\C:\reparse\tdir`, `C:\reparse\tdir`))
	w.mkdir("reparse/elsewhere")
	w.setxattr("reparse/elsewhere", "system.ntfs_reparse_data", junctionReparse(`\??\D:\Other\Place`, `D:\Other\Place`))

	// Names.
	w.file("unicode/日本語のファイル.txt", []byte("nihongo\n"))
	w.file("unicode/emoji 😀 surrogate.txt", []byte("emoji\n"))
	w.file("unicode/Ünïcödé Çàsè", []byte("accents\n"))
	w.file("case/readme", []byte("lower\n"))
	w.file("case/README", []byte("upper\n"))
	w.file("case/ReadMe", []byte("mixed\n"))
	w.file("deep/a/b/c/d/e/f/g/leaf.txt", []byte("deep\n"))

	// Alternate data streams.
	w.file("ads/file.txt", []byte("main stream\n"))
	w.setxattr("ads/file.txt", "user.small", []byte("a small stream"))
	big := make([]byte, 60<<10)
	rnd.Read(big)
	w.setxattr("ads/file.txt", "user.big", big)
	w.mkdir("ads/dir")
	w.setxattr("ads/dir", "user.ondir", []byte("a stream on a directory"))

	t := time.Date(2003, 4, 5, 6, 7, 8, 123456700, time.UTC)
	if w.err == nil {
		w.err = os.Chtimes(filepath.Join(dir, "links/a"), t, t)
	}
	return w.err
}

// pattern is size bytes of file i's content.
func pattern(i, size int) []byte {
	b := make([]byte, size)
	for k := range b {
		b[k] = byte('a' + (i+k)%26)
		if k%61 == 60 {
			b[k] = '\n'
		}
	}
	return b
}

// writer writes under root, keeping the first error.
type writer struct {
	root string
	err  error
}

func (w *writer) path(rel string) string { return filepath.Join(w.root, rel) }

func (w *writer) mkdir(rel string) {
	if w.err == nil {
		w.err = os.MkdirAll(w.path(rel), 0o755)
	}
}

func (w *writer) file(rel string, data []byte) {
	w.mkdir(filepath.Dir(rel))
	if w.err == nil {
		w.err = os.WriteFile(w.path(rel), data, 0o644)
	}
}

// sparse makes a file of size bytes holding only the strings at offsets.
func (w *writer) sparse(rel string, size int64, at map[int64]string) {
	w.mkdir(filepath.Dir(rel))
	if w.err != nil {
		return
	}
	f, err := os.Create(w.path(rel))
	if err != nil {
		w.err = err
		return
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		w.err = err
		return
	}
	for off, s := range at {
		if _, err := f.WriteAt([]byte(s), off); err != nil {
			w.err = err
			return
		}
	}
}

func (w *writer) link(old, rel string) {
	w.mkdir(filepath.Dir(rel))
	if w.err == nil {
		w.err = os.Link(w.path(old), w.path(rel))
	}
}

func (w *writer) symlink(target, rel string) {
	w.mkdir(filepath.Dir(rel))
	if w.err == nil {
		w.err = os.Symlink(target, w.path(rel))
	}
}

func (w *writer) setxattr(rel, name string, value []byte) {
	if w.err == nil {
		if err := unix.Setxattr(w.path(rel), name, value, 0); err != nil {
			w.err = fmt.Errorf("setxattr %s %s: %w", rel, name, err)
		}
	}
}

// utf16le encodes s as little-endian UTF-16.
func utf16le(s string) []byte {
	var b []byte
	for _, r := range s {
		if r >= 0x10000 {
			r -= 0x10000
			b = append(b, byte(0xD800+(r>>10)), byte((0xD800+(r>>10))>>8), byte(0xDC00+(r&0x3FF)), byte((0xDC00+(r&0x3FF))>>8))
			continue
		}
		b = append(b, byte(r), byte(r>>8))
	}
	return b
}

// symlinkReparse is an IO_REPARSE_TAG_SYMLINK reparse point.
func symlinkReparse(sub, print string, relative bool) []byte {
	s, p := utf16le(sub), utf16le(print)
	d := le16(nil, 0)
	d = le16(d, uint16(len(s)))
	d = le16(d, uint16(len(s)))
	d = le16(d, uint16(len(p)))
	flags := uint32(0)
	if relative {
		flags = 1
	}
	d = append(d, byte(flags), 0, 0, 0)
	d = append(append(d, s...), p...)
	return reparse(0xA000000C, d)
}

// junctionReparse is an IO_REPARSE_TAG_MOUNT_POINT reparse point.
func junctionReparse(sub, print string) []byte {
	s, p := utf16le(sub), utf16le(print)
	d := le16(nil, 0)
	d = le16(d, uint16(len(s)))
	d = le16(d, uint16(len(s)+2))
	d = le16(d, uint16(len(p)))
	d = append(append(append(d, s...), 0, 0), append(p, 0, 0)...)
	return reparse(0xA0000003, d)
}

func reparse(tag uint32, data []byte) []byte {
	b := []byte{byte(tag), byte(tag >> 8), byte(tag >> 16), byte(tag >> 24)}
	b = le16(b, uint16(len(data)))
	b = le16(b, 0)
	return append(b, data...)
}

func le16(b []byte, v uint16) []byte { return append(b, byte(v), byte(v>>8)) }

// FillSmall writes a small tree into dir, an ntfs-3g mount of a volume of
// a few MiB: a 400-entry directory (an index of several blocks below its
// root), a compressed file, a 200 KiB file, a hard link, a symlink and a
// stream.
func FillSmall(dir string) error {
	w := &writer{root: dir}
	for i := 0; i < 400; i++ {
		w.file(fmt.Sprintf("many/file-%03d.txt", i), pattern(i, i%40))
	}
	w.mkdir("comp")
	w.setxattr("comp", "system.ntfs_attrib_be", []byte{0, 0, 0x08, 0})
	w.file("comp/text.txt", bytes.Repeat([]byte("compressible text, line after line\n"), 4000))
	w.file("plain.bin", pattern(7, 200<<10))
	w.file("a.txt", []byte("hello\n"))
	w.link("a.txt", "hard.txt")
	w.symlink("a.txt", "sym")
	w.setxattr("a.txt", "user.s", []byte("stream"))
	return w.err
}

// BuildSmall makes img (size bytes) filled with FillSmall.
func BuildSmall(img string, size int64, args ...string) error {
	if err := Mkntfs(img, size, "SMALL", args...); err != nil {
		return err
	}
	dir, err := os.MkdirTemp(filepath.Dir(img), "fill-")
	if err != nil {
		return err
	}
	defer os.Remove(dir)
	umount, err := Mount(img, dir)
	if err != nil {
		return err
	}
	ferr := FillSmall(dir)
	if err := umount(); err != nil && ferr == nil {
		ferr = err
	}
	return ferr
}
