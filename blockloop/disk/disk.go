// Package disk opens a virtual machine disk image (qcow2, vmdk, vhdx, vdi,
// vpc) as one io.ReaderAt over its virtual disk, with the chain of backing
// files an overlay names. The formats are read by the sibling packages
// qcow2, vmdk, vhdx, vdi and vpc; this package picks one by magic, opens the
// files an image refers to (relative to the image's directory, read-only,
// a chain at most MaxDepth deep, cycles refused) and describes the result.
// It is what `loops mount disk.qcow2` serves to a loop device through
// FUSE, and what `loops block probe` reads to show what is inside.
package disk

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"syscall"

	"github.com/loops-cli/loops/blockloop/disk/codec"
	"github.com/loops-cli/loops/blockloop/disk/qcow2"
	"github.com/loops-cli/loops/blockloop/disk/vdi"
	"github.com/loops-cli/loops/blockloop/disk/vhdx"
	"github.com/loops-cli/loops/blockloop/disk/vmdk"
	"github.com/loops-cli/loops/blockloop/disk/vpc"
)

// MaxDepth bounds a chain of backing files (the image itself is 1).
const MaxDepth = 16

// ErrNotDisk is returned (wrapped) for a file of none of the formats.
var ErrNotDisk = errors.New("not a virtual machine disk image (qcow2, vmdk, vhdx, vdi, vpc)")

// ErrChain is matched by errors in a backing chain: too deep, a cycle, a
// file missing.
var ErrChain = errors.New("bad backing chain")

// ErrMissingCodec is matched by the error Open returns for an image whose
// compression this program has no decompressor for: zstd-compressed qcow2,
// unless blockloop/disk/codec/klauspost is linked in (loops' server links
// it; loops' CLI reads such images through the server). It is
// codec.ErrMissing.
var ErrMissingCodec = codec.ErrMissing

// Layer is one file of a disk: the image, or a file it refers to.
type Layer struct {
	Path        string // absolute
	Format      string // "qcow2", "vmdk", "vhdx", "vdi", "vpc", "raw"
	Variant     string // "v3", "streamOptimized", "dynamic", ...
	VirtualSize int64
	ClusterSize int64  // cluster, grain or block size; 0 when none
	Compression string // "zlib", "zstd", "deflate"; "" when none
	Parent      string // the name the layer gives its backing file or parent, as stored
	Warnings    []string
}

// Disk is an opened image: an io.ReaderAt over the virtual disk. Close
// closes every file of its chain.
type Disk struct {
	r      io.ReaderAt
	size   int64
	Layers []Layer // the image first, then each file it refers to, in the order opened
	files  []*os.File
	q      *qcow2.Image // the image, when it is qcow2 (for Span)
	closer io.Closer    // Remote's
}

// Remote is a Disk whose virtual disk, size bytes, is read through r: a
// reader of the image elsewhere (another process: package diskpipe), with
// the layers it reported. Close closes c.
func Remote(r io.ReaderAt, size int64, layers []Layer, c io.Closer) *Disk {
	return &Disk{r: r, size: size, Layers: layers, closer: c}
}

// Span tells where the virtual disk's bytes [off, off+n) are stored, when
// they are stored plainly and in one piece in the image file itself (an
// uncompressed qcow2 range): the file and the byte offset in it. A
// server can then hand the kernel that range to splice instead of
// copying it. ok is false otherwise.
func (d *Disk) Span(off, n int64) (f *os.File, at int64, ok bool) {
	if d.q == nil || n <= 0 {
		return nil, 0, false
	}
	ms, err := d.q.Map(off, n)
	if err != nil || len(ms) != 1 || ms[0].Kind != qcow2.Data || ms[0].Off != off || ms[0].Len < n {
		return nil, 0, false
	}
	return d.files[0], ms[0].Host, true
}

// Size is the virtual disk's size in bytes.
func (d *Disk) Size() int64 { return d.size }

// ReadAt reads the virtual disk. A read that ends exactly at the end
// returns nil, not io.EOF, whatever the format's reader says.
func (d *Disk) ReadAt(p []byte, off int64) (int, error) {
	n, err := d.r.ReadAt(p, off)
	if err == io.EOF && n == len(p) {
		err = nil
	}
	return n, err
}

// Format is the image's format ("qcow2").
func (d *Disk) Format() string { return d.Layers[0].Format }

// Close closes the files of the chain (a Remote disk's closer).
func (d *Disk) Close() error {
	var first error
	for _, f := range d.files {
		if err := f.Close(); err != nil && first == nil {
			first = err
		}
	}
	d.files = nil
	if d.closer != nil {
		first = d.closer.Close()
		d.closer = nil
	}
	return first
}

