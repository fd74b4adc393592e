// Package diskpipe reads a VM disk image's virtual disk in another process,
// over a pair of pipes: [Serve] is the reading side (loops' server, `loops-serve
// __read-disk IMAGE`, which links the decompressors loops' CLI does not),
// [Open] the asking side. The protocol is binary and bounded:
//
//   - first the server sends one header record: a 4-byte big-endian
//     length (at most [MaxHeader]), then that much JSON: the virtual size
//     and the layers of the opened image, or the error that kept it from
//     opening it (then it ends);
//   - each request is 12 bytes, big endian: the offset (int64) and the
//     length (uint32, at most [MaxRead]) of a read of the virtual disk;
//   - each reply is a status byte, a 4-byte big-endian length n, then n
//     bytes: status 0, the bytes read (fewer than asked only at the end of
//     the disk); status 1, an error message (at most [MaxMessage] bytes).
//     A bad request (a length over MaxRead, an offset outside the disk)
//     gets status 1, and the server goes on;
//   - the end of the requests (EOF) ends the server.
//
// The package never prints and starts no process: its caller does.
package diskpipe

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/loops-cli/loops/blockloop/disk"
)

// Bounds of the protocol.
const (
	MaxRead    = 4 << 20 // bytes one request may ask for
	MaxHeader  = 1 << 20 // bytes of the header's JSON
	MaxMessage = 4096    // bytes of an error message
)

const (
	requestLen = 12
	replyLen   = 5
	statusOK   = 0
	statusErr  = 1
)

// header is the server's first record.
type header struct {
	Size   int64        `json:"size"`
	Layers []disk.Layer `json:"layers,omitempty"`
	Error  string       `json:"error,omitempty"`
}

// ErrProtocol is matched by the errors of a reply that breaks the
// protocol, or of a server that ended mid-reply.
var ErrProtocol = errors.New("diskpipe: the disk reader broke the protocol")

// writeHeader sends h as the header record.
func writeHeader(w io.Writer, h header) error {
	b, err := json.Marshal(h)
	if err != nil {
		return err
	}
	if len(b) > MaxHeader {
		b, _ = json.Marshal(header{Error: fmt.Sprintf("the image's description is %d bytes, over the limit of %d", len(b), MaxHeader)})
	}
	rec := binary.BigEndian.AppendUint32(make([]byte, 0, 4+len(b)), uint32(len(b)))
	_, err = w.Write(append(rec, b...))
	return err
}

// readHeader reads the header record.
func readHeader(r io.Reader) (header, error) {
	var h header
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return h, fmt.Errorf("%w: no header: %w", ErrProtocol, eofUnexpected(err))
	}
	size := binary.BigEndian.Uint32(n[:])
	if size > MaxHeader {
		return h, fmt.Errorf("%w: a header of %d bytes, over the limit of %d", ErrProtocol, size, MaxHeader)
	}
	b := make([]byte, size)
	if _, err := io.ReadFull(r, b); err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrProtocol, eofUnexpected(err))
	}
	if err := json.Unmarshal(b, &h); err != nil {
		return h, fmt.Errorf("%w: header: %w", ErrProtocol, err)
	}
	return h, nil
}

// eofUnexpected turns io.EOF into io.ErrUnexpectedEOF: the other side
// ended where the protocol says more comes.
func eofUnexpected(err error) error {
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}
