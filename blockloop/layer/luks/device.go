package luks

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"runtime"
	"sync"
	"sync/atomic"
)

// Device is an unlocked volume's decrypted payload: an io.ReaderAt of
// Size bytes, safe for concurrent use. Close zeroes the volume key.
type Device struct {
	r        io.ReaderAt
	off      int64 // the payload's offset in the image
	size     int64
	sector   int
	ivTweak  uint64
	mu       sync.RWMutex // ReadAt shares it; Close takes it
	key      []byte       // nil once closed
	c        sectorCipher
	bufs     sync.Pool // *[]byte of chunkSize, for unaligned reads
	parallel int
	reading  atomic.Int32 // ReadAt calls under way
}

// chunkSize bounds the buffer an unaligned read decrypts through;
// parallelMin is the run below which decryption stays on one goroutine.
const (
	chunkSize   = 1 << 20
	parallelMin = 128 << 10
)

// device keys the payload's cipher with the volume key (which the Device
// keeps, and zeroes on Close).
func (v *Volume) device(key []byte) (*Device, error) {
	c, err := newSectorCipher(v.segCipher, key)
	if err != nil {
		clear(key)
		return nil, err
	}
	d := &Device{r: v.r, off: v.info.PayloadOffset, size: v.info.Size, sector: v.info.SectorSize,
		ivTweak: v.ivTweak, key: key, c: c, parallel: runtime.GOMAXPROCS(0)}
	d.bufs.New = func() any { b := make([]byte, chunkSize); return &b }
	return d, nil
}

// Size is the decrypted payload's size in bytes.
func (d *Device) Size() int64 { return d.size }

// SectorSize is the encryption sector size (512 to 4096 bytes).
func (d *Device) SectorSize() int { return d.sector }

// VolumeKey is a copy of the volume key, for UnlockKey in another
// process (over a pipe, never a file or argv): the caller zeroes it.
// Nil once closed.
func (d *Device) VolumeKey() []byte {
	d.mu.RLock()
	defer d.mu.RUnlock()
	return bytes.Clone(d.key)
}

// Close zeroes the volume key; ReadAt then fails with ErrClosed.
func (d *Device) Close() error {
	d.mu.Lock()
	defer d.mu.Unlock()
	clear(d.key)
	if d.c != nil {
		d.c.wipe()
	}
	d.key, d.c = nil, nil
	return nil
}

// ReadAt reads decrypted bytes at off of the payload. Whole-sector reads
// decrypt in place in p; others through a pooled buffer.
func (d *Device) ReadAt(p []byte, off int64) (int, error) {
	d.mu.RLock()
	defer d.mu.RUnlock()
	d.reading.Add(1)
	defer d.reading.Add(-1)
	if d.c == nil {
		return 0, ErrClosed
	}
	if off < 0 {
		return 0, fmt.Errorf("luks: read at negative offset %d", off)
	}
	if off >= d.size {
		return 0, io.EOF
	}
	n := len(p)
	var eof error
	if int64(n) > d.size-off {
		n, eof = int(d.size-off), io.EOF
	}
	sec := int64(d.sector)
	if off%sec == 0 && n%d.sector == 0 {
		if err := d.readSectors(p[:n], off); err != nil {
			return 0, err
		}
		return n, eof
	}
	bp := d.bufs.Get().(*[]byte)
	defer d.bufs.Put(bp)
	buf := *bp
	done := 0
	for done < n {
		pos := off + int64(done)
		start := pos / sec * sec
		end := min((pos+int64(n-done)+sec-1)/sec*sec, start+chunkSize, d.size)
		run := buf[:end-start]
		if err := d.readSectors(run, start); err != nil {
			clear(run)
			return done, err
		}
		done += copy(p[done:n], run[pos-start:])
		clear(run)
	}
	return n, eof
}

// readSectors reads and decrypts whole sectors at off (sector-aligned)
// into b, across the cores that other reads leave idle when b is large:
// a FUSE server's concurrent requests already keep every core busy, and
// splitting them too costs more than it gains.
func (d *Device) readSectors(b []byte, off int64) error {
	if _, err := d.r.ReadAt(b, d.off+off); err != nil {
		if errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF
		}
		return fmt.Errorf("luks: reading %d bytes of encrypted data at %d: %w", len(b), d.off+off, err)
	}
	iv := d.ivTweak + uint64(off/512)
	workers := min(d.parallel-int(d.reading.Load())+1, len(b)/parallelMin)
	if workers <= 1 {
		d.c.decrypt(b, d.sector, iv)
		return nil
	}
	per := (len(b)/workers + d.sector - 1) / d.sector * d.sector
	var wg sync.WaitGroup
	for o := 0; o < len(b); o += per {
		part := b[o:min(o+per, len(b))]
		wg.Go(func() { d.c.decrypt(part, d.sector, iv+uint64(o/512)) })
	}
	wg.Wait()
	return nil
}