// Detect names the format of a file by its first bytes ("qcow2", ...), or
// "" for none of them. A fixed VHD has its footer at the end only: it is
// raw to Detect (as to qemu's probe); Open names it by its tail.
func Detect(header []byte) string {
	switch {
	case qcow2.Probe(header):
		return "qcow2"
	case vhdx.Probe(header):
		return "vhdx"
	case vdi.Probe(header):
		return "vdi"
	case vpc.Probe(header):
		return "vpc"
	case vmdk.Probe(header):
		return "vmdk"
	}
	return ""
}

// Open opens the image at path and every file it refers to, read-only.
// Needs read access to them only.
func Open(path string) (*Disk, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, err
	}
	d := &Disk{}
	o := &opener{d: d, seen: map[fileID]bool{}}
	r, size, err := o.open(abs, "", 1)
	if err != nil {
		d.Close()
		return nil, err
	}
	d.r, d.size = r, size
	return d, nil
}

type fileID struct{ dev, ino uint64 }

// opener opens the files of one chain.
type opener struct {
	d    *Disk
	seen map[fileID]bool
}

// open opens one file of the chain as format want ("" to detect; "raw"
// for a plain file), at depth.
func (o *opener) open(abs, want string, depth int) (io.ReaderAt, int64, error) {
	if depth > MaxDepth {
		return nil, 0, fmt.Errorf("%s: %w: more than %d files deep", abs, ErrChain, MaxDepth)
	}
	f, err := os.OpenFile(abs, os.O_RDONLY|syscall.O_CLOEXEC, 0)
	if err != nil {
		if depth > 1 {
			return nil, 0, fmt.Errorf("%w: %w", ErrChain, err)
		}
		return nil, 0, err
	}
	o.d.files = append(o.d.files, f)
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		return nil, 0, err
	}
	if st.Mode&syscall.S_IFMT != syscall.S_IFREG {
		return nil, 0, fmt.Errorf("%s is not a regular file", abs)
	}
	id := fileID{uint64(st.Dev), st.Ino}
	if o.seen[id] {
		return nil, 0, fmt.Errorf("%s: %w: the chain refers back to this file", abs, ErrChain)
	}
	o.seen[id] = true
	head := make([]byte, 4096)
	n, _ := f.ReadAt(head, 0)
	format := Detect(head[:n])
	if format == "" && want == "" && depth == 1 && fixedVHD(f, st.Size) {
		// Opened by name as a disk image: a fixed VHD's footer ends it.
		// (A backing file of no format stays raw, as qemu reads it.)
		format = "vpc"
	}
	switch {
	case want == "file":
		// A file another format reads itself (a vmdk extent or parent).
		o.d.Layers = append(o.d.Layers, Layer{Path: abs, Format: format})
		if format == "" && fixedVHD(f, st.Size) {
			o.d.Layers[len(o.d.Layers)-1].Format = "vpc"
		} else if format == "" {
			o.d.Layers[len(o.d.Layers)-1].Format = "raw"
		}
		return f, st.Size, nil
	case want == "raw":
		format = "raw"
	case format == "" && depth == 1:
		return nil, 0, fmt.Errorf("%s: %w", abs, ErrNotDisk)
	case format == "":
		format = "raw" // a backing file of no known format is raw, as qemu reads it
	case want != "" && want != format:
		return nil, 0, fmt.Errorf("%s: %w: named as %s, but it is %s", abs, ErrChain, want, format)
	}
	idx := len(o.d.Layers)
	o.d.Layers = append(o.d.Layers, Layer{Path: abs, Format: format})
	refer := func(name string) (string, error) {
		if name == "" || strings.ContainsRune(name, 0) {
			return "", fmt.Errorf("%s: %w: empty or invalid file name", abs, ErrChain)
		}
		if filepath.IsAbs(name) {
			return filepath.Clean(name), nil
		}
		return filepath.Join(filepath.Dir(abs), name), nil
	}
	// vmdk, vhdx, vdi and vpc read their extent and parent files themselves:
	// they get the files, not virtual disks.
	openOther := func(name string) (io.ReaderAt, int64, error) {
		p, err := refer(name)
		if err != nil {
			return nil, 0, err
		}
		return o.open(p, "file", depth+1)
	}
	return o.openFormat(f, st.Size, format, idx, refer, openOther, depth)
}

