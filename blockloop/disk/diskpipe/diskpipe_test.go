package diskpipe

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/disk"
	_ "github.com/loops-cli/loops/blockloop/disk/codec/klauspost"
	"github.com/loops-cli/loops/blockloop/disk/disktest"
	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// pipes runs Serve(path) in a goroutine on a pair of in-process pipes and
// returns the client's ends, and the channel Serve's result comes on.
func pipes(t *testing.T, serve func(in io.Reader, out io.Writer) error) (r io.Reader, w io.WriteCloser, done <-chan error) {
	t.Helper()
	inR, inW := io.Pipe()
	outR, outW := io.Pipe()
	ch := make(chan error, 1)
	go func() {
		err := serve(inR, outW)
		outW.CloseWithError(io.EOF)
		inR.Close()
		ch <- err
	}()
	t.Cleanup(func() { inW.Close(); outR.Close() })
	return outR, inW, ch
}

// within fails t when ch gives nothing within 10 s: a hang.
func within[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(10 * time.Second):
		t.Fatal("no answer within 10 s")
		panic("unreachable")
	}
}

type closer struct{ n int }

func (c *closer) Close() error { c.n++; return nil }

// TestRoundTrip: a zstd qcow2 read through the pipe is its raw disk, in
// reads larger than MaxRead too and across the end; its layers are what
// disk.Open says; closing the disk ends the server.
func TestRoundTrip(t *testing.T) {
	dir, src := disktest.Source(t, 9<<20+12345)
	img := filepath.Join(dir, "zstd.qcow2")
	testkit.Run(t, disktest.QemuImg(t), "convert", "-f", "raw", "-O", "qcow2", "-c", "-o", "compression_type=zstd", src, img)
	want, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	local, err := disk.Open(img)
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()

	r, w, done := pipes(t, func(in io.Reader, out io.Writer) error { return Serve(img, in, out) })
	c := &closer{}
	d, err := Open(r, w, c)
	if err != nil {
		t.Fatal(err)
	}
	if d.Size() != local.Size() || d.Format() != "qcow2" || !reflect.DeepEqual(d.Layers, local.Layers) {
		t.Fatalf("size %d, layers %+v; disk.Open says %d, %+v", d.Size(), d.Layers, local.Size(), local.Layers)
	}
	got := make([]byte, d.Size())
	if n, err := d.ReadAt(got, 0); n != len(got) || err != nil {
		t.Fatalf("ReadAt of the whole disk (%d bytes): %d, %v", len(got), n, err)
	}
	if !bytes.Equal(got[:len(want)], want) {
		t.Fatalf("the virtual disk differs from the source at byte %d", disktest.FirstDiff(got, want))
	}
	// Across the end: short, io.EOF; past it: io.EOF.
	p := make([]byte, 1000)
	if n, err := d.ReadAt(p, d.Size()-10); n != 10 || err != io.EOF || !bytes.Equal(p[:10], got[len(got)-10:]) {
		t.Fatalf("read across the end: %d, %v", n, err)
	}
	if n, err := d.ReadAt(p, d.Size()+1); n != 0 || err != io.EOF {
		t.Fatalf("read past the end: %d, %v", n, err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for range 50 {
		off := rng.Int64N(d.Size())
		p := make([]byte, min(rng.Int64N(MaxRead+MaxRead/2), d.Size()-off))
		if n, err := d.ReadAt(p, off); n != len(p) || err != nil || !bytes.Equal(p, got[off:off+int64(n)]) {
			t.Fatalf("ReadAt(%d bytes at %d): %d, %v", len(p), off, n, err)
		}
	}
	w.Close() // what the closer of a real process does: stdin ends
	if err := within(t, done); err != nil {
		t.Fatalf("Serve at the end of the requests: %v", err)
	}
	d.Close()
	if c.n != 1 {
		t.Fatalf("Close closed the process %d times", c.n)
	}
}

// TestOpenError: an image that does not open is said in the header, with
// disk.Open's text; Serve returns the error and ends.
func TestOpenError(t *testing.T) {
	img := filepath.Join(t.TempDir(), "missing.qcow2")
	r, w, done := pipes(t, func(in io.Reader, out io.Writer) error { return Serve(img, in, out) })
	_, err := Open(r, w, &closer{})
	if err == nil || !strings.Contains(err.Error(), "missing.qcow2") || errors.Is(err, ErrProtocol) {
		t.Fatalf("Open of a missing image: %v", err)
	}
	if err := within(t, done); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Serve: %v", err)
	}
}

// request writes one raw request and reads the reply.
func request(t *testing.T, r io.Reader, w io.Writer, off int64, n uint32) (status byte, body []byte) {
	t.Helper()
	var req [requestLen]byte
	binary.BigEndian.PutUint64(req[:], uint64(off))
	binary.BigEndian.PutUint32(req[8:], n)
	type reply struct {
		status byte
		body   []byte
		err    error
	}
	ch := make(chan reply, 1)
	go func() {
		if _, err := w.Write(req[:]); err != nil {
			ch <- reply{err: err}
			return
		}
		var h [replyLen]byte
		if _, err := io.ReadFull(r, h[:]); err != nil {
			ch <- reply{err: err}
			return
		}
		b := make([]byte, binary.BigEndian.Uint32(h[1:]))
		_, err := io.ReadFull(r, b)
		ch <- reply{h[0], b, err}
	}()
	rep := within(t, ch)
	if rep.err != nil {
		t.Fatalf("request (%d, %d): %v", off, n, rep.err)
	}
	return rep.status, rep.body
}

// TestBadRequests: a read over MaxRead, at a negative offset or past the
// end gets an error reply, not a hang, and the server goes on.
func TestBadRequests(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), 4096) // 64 KiB
	size := int64(len(data))
	r, w, done := pipes(t, func(in io.Reader, out io.Writer) error {
		return serveReads(bytes.NewReader(data), size, in, out)
	})
	for _, c := range []struct {
		off  int64
		n    uint32
		want string
	}{
		{0, MaxRead + 1, "over the limit"},
		{0, 1<<32 - 1, "over the limit"},
		{size + 1, 10, "outside the virtual disk"},
		{-1, 10, "outside the virtual disk"},
		{1 << 62, MaxRead, "outside the virtual disk"},
	} {
		status, body := request(t, r, w, c.off, c.n)
		if status != statusErr || !strings.Contains(string(body), c.want) {
			t.Errorf("request (%d, %d): status %d, %q; want an error saying %q", c.off, c.n, status, body, c.want)
		}
	}
	// Still in step: a good read, one across the end, one at the end.
	if status, body := request(t, r, w, 16, 16); status != statusOK || string(body) != "0123456789abcdef" {
		t.Errorf("good read after bad ones: status %d, %q", status, body)
	}
	if status, body := request(t, r, w, size-4, 100); status != statusOK || string(body) != "cdef" {
		t.Errorf("read across the end: status %d, %q", status, body)
	}
	if status, body := request(t, r, w, size, 100); status != statusOK || len(body) != 0 {
		t.Errorf("read at the end: status %d, %q", status, body)
	}
	// A request cut short is an error, not a hang.
	w.Write([]byte{1, 2, 3})
	w.Close()
	if err := within(t, done); err == nil || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Fatalf("Serve after a cut request: %v", err)
	}
}

