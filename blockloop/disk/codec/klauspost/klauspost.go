// Package klauspost registers github.com/klauspost/compress's decoders
// with blockloop/disk/codec, for its effect: flate for "deflate" (a fifth
// less CPU than compress/flate on qcow2 clusters) and zstd for "zstd"
// (which has no other decoder). Import it, blank, in a program that reads
// compressed VM disks in bulk: loops' server (cmd/loops-serve, through
// blockloop/userfs). Its package init builds tables and pulls in
// crypto/rand, which a program that only probes images (loops' CLI) should
// not pay in every run.
package klauspost

import (
	"bytes"
	"io"
	"sync"

	"github.com/klauspost/compress/flate"
	"github.com/klauspost/compress/zstd"

	"github.com/loops-cli/loops/blockloop/disk/codec"
)

func init() {
	codec.Register(codec.Deflate, Inflate)
	codec.Register(codec.Zstd, Zstd)
}

// decoder is a reusable zstd decoder over a bytes.Reader.
type decoder struct {
	br bytes.Reader
	zd *zstd.Decoder
}

var zstdPool sync.Pool // *decoder

// inflate is klauspost's flate, pooled.
var inflate = codec.Pooled(flate.NewReader)

// Inflate is a codec.Func for raw deflate, with pooled readers.
func Inflate(dst, src []byte) (int, error) { return inflate(dst, src) }

// Zstd is a codec.Func for zstd frames, with pooled decoders (one
// goroutine each, windows up to codec.MaxZstdWindow).
func Zstd(dst, src []byte) (int, error) {
	d, _ := zstdPool.Get().(*decoder)
	if d == nil {
		zd, err := zstd.NewReader(nil, zstd.WithDecoderConcurrency(1), zstd.WithDecoderMaxWindow(codec.MaxZstdWindow))
		if err != nil {
			return 0, err
		}
		d = &decoder{zd: zd}
	}
	d.br.Reset(src)
	if err := d.zd.Reset(&d.br); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(d.zd, dst)
	d.zd.Reset(nil)
	d.br.Reset(nil)
	zstdPool.Put(d)
	return n, err
}
