package diskpipe

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"

	"github.com/loops-cli/loops/blockloop/disk"
)

// client asks a Serve on the other end of r and w for reads. One request
// is in flight at a time; it is safe for concurrent use.
type client struct {
	mu   sync.Mutex
	r    io.Reader
	w    io.Writer
	size int64
	err  error // sticky: the pipe broke
	req  [requestLen]byte
}

// Open reads the header Serve sends on r and returns the disk it
// describes, read by requests on w; closing the disk closes c (which ends
// the server: closing w is EOF to it, and the caller waits for it). The
// error is the server's open error (its text) or a protocol error
// (ErrProtocol); Open does not close c then.
func Open(r io.Reader, w io.Writer, c io.Closer) (*disk.Disk, error) {
	h, err := readHeader(r)
	if err != nil {
		return nil, err
	}
	switch {
	case h.Error != "":
		return nil, errors.New(h.Error)
	case h.Size < 0 || len(h.Layers) == 0:
		return nil, fmt.Errorf("%w: header with size %d and %d layers", ErrProtocol, h.Size, len(h.Layers))
	}
	return disk.Remote(&client{r: r, w: w, size: h.Size}, h.Size, h.Layers, c), nil
}

// ReadAt reads the virtual disk in requests of at most MaxRead bytes.
func (c *client) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 {
		return 0, fmt.Errorf("diskpipe: negative offset %d", off)
	}
	if off >= c.size {
		if len(p) == 0 {
			return 0, nil
		}
		return 0, io.EOF
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for n < len(p) {
		chunk := p[n:min(len(p), n+MaxRead)]
		k, err := c.read(chunk, off+int64(n))
		n += k
		if err != nil {
			return n, err
		}
		if k < len(chunk) {
			return n, io.EOF
		}
	}
	return n, nil
}

// read makes one request.
func (c *client) read(p []byte, off int64) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	binary.BigEndian.PutUint64(c.req[:8], uint64(off))
	binary.BigEndian.PutUint32(c.req[8:], uint32(len(p)))
	if _, err := c.w.Write(c.req[:]); err != nil {
		return 0, c.fail(fmt.Errorf("send a request: %w", err))
	}
	var h [replyLen]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return 0, c.fail(fmt.Errorf("%w: no reply: %w", ErrProtocol, eofUnexpected(err)))
	}
	n := binary.BigEndian.Uint32(h[1:])
	switch {
	case h[0] == statusOK && n <= uint32(len(p)):
		if _, err := io.ReadFull(c.r, p[:n]); err != nil {
			return 0, c.fail(fmt.Errorf("%w: reply: %w", ErrProtocol, eofUnexpected(err)))
		}
		return int(n), nil
	case h[0] == statusErr && n <= MaxMessage:
		msg := make([]byte, n)
		if _, err := io.ReadFull(c.r, msg); err != nil {
			return 0, c.fail(fmt.Errorf("%w: reply: %w", ErrProtocol, eofUnexpected(err)))
		}
		return 0, errors.New(string(msg))
	}
	return 0, c.fail(fmt.Errorf("%w: reply with status %d and %d bytes to a read of %d", ErrProtocol, h[0], n, len(p)))
}

// fail makes err the answer to every later read: the stream is out of
// step.
func (c *client) fail(err error) error {
	c.err = err
	return err
}