// TestBrokenServer: replies that break the protocol, and a server that
// ends, are errors of every later read, not hangs or panics.
func TestBrokenServer(t *testing.T) {
	hdr := func(h header) []byte {
		var b bytes.Buffer
		writeHeader(&b, h)
		return b.Bytes()
	}
	good := hdr(header{Size: 1 << 20, Layers: []disk.Layer{{Format: "qcow2"}}})
	for _, c := range []struct {
		name  string
		reply []byte // what the server says, then it ends
	}{
		{"no header", nil},
		{"header over the limit", []byte{0xff, 0xff, 0xff, 0xff}},
		{"header cut", good[:len(good)-1]},
		{"no layers", hdr(header{Size: 10})},
		{"no reply", good},
		{"more bytes than asked", append(append([]byte{}, good...), statusOK, 0, 0, 0x10, 0)},
		{"reply cut", append(append([]byte{}, good...), statusOK, 0, 0, 0, 10, 1, 2)},
		{"unknown status", append(append([]byte{}, good...), 7, 0, 0, 0, 0)},
		{"message over the limit", append(append([]byte{}, good...), statusErr, 0, 1, 0, 0)},
	} {
		t.Run(c.name, func(t *testing.T) {
			ch := make(chan error, 1)
			go func() {
				d, err := Open(bytes.NewReader(c.reply), io.Discard, &closer{})
				if err != nil {
					ch <- err
					return
				}
				p := make([]byte, 100)
				_, err = d.ReadAt(p, 0)
				if _, err2 := d.ReadAt(p, 0); err2 != err {
					err = errors.Join(err, errors.New("a second read got another error"), err2)
				}
				ch <- err
			}()
			if err := within(t, ch); !errors.Is(err, ErrProtocol) {
				t.Fatalf("got %v, want ErrProtocol", err)
			}
		})
	}
}
