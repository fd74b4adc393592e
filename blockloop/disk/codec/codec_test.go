package codec

import (
	"bytes"
	"compress/flate"
	"errors"
	"io"
	"strings"
	"testing"
)

// TestRegistry: "deflate" is compress/flate until one is registered, and
// again once it is removed; "zstd" has none until registered, and the
// error names it.
func TestRegistry(t *testing.T) {
	want := bytes.Repeat([]byte("a cluster of text "), 1000)
	var b bytes.Buffer
	w, _ := flate.NewWriter(&b, flate.BestSpeed)
	w.Write(want)
	w.Close()
	comp := append(b.Bytes(), "unrelated bytes after the stream"...)

	dec, err := Lookup(Deflate)
	if err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(want))
	if n, err := dec(got, comp); n != len(want) || err != nil || !bytes.Equal(got, want) {
		t.Fatalf("default deflate: %d, %v", n, err)
	}
	// A stream shorter than dst: what io.ReadFull says.
	long := make([]byte, len(want)+1)
	if n, err := dec(long, comp); n != len(want) || err != io.ErrUnexpectedEOF {
		t.Fatalf("deflate into a larger dst: %d, %v", n, err)
	}
	if _, err := dec(got, []byte{0xff, 0xff, 0xff}); err == nil || err == io.ErrUnexpectedEOF {
		t.Fatalf("invalid deflate data: %v", err)
	}

	if _, err := Lookup(Zstd); !errors.Is(err, ErrMissing) || !strings.Contains(err.Error(), "zstd") {
		t.Fatalf("zstd with none registered: %v", err)
	}
	calls := 0
	fake := func(dst, src []byte) (int, error) { calls++; return len(dst), nil }
	Register(Zstd, fake)
	Register(Deflate, fake)
	for _, name := range []string{Zstd, Deflate} {
		f, err := Lookup(name)
		if err != nil {
			t.Fatal(err)
		}
		f(got, nil)
	}
	if calls != 2 {
		t.Fatalf("registered decompressors called %d times, want 2", calls)
	}
	Register(Zstd, nil)
	Register(Deflate, nil)
	if _, err := Lookup(Zstd); !errors.Is(err, ErrMissing) {
		t.Fatalf("zstd removed: %v", err)
	}
	if dec, err := Lookup(Deflate); err != nil {
		t.Fatal(err)
	} else if n, err := dec(got, comp); n != len(want) || err != nil || calls != 2 {
		t.Fatalf("deflate removed: back to compress/flate: %d, %v", n, err)
	}
}
