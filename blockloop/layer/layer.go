// Package layer opens a stack of layers between a disk and its
// filesystem (an encrypted volume; an LVM logical volume, an md array):
// each layer takes the bytes of the device below it (an io.ReaderAt and
// its size) and gives its own. It is how loops-serve rebuilds the stack
// loops unlocked: loops tells it the stack as Specs on its command line
// and the keys through an inherited pipe (WriteKeys, ReadKeys), never
// argv, the environment or a file. It needs no privilege.
package layer

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/loops-cli/loops/blockloop/layer/luks"
)

// Kind names a layer's format.
type Kind string

const (
	// KindLUKS is a LUKS1/LUKS2 encrypted volume (package luks); its key
	// is the volume key.
	KindLUKS Kind = "luks"
	// KindLVM is an LVM2 logical volume (package lvm); its Spec's Name is
	// "VG/LV@PVS", the PVs of its VG in the device below (LVMName).
	KindLVM Kind = "lvm"
	// KindMD is an md RAID1 member (package md): the array's data.
	KindMD Kind = "md"
)

// Spec is one layer of a stack as a command line carries it: its kind,
// where its input lies in the device below, and which one (for kinds
// with several, an LV's "vg/lv"). It never holds a key.
type Spec struct {
	Kind   Kind
	Offset int64 // bytes into the device below
	Size   int64 // bytes; 0: to the end of the device below
	Name   string
}

// NeedsKey tells whether opening the layer takes a key.
func (s Spec) NeedsKey() bool { return s.Kind == KindLUKS }

// String is the spec's command-line form, "KIND:OFFSET:SIZE[:NAME]",
// which ParseSpec reads.
func (s Spec) String() string {
	out := fmt.Sprintf("%s:%d:%d", s.Kind, s.Offset, s.Size)
	if s.Name != "" {
		out += ":" + s.Name
	}
	return out
}

// ParseSpec reads a Spec's String.
func ParseSpec(v string) (Spec, error) {
	f := strings.SplitN(v, ":", 4)
	if len(f) < 3 {
		return Spec{}, fmt.Errorf("layer %q: want KIND:OFFSET:SIZE[:NAME]", v)
	}
	s := Spec{Kind: Kind(f[0])}
	var err1, err2 error
	s.Offset, err1 = strconv.ParseInt(f[1], 10, 64)
	s.Size, err2 = strconv.ParseInt(f[2], 10, 64)
	if err1 != nil || err2 != nil || s.Offset < 0 || s.Size < 0 {
		return Spec{}, fmt.Errorf("layer %q: offset and size are byte counts", v)
	}
	if len(f) == 4 {
		s.Name = f[3]
	}
	if s.Kind != KindLUKS && s.Kind != KindLVM && s.Kind != KindMD {
		return Spec{}, fmt.Errorf("layer %q: unknown kind %q", v, s.Kind)
	}
	return s, nil
}

// Device is a layer's output: what the layer above reads.
type Device interface {
	io.ReaderAt
	Size() int64
	Close() error
}

// Source is a device beside the stack: a PV given as a file (the "fN"
// of an LVM layer's Name).
type Source struct {
	Name string
	R    io.ReaderAt
	Size int64
}

// Open opens specs in order over r (size bytes) and returns the top's
// output; keys are the keys of the specs that need one, in order; files
// the PVs given apart from the image. On error every layer opened is
// closed. Closing the result closes them all.
func Open(r io.ReaderAt, size int64, specs []Spec, keys [][]byte, files ...Source) (Device, error) {
	var st stack
	var cur io.ReaderAt = r
	for i, s := range specs {
		if s.Offset > size || (s.Size > 0 && s.Size > size-s.Offset) {
			st.Close()
			return nil, fmt.Errorf("layer %d (%s): past the end of the device below (%d bytes)", i+1, s, size)
		}
		n := size - s.Offset
		if s.Size > 0 {
			n = s.Size
		}
		in := io.NewSectionReader(cur, s.Offset, n)
		var key []byte
		if s.NeedsKey() {
			if len(keys) == 0 {
				st.Close()
				return nil, fmt.Errorf("layer %d (%s): %w", i+1, s, ErrNoKey)
			}
			key, keys = keys[0], keys[1:]
		}
		d, err := openOne(in, n, s, key, files)
		if err != nil {
			st.Close()
			return nil, fmt.Errorf("layer %d (%s): %w", i+1, s, err)
		}
		st = append(st, d)
		cur, size = d, d.Size()
	}
	if len(st) == 0 {
		return nil, errors.New("layer: an empty stack")
	}
	return st, nil
}

