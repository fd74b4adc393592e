package readkit

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

func TestClip(t *testing.T) {
	p := make([]byte, 10)
	for _, c := range []struct {
		off, size int64
		n         int
		eof       bool
	}{{0, 20, 10, false}, {15, 20, 5, true}, {20, 20, 0, true}, {30, 20, 0, true}, {0, 0, 0, true}} {
		q, err := Clip("test", p, c.off, c.size)
		if len(q) != c.n || (err == io.EOF) != c.eof || (err != nil && err != io.EOF) {
			t.Errorf("Clip(10 bytes, %d, %d) = %d bytes, %v", c.off, c.size, len(q), err)
		}
	}
	if _, err := Clip("test", p, -1, 20); err == nil || err.Error() != "test: negative offset" {
		t.Errorf("negative offset: %v", err)
	}
}

func TestReadPadded(t *testing.T) {
	r := bytes.NewReader([]byte("abcdef"))
	p := bytes.Repeat([]byte{'x'}, 4)
	if err := ReadPadded("test", r, 6, p, 4); err != nil || string(p) != "ef\x00\x00" {
		t.Errorf("across the end: %q, %v", p, err)
	}
	p = bytes.Repeat([]byte{'x'}, 4)
	if err := ReadPadded("test", r, 6, p, 9); err != nil || string(p) != "\x00\x00\x00\x00" {
		t.Errorf("past the end: %q, %v", p, err)
	}
	p = bytes.Repeat([]byte{'x'}, 4)
	if err := (Backing{}).Read("test", p, 0); err != nil || string(p) != "\x00\x00\x00\x00" {
		t.Errorf("no backing disk: %q, %v", p, err)
	}
	if err := (Backing{R: r, Size: 6}).Read("test", p, 1); err != nil || string(p) != "bcde" {
		t.Errorf("backing disk: %q, %v", p, err)
	}
	// The size says 8 bytes, the reader has 6: a short read is an error.
	if err := ReadPadded("test", r, 8, p, 4); !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("short read: %v", err)
	}
}

func TestReadBlocks(t *testing.T) {
	disk := []byte("0123456789abcdefghij") // 20 bytes in blocks of 8
	var calls [][3]int64
	read := func(q []byte, bi, in, off int64) (int64, error) {
		calls = append(calls, [3]int64{bi, in, off})
		if bi == 2 {
			return 0, errors.New("block 2 is bad")
		}
		l := min(int64(len(q)), 8-in)
		copy(q[:l], disk[off:])
		return l, nil
	}
	p := make([]byte, 10)
	n, err := ReadBlocks("test", p, 3, 20, 8, read)
	if n != 10 || err != nil || string(p) != "3456789abc" || len(calls) != 2 || calls[1] != [3]int64{1, 0, 8} {
		t.Errorf("ReadBlocks at 3: %d %v %q, calls %v", n, err, p, calls)
	}
	n, err = ReadBlocks("test", p, 12, 20, 8, read)
	if n != 4 || err == nil || err.Error() != "block 2 is bad" {
		t.Errorf("into a bad block: %d, %v", n, err)
	}
	if n, err := ReadBlocks("test", p, 20, 20, 8, read); n != 0 || err != io.EOF {
		t.Errorf("at the end: %d, %v", n, err)
	}
	stuck := func(q []byte, bi, in, off int64) (int64, error) { return 0, nil }
	if _, err := ReadBlocks("test", p, 0, 20, 8, stuck); err != io.ErrNoProgress {
		t.Errorf("a read that fills nothing: %v", err)
	}
}