func (o *opener) openFormat(f *os.File, size int64, format string, idx int, refer func(string) (string, error),
	openOther func(string) (io.ReaderAt, int64, error), depth int) (io.ReaderAt, int64, error) {
	l := &o.d.Layers[idx]
	switch format {
	case "raw":
		l.VirtualSize = size
		return f, size, nil
	case "qcow2":
		im, err := qcow2.Open(f, size, qcow2.Options{Backing: func(name, fmtName string) (io.ReaderAt, int64, error) {
			p, err := refer(name)
			if err != nil {
				return nil, 0, err
			}
			return o.open(p, fmtName, depth+1)
		}})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		if idx == 0 {
			o.d.q = im
		}
		in := im.Info()
		l = &o.d.Layers[idx]
		l.Variant, l.VirtualSize, l.ClusterSize = fmt.Sprintf("v%d", in.Version), in.VirtualSize, in.ClusterSize
		l.Compression, l.Parent, l.Warnings = in.CompressionType, in.BackingFile, in.Warnings
		if in.ExtendedL2 {
			l.Variant += ", extended L2"
		}
		return im, im.Size(), nil
	case "vmdk":
		im, err := vmdk.Open(f, size, vmdk.Options{Open: openOther})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		in := im.Info()
		l = &o.d.Layers[idx]
		l.Variant, l.VirtualSize, l.ClusterSize, l.Parent, l.Warnings = in.Variant, in.VirtualSize, in.BlockSize, in.Parent, in.Warnings
		if in.Compressed {
			l.Compression = "deflate"
		}
		return im, im.Size(), nil
	case "vhdx":
		im, err := vhdx.Open(f, size, vhdx.Options{Open: openOther})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		in := im.Info()
		l = &o.d.Layers[idx]
		l.Variant, l.VirtualSize, l.ClusterSize, l.Parent, l.Warnings = in.Variant, in.VirtualSize, in.BlockSize, in.Parent, in.Warnings
		return im, im.Size(), nil
	case "vpc":
		im, err := vpc.Open(f, size, vpc.Options{Open: openOther})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		in := im.Info()
		l = &o.d.Layers[idx]
		l.Variant, l.VirtualSize, l.ClusterSize, l.Parent, l.Warnings = in.Variant, in.VirtualSize, in.BlockSize, in.Parent, in.Warnings
		return im, im.Size(), nil
	case "vdi":
		im, err := vdi.Open(f, size, vdi.Options{Open: func(uuid string) (io.ReaderAt, int64, error) {
			p, err := findVDI(filepath.Dir(f.Name()), uuid)
			if err != nil {
				return nil, 0, err
			}
			return o.open(p, "file", depth+1)
		}})
		if err != nil {
			return nil, 0, fmt.Errorf("%s: %w", f.Name(), err)
		}
		in := im.Info()
		l = &o.d.Layers[idx]
		l.Variant, l.VirtualSize, l.ClusterSize, l.Parent, l.Warnings = in.Variant, in.VirtualSize, in.BlockSize, in.Parent, in.Warnings
		return im, im.Size(), nil
	}
	return nil, 0, fmt.Errorf("%s: %w", f.Name(), ErrNotDisk)
}

// fixedVHD tells whether the file f (size bytes) ends with a fixed VHD's
// footer.
func fixedVHD(f *os.File, size int64) bool {
	if size < vpc.FooterSize {
		return false
	}
	tail := make([]byte, vpc.FooterSize)
	n, _ := f.ReadAt(tail, size-vpc.FooterSize)
	return vpc.ProbeTail(tail[:n])
}

// maxVDIScan bounds the directory entries findVDI looks at.
const maxVDIScan = 4096

// findVDI finds the VDI image whose UUID is uuid, for a differencing
// image in dir: VirtualBox names a parent by UUID only and keeps its
// location in its media registry, and it puts snapshots (differencing
// images, named {UUID}.vdi) in the VM's Snapshots directory, beside or
// under the base image. So dir, then its parent directory, are searched:
// {uuid}.vdi first, then every *.vdi by the UUID in its header.
func findVDI(dir, uuid string) (string, error) {
	dirs := []string{dir, filepath.Dir(dir)}
	for _, d := range dirs {
		for _, name := range []string{uuid + ".vdi", "{" + uuid + "}.vdi"} {
			if p := filepath.Join(d, name); vdiUUID(p) == uuid {
				return p, nil
			}
		}
	}
	for _, d := range dirs {
		ents, err := os.ReadDir(d)
		if err != nil {
			continue
		}
		for i, e := range ents {
			if i >= maxVDIScan {
				break
			}
			if !e.Type().IsRegular() || !strings.EqualFold(filepath.Ext(e.Name()), ".vdi") {
				continue
			}
			if p := filepath.Join(d, e.Name()); vdiUUID(p) == uuid {
				return p, nil
			}
		}
	}
	return "", fmt.Errorf("%w: no .vdi image with UUID %s in %s or %s (VirtualBox keeps where the parent is in its media registry; put the parent beside the image): %w",
		ErrChain, uuid, dirs[0], dirs[1], fs.ErrNotExist)
}

// vdiUUID is the image UUID in the VDI header of the file at p, or "".
func vdiUUID(p string) string {
	if st, err := os.Stat(p); err != nil || !st.Mode().IsRegular() {
		return "" // and never open a FIFO
	}
	f, err := os.Open(p)
	if err != nil {
		return ""
	}
	defer f.Close()
	b := make([]byte, vdi.HeaderSize)
	if n, _ := f.ReadAt(b, 0); n < len(b) {
		return ""
	}
	u, _ := vdi.ImageUUID(b)
	return u
}
