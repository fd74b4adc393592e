package qcow2

import (
	"errors"
	"fmt"
	"sync"

	"github.com/loops-cli/loops/blockloop/disk/codec"
)

// Compression types (header byte 104).
const (
	compressionZlib = 0
	compressionZstd = 1
)

// codecNames are the blockloop/disk/codec names of the compression types
// (zlib clusters are raw deflate, without the zlib framing).
var codecNames = [...]string{compressionZlib: codec.Deflate, compressionZstd: codec.Zstd}

// lookupCodec returns the decompressor of compression type typ, or an
// error matching codec.ErrMissing when this program has none.
func lookupCodec(typ uint8) (codec.Func, error) {
	if int(typ) >= len(codecNames) {
		return nil, unsupportedErr("compression_type %d", typ)
	}
	dec, err := codec.Lookup(codecNames[typ])
	if err != nil {
		return nil, fmt.Errorf("qcow2: %w", err)
	}
	return dec, nil
}

// decompress inflates src (compressed data, possibly followed by unrelated
// bytes: the length in the L2 entry is an upper bound) into exactly
// len(dst) bytes with dec, the codec name. It reports an error when the
// data ends before dst is full or is not a valid stream.
func decompress(dec codec.Func, name string, dst, src []byte) error {
	if _, err := dec(dst, src); err != nil {
		return errors.New(name + ": " + err.Error())
	}
	return nil
}

// bufPool holds byte slices reused for compressed input and decompressed
// clusters.
var bufPool sync.Pool

func getBuf(n int) []byte {
	if p, _ := bufPool.Get().(*[]byte); p != nil && cap(*p) >= n {
		return (*p)[:n]
	}
	return make([]byte, n)
}

func putBuf(b []byte) {
	if cap(b) == 0 || cap(b) > 16<<20 {
		return
	}
	bufPool.Put(&b)
}
