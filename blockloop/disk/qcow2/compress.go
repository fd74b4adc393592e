package qcow2

import (
	"bytes"
	"errors"
	"github.com/klauspost/compress/flate"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// Compression types (header byte 104).
const (
	compressionZlib = 0
	compressionZstd = 1
)

// maxZstdWindow bounds the window a zstd frame may ask for: qemu
// compresses one cluster (at most 2 MiB) per frame.
const maxZstdWindow = 8 << 20

// inflater decompresses one cluster; pooled per compression type.
type inflater struct {
	br bytes.Reader
	fr io.ReadCloser // zlib: raw deflate
	zd *zstd.Decoder // zstd
}

var zlibPool, zstdPool sync.Pool

// decompress inflates src (compressed data, possibly followed by unrelated
// bytes: the length in the L2 entry is an upper bound) into exactly
// len(dst) bytes. It reports an error when the data ends before dst is
// full or is not a valid stream.
func decompress(typ uint8, dst, src []byte) error {
	switch typ {
	case compressionZlib:
		in, _ := zlibPool.Get().(*inflater)
		if in == nil {
			in = &inflater{}
		}
		in.br.Reset(src)
		if in.fr == nil {
			in.fr = flate.NewReader(&in.br)
		} else if err := in.fr.(flate.Resetter).Reset(&in.br, nil); err != nil {
			return err
		}
		_, err := io.ReadFull(in.fr, dst)
		in.br.Reset(nil)
		zlibPool.Put(in)
		if err != nil {
			return errors.New("deflate: " + err.Error())
		}
		return nil
	case compressionZstd:
		in, _ := zstdPool.Get().(*inflater)
		if in == nil {
			d, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(maxZstdWindow))
			if err != nil {
				return err
			}
			in = &inflater{zd: d}
		}
		in.br.Reset(src)
		if err := in.zd.Reset(&in.br); err != nil {
			return errors.New("zstd: " + err.Error())
		}
		_, err := io.ReadFull(in.zd, dst)
		in.zd.Reset(nil)
		in.br.Reset(nil)
		zstdPool.Put(in)
		if err != nil {
			return errors.New("zstd: " + err.Error())
		}
		return nil
	}
	return errors.New("unknown compression type")
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
