package diskpipe

import (
	"encoding/binary"
	"fmt"
	"io"

	"github.com/loops-cli/loops/blockloop/disk"
)

// Serve opens the image at path with disk.Open, sends the header (its
// size and layers, or the error) on out, then answers the read requests
// on in until in ends. It returns nil at the end of the requests, the
// open error, or the error of a broken pipe.
func Serve(path string, in io.Reader, out io.Writer) error {
	d, err := disk.Open(path)
	if err != nil {
		writeHeader(out, header{Error: err.Error()})
		return err
	}
	defer d.Close()
	if err := writeHeader(out, header{Size: d.Size(), Layers: d.Layers}); err != nil {
		return fmt.Errorf("send the header: %w", err)
	}
	return serveReads(d, d.Size(), in, out)
}

// serveReads answers the requests on in for reads of r (size bytes),
// until in ends.
func serveReads(r io.ReaderAt, size int64, in io.Reader, out io.Writer) error {
	var req [requestLen]byte
	var buf []byte // a reply: grown to the largest read asked, at most MaxRead
	for {
		if _, err := io.ReadFull(in, req[:]); err != nil {
			if err == io.EOF {
				return nil
			}
			return fmt.Errorf("read a request: %w", err)
		}
		off := int64(binary.BigEndian.Uint64(req[:8]))
		n := binary.BigEndian.Uint32(req[8:])
		var reply []byte
		switch {
		case n > MaxRead:
			reply = errorReply(buf, "a read of %d bytes, over the limit of %d", n, MaxRead)
		case off < 0 || off > size:
			reply = errorReply(buf, "offset %d is outside the virtual disk (%d bytes)", off, size)
		default:
			if cap(buf) < replyLen+int(n) {
				buf = make([]byte, replyLen+int(n))
			}
			reply = buf[:replyLen+int(n)]
			k, err := r.ReadAt(reply[replyLen:], off)
			if err != nil && err != io.EOF {
				reply = errorReply(buf, "read %d bytes at %d: %v", n, off, err)
				break
			}
			reply[0] = statusOK
			binary.BigEndian.PutUint32(reply[1:], uint32(k))
			reply = reply[:replyLen+k]
		}
		if _, err := out.Write(reply); err != nil {
			return fmt.Errorf("send a reply: %w", err)
		}
	}
}

// errorReply makes a status 1 reply in buf (or a new slice), the message
// cut at MaxMessage bytes.
func errorReply(buf []byte, format string, args ...any) []byte {
	msg := fmt.Sprintf(format, args...)
	if len(msg) > MaxMessage {
		msg = msg[:MaxMessage]
	}
	reply := append(buf[:0], statusErr, 0, 0, 0, 0)
	binary.BigEndian.PutUint32(reply[1:], uint32(len(msg)))
	return append(reply, msg...)
}
