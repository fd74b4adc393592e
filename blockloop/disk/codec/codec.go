// Package codec holds, by name, the decompressors the VM disk readers use
// for compressed clusters and grains: "deflate" (raw deflate, RFC 1951:
// qcow2's zlib clusters, vmdk's streamOptimized grains) and "zstd"
// (qcow2). It imports only the standard library and builds no table at
// package init, so that a program which reads few compressed clusters
// (loops' CLI, which probes images) does not pay a fast decompressor's
// init in every run; a program that reads them in bulk (loops' server)
// imports blockloop/disk/codec/klauspost, which registers faster ones.
//
// "deflate" is the standard library's compress/flate unless another is
// registered. "zstd" has none by default: [Lookup] says so with an error
// matching [ErrMissing], which the readers return from Open.
package codec

import (
	"errors"
	"fmt"
	"sync"
)

// The names of the codecs the readers ask for.
const (
	Deflate = "deflate" // raw deflate (RFC 1951), no zlib or gzip framing
	Zstd    = "zstd"    // Zstandard frames (RFC 8878)
)

// MaxZstdWindow is the largest window a "zstd" decompressor must accept;
// it refuses frames that ask for more, so that a hostile image cannot make
// it allocate beyond that (qemu compresses one cluster, at most 2 MiB, per
// frame).
const MaxZstdWindow = 8 << 20

// Func decompresses the stream at the start of src into dst, as
// io.ReadFull over the decompressed bytes would: it returns the number of
// bytes written, and a nil error only when dst is full. A stream that ends
// (or is cut) before that gives io.ErrUnexpectedEOF, or io.EOF when it
// gave no byte; invalid data gives another error. Bytes of src after the
// stream, and decompressed bytes beyond len(dst), are ignored. A Func is
// safe for concurrent use.
type Func func(dst, src []byte) (int, error)

// ErrMissing is matched by the error Lookup returns for a codec this
// program has no decompressor for.
var ErrMissing = errors.New("no decompressor for it is linked into this program")

var (
	mu    sync.RWMutex
	funcs map[string]Func
)

// Register makes f the decompressor of name; a nil f removes the one
// registered (back to the default, for "deflate"). Programs call it from
// an init function, tests to swap one in and out.
func Register(name string, f Func) {
	mu.Lock()
	defer mu.Unlock()
	if f == nil {
		delete(funcs, name)
		return
	}
	if funcs == nil {
		funcs = map[string]Func{}
	}
	funcs[name] = f
}

// Lookup returns the decompressor of name: the registered one, else the
// default ("deflate": compress/flate), else an error naming the codec and
// matching ErrMissing.
func Lookup(name string) (Func, error) {
	mu.RLock()
	f := funcs[name]
	mu.RUnlock()
	switch {
	case f != nil:
		return f, nil
	case name == Deflate:
		return inflate, nil
	}
	return nil, fmt.Errorf("%s compression: %w", name, ErrMissing)
}