// ErrNoKey: a layer that needs a key was given none.
var ErrNoKey = errors.New("no key given for it")

func openOne(r io.ReaderAt, size int64, s Spec, key []byte, files []Source) (Device, error) {
	switch s.Kind {
	case KindLVM:
		return openLVM(r, size, s.Name, files)
	case KindMD:
		return openMD(r, size)
	case KindLUKS:
		v, err := luks.Open(r, size)
		if err != nil {
			return nil, err
		}
		return v.UnlockKey(key)
	}
	return nil, fmt.Errorf("unknown layer kind %q", s.Kind)
}

// stack is the opened layers, bottom first; it reads as the top one.
type stack []Device

func (s stack) top() Device                             { return s[len(s)-1] }
func (s stack) ReadAt(p []byte, off int64) (int, error) { return s.top().ReadAt(p, off) }
func (s stack) Size() int64                             { return s.top().Size() }
func (s stack) Close() error {
	var errs []error
	for i := len(s) - 1; i >= 0; i-- {
		errs = append(errs, s[i].Close())
	}
	return errors.Join(errs...)
}

// maxKey bounds a key read by ReadKeys; maxKeys their number.
const (
	maxKey  = 1024
	maxKeys = 16
)

// WriteKeys writes keys on w: a count, then each key's length and bytes
// (big-endian 32-bit numbers), in one write.
func WriteKeys(w io.Writer, keys [][]byte) error {
	n := 4
	for _, k := range keys {
		n += 4 + len(k)
	}
	b := make([]byte, 0, n)
	defer clear(b[:n])
	b = binary.BigEndian.AppendUint32(b, uint32(len(keys)))
	for _, k := range keys {
		b = binary.BigEndian.AppendUint32(b, uint32(len(k)))
		b = append(b, k...)
	}
	_, err := w.Write(b)
	return err
}

// ReadKeys reads what WriteKeys wrote. The caller zeroes the keys after
// use.
func ReadKeys(r io.Reader) ([][]byte, error) {
	var hdr [4]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return nil, fmt.Errorf("read the keys: %w", err)
	}
	n := binary.BigEndian.Uint32(hdr[:])
	if n > maxKeys {
		return nil, fmt.Errorf("read the keys: %d keys (at most %d)", n, maxKeys)
	}
	keys := make([][]byte, 0, n)
	for range n {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			Zero(keys)
			return nil, fmt.Errorf("read the keys: %w", err)
		}
		l := binary.BigEndian.Uint32(hdr[:])
		if l > maxKey {
			Zero(keys)
			return nil, fmt.Errorf("read the keys: a key of %d bytes (at most %d)", l, maxKey)
		}
		k := make([]byte, l)
		if _, err := io.ReadFull(r, k); err != nil {
			Zero(append(keys, k))
			return nil, fmt.Errorf("read the keys: %w", err)
		}
		keys = append(keys, k)
	}
	return keys, nil
}

// Zero clears every key.
func Zero(keys [][]byte) {
	for _, k := range keys {
		clear(k)
	}
}

// locator is a layer whose bytes lie plainly in the device below (LVM,
// md RAID1): Locate tells where a range does.
type locator interface {
	Locate(off, n int64) (r io.ReaderAt, at int64, ok bool)
}

// spanner is a device that can hand out ranges stored plainly in a file.
type spanner interface {
	Span(off, n int64) (f *os.File, at int64, ok bool)
}

// Span tells where the stack's bytes [off, off+n) lie plainly in a file,
// when they do: through LVM and md layers (not through an encrypted one)
// and section readers down to an *os.File, or to a device that can tell
// itself (a VM disk's uncompressed run). A server can then splice them.
func (s stack) Span(off, n int64) (f *os.File, at int64, ok bool) {
	var r io.ReaderAt = s.top()
	// Each step goes one reader down; a stack is a few layers deep.
	for range 64 {
		switch x := r.(type) {
		case *os.File:
			return x, off, true
		case *io.SectionReader:
			base, o, size := x.Outer()
			if off < 0 || n > size || off > size-n {
				return nil, 0, false
			}
			r, off = base, o+off
		case noClose:
			r = x.sizedReader
		case stack:
			r = x.top()
		case locator:
			if r, off, ok = x.Locate(off, n); !ok {
				return nil, 0, false
			}
		case spanner:
			return x.Span(off, n)
		default:
			return nil, 0, false
		}
	}
	return nil, 0, false
}
