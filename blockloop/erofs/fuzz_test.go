package erofs_test

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/loops-cli/loops/blockloop/erofs"
	"github.com/loops-cli/loops/internal/testkit"
)

// FuzzWrite builds a tree description from the fuzzer's bytes (names,
// types, extents anywhere, hard links, copied data) over a 64 KiB device:
// Write refuses it with one of its sentinels and writes nothing, or the
// decoder reads back exactly what was described.
//
//	go test -run '^$' -fuzz FuzzWrite -fuzztime 30s ./blockloop/erofs/
func FuzzWrite(f *testing.F) {
	f.Add([]byte("\x00a\x02b\x10\x00\x00\x04\x03c\x01\x04d\x05\x00"), uint16(0))
	f.Add([]byte("\x02f\x11\x00\x02\x00\x02\x03\x02g\x12\x01\x00\x09\x05x"), uint16(512))
	f.Add([]byte("\x00\x2e\x00a/b\x02\x00\x02\x03l"), uint16(2048))
	dev := make([]byte, 64<<10)
	fill(dev, 0, int64(len(dev)))
	f.Fuzz(func(t *testing.T, prog []byte, bs uint16) {
		defer testkit.Watchdog(t, 5*time.Second)()
		root := build(prog, dev)
		fx := &fixture{dev: dev, root: root}
		var buf bytes.Buffer
		o := erofs.Options{DeviceSize: int64(len(dev)), Device: bytes.NewReader(dev), BlockSize: int(bs) &^ 0x1ff, CompactMtime: bs&1 == 1, MaxCopy: 32 << 10}
		_, err := erofs.Write(&buf, root, o)
		if err != nil {
			if !errors.Is(err, erofs.ErrInvalid) && !errors.Is(err, erofs.ErrOutside) && !errors.Is(err, erofs.ErrTooLarge) {
				t.Fatalf("an error of no sentinel: %v", err)
			}
			if buf.Len() != 0 {
				t.Fatalf("%d bytes written before %v", buf.Len(), err)
			}
			return
		}
		compare(t, fx, decode(t, buf.Bytes(), dev), 0)
	})
}

// build interprets prog as a tree: each op byte is followed by its
// arguments; running out of bytes ends the tree.
func build(prog []byte, dev []byte) *erofs.Node {
	root := dir("", 0o755)
	stack := []*erofs.Node{root}
	var last *erofs.Node
	next := func() (byte, bool) {
		if len(prog) == 0 {
			return 0, false
		}
		b := prog[0]
		prog = prog[1:]
		return b, true
	}
	name := func() string {
		n, _ := next()
		if n%8 == 7 && len(prog) > 0 { // a raw name of up to 31 bytes
			k := min(int(n>>3), len(prog))
			s := string(prog[:k])
			prog = prog[k:]
			return s
		}
		return fmt.Sprintf("n%d", n)
	}
	for len(stack) > 0 && len(root.Children) < 64 {
		op, ok := next()
		if !ok {
			break
		}
		cur := stack[len(stack)-1]
		var n *erofs.Node
		switch op % 7 {
		case 0:
			n = dir(name(), 0o755)
			if len(stack) < 8 {
				stack = append(stack, n)
			}
		case 1:
			if len(stack) > 1 {
				stack = stack[:len(stack)-1]
			}
			continue
		case 2: // a file of up to 4 extents: offset and length in 256-byte units, bit 0 a hole
			n = file(name())
			k, _ := next()
			for range k % 5 {
				o, _ := next()
				l, _ := next()
				x := erofs.Extent{Offset: int64(o) * 256, Length: int64(l)*256 + int64(o&3)*100, Zero: o&128 != 0 && l&1 == 1}
				n.Extents = append(n.Extents, x)
				n.Size += x.Length
			}
			if n.Extents == nil {
				n.Size = 0
			}
		case 3:
			n = &erofs.Node{Name: name(), Mode: modeLink | 0o777, Mtime: baseTime, Target: name()}
		case 4: // copied data
			l, _ := next()
			b := dev[int(l)*3 : int(l)*3+int(l)*9]
			n = &erofs.Node{Name: name(), Mode: modeReg | 0o600, Mtime: baseTime.Add(time.Duration(l) * time.Second), Size: int64(len(b)), Data: bytes.NewReader(b)}
		case 5: // a hard link of the last file
			if last == nil || last.IsDir() {
				continue
			}
			last.Link = 9
			c := *last
			c.Name = name()
			n = &c
		case 6: // odd attributes
			m, _ := next()
			n = &erofs.Node{Name: name(), Mode: uint32(m)<<9&0o170000 | 0o644, UID: uint32(m) << 12, GID: uint32(m), Mtime: baseTime.Add(time.Duration(m) * 1001 * time.Millisecond)}
		}
		cur.Children = append(cur.Children, n)
		last = n
	}
	return root
}
