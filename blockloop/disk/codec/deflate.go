package codec

import (
	"bytes"
	"compress/flate"
	"io"
	"sync"
)

// inflater is a reusable compress/flate reader over a bytes.Reader.
type inflater struct {
	br bytes.Reader
	fr io.ReadCloser // implements flate.Resetter
}

var inflaters sync.Pool // *inflater

// inflate is the default "deflate" Func: the standard library's
// compress/flate, with pooled readers.
func inflate(dst, src []byte) (int, error) {
	in, _ := inflaters.Get().(*inflater)
	if in == nil {
		in = &inflater{}
	}
	in.br.Reset(src)
	if in.fr == nil {
		in.fr = flate.NewReader(&in.br)
	} else if err := in.fr.(flate.Resetter).Reset(&in.br, nil); err != nil {
		return 0, err
	}
	n, err := io.ReadFull(in.fr, dst)
	in.br.Reset(nil)
	inflaters.Put(in)
	return n, err
}
