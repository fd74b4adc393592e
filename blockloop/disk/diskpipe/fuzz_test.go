package diskpipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/disk"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzClient feeds Open and ReadAt whatever a broken or hostile reader
// process could send: the client must not panic, hang or read more than it
// asked for, and every protocol error must match ErrProtocol or be the
// server's own message.
func FuzzClient(f *testing.F) {
	good := func(size int64, replies ...[]byte) []byte {
		var b bytes.Buffer
		writeHeader(&b, header{Size: size, Layers: []disk.Layer{{Path: "/x.qcow2", Format: "qcow2"}}})
		for _, r := range replies {
			b.Write(r)
		}
		return b.Bytes()
	}
	reply := func(status byte, data []byte) []byte {
		r := binary.BigEndian.AppendUint32([]byte{status}, uint32(len(data)))
		return append(r, data...)
	}
	f.Add(good(4096, reply(statusOK, make([]byte, 512)), reply(statusErr, []byte("no"))))
	f.Add(good(100, reply(statusOK, make([]byte, 100))))
	f.Add(good(1<<40, reply(statusOK, make([]byte, 4096))))
	f.Add(good(0))
	f.Add([]byte("\x00\x00\x00\x10{\"error\":\"gone\"}"))
	f.Add([]byte("\xff\xff\xff\xff"))
	f.Add(append(good(4096), 0, 0xff, 0xff, 0xff, 0xff))
	f.Fuzz(func(t *testing.T, stream []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		d, err := Open(bytes.NewReader(stream), io.Discard, io.NopCloser(nil))
		if err != nil {
			return
		}
		defer d.Close()
		for _, n := range []int{512, 4096, 1} {
			p := make([]byte, n)
			k, err := d.ReadAt(p, 0)
			if k < 0 || k > n {
				t.Fatalf("ReadAt(%d bytes) = %d", n, k)
			}
			if err != nil && errors.Is(err, ErrProtocol) {
				return // out of step: every later read fails too
			}
		}
	})
}

// FuzzServeReads feeds the reading side any request stream: it must answer
// each well-formed request with a well-formed reply and end at EOF,
// without panicking, hanging or reading past the disk.
func FuzzServeReads(f *testing.F) {
	req := func(off int64, n uint32) []byte {
		b := binary.BigEndian.AppendUint64(nil, uint64(off))
		return binary.BigEndian.AppendUint32(b, n)
	}
	f.Add(req(0, 512))
	f.Add(append(req(4000, 512), req(-1, 1)...))
	f.Add(req(0, MaxRead+1))
	f.Add(req(1<<62, 1))
	f.Add([]byte{1, 2, 3})
	data := bytes.Repeat([]byte("loops\n"), 1000) // a 6000-byte disk
	f.Fuzz(func(t *testing.T, requests []byte) {
		defer testkit.Watchdog(t, 5*time.Second)()
		var out bytes.Buffer
		err := serveReads(bytes.NewReader(data), int64(len(data)), bytes.NewReader(requests), &out)
		whole := len(requests) / requestLen
		if (err == nil) != (len(requests)%requestLen == 0) {
			t.Fatalf("serveReads = %v for %d bytes of requests", err, len(requests))
		}
		// Every whole request got exactly one reply, each no longer than
		// it asked for (data) or MaxMessage (an error).
		rest := out.Bytes()
		for i := 0; i < whole; i++ {
			if len(rest) < replyLen {
				t.Fatalf("reply %d missing (%d bytes left)", i, len(rest))
			}
			asked := binary.BigEndian.Uint32(requests[i*requestLen+8:])
			n := binary.BigEndian.Uint32(rest[1:replyLen])
			switch {
			case rest[0] == statusOK && n <= asked:
			case rest[0] == statusErr && n <= MaxMessage:
			default:
				t.Fatalf("reply %d: status %d, %d bytes, to a read of %d", i, rest[0], n, asked)
			}
			if int(n) > len(rest)-replyLen {
				t.Fatalf("reply %d cut short", i)
			}
			rest = rest[replyLen+int(n):]
		}
		if len(rest) != 0 {
			t.Fatalf("%d bytes after the last reply", len(rest))
		}
	})
}
