package codec

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
)

// inflate is the default "deflate" Func: the standard library's
// compress/flate, with pooled readers.
var inflate = Pooled(flate.NewReader)

// Pooled makes a Func of a stream decoder constructor (a flate package's
// NewReader): the decoders, each over its own bytes.Reader, are kept in a
// pool and reset for each use when they have flate's Reset(r, dict).
func Pooled(newReader func(io.Reader) io.ReadCloser) Func {
	type decoder struct {
		br bytes.Reader
		rd io.ReadCloser
	}
	var pool sync.Pool // *decoder
	return func(dst, src []byte) (int, error) {
		d, _ := pool.Get().(*decoder)
		if d == nil {
			d = &decoder{}
		}
		d.br.Reset(src)
		if r, ok := d.rd.(interface {
			Reset(io.Reader, []byte) error
		}); ok {
			if err := r.Reset(&d.br, nil); err != nil {
				return 0, err
			}
		} else {
			d.rd = newReader(&d.br)
		}
		n, err := io.ReadFull(d.rd, dst)
		d.br.Reset(nil)
		pool.Put(d)
		return n, err
	}
}
