// Package ahead decompresses a compressed VM disk image ahead of its
// sequential reads, for the readers of formats with compressed clusters
// (qcow2) or grains (vmdk streamOptimized), which share it as they share
// blockloop/disk/codec. It imports only the standard library and does
// nothing at package init.
//
// A read that starts where the previous one ended (or close behind it:
// concurrent readers of one stream finish out of order) is sequential; it
// makes sure the units (clusters, grains) of the next Ahead bytes are
// being decompressed into the reader's cache, by at most MaxWorkers
// goroutines. Each goroutine takes chunks of Chunk bytes while the reads
// stay sequential and the chunk is within Ahead of them, and ends
// otherwise: none outlives the reads that started it by more than the
// decompression of Ahead bytes, and none runs when reads are not
// sequential.
package ahead

import (
	"runtime"
	"sync"
	"sync/atomic"
)

const (
	Chunk      = 256 << 10 // bytes a goroutine takes at a time (at least one unit)
	MaxWorkers = 4         // goroutines at most (and at most GOMAXPROCS)
)

// Scheduler follows the reads of one stream and starts the goroutines
// that decompress ahead of them. Its zero value is not usable: see New.
type Scheduler struct {
	unit, ahead, slack, size int64
	fill                     func(start, end int64)

	seqEnd  atomic.Int64 // end of the last read
	seqOK   atomic.Bool  // the last read continued the one before
	mu      sync.Mutex
	next    int64 // where the next chunk starts
	workers int   // goroutines running
}

// New is the scheduler of a stream of size bytes made of unit-byte units,
// which decompresses ahead bytes ahead of sequential reads (0: never) by
// calling fill for each chunk [start, end) (unit-aligned). A read that
// starts at most slack bytes before the end of the last one still counts
// as sequential. fill decompresses into the reader's cache what is
// neither there nor being decompressed (Inflight), skipping the units
// Passed says the reads have left behind; it reports no error (the reads
// that need the units do).
func New(unit, ahead, slack, size int64, fill func(start, end int64)) *Scheduler {
	s := &Scheduler{unit: unit, ahead: ahead, slack: slack, size: size, fill: fill}
	s.seqEnd.Store(-1)
	return s
}

// Ahead is the bytes decompressed ahead; 0: none.
func (s *Scheduler) Ahead() int64 { return s.ahead }

// Read records the read [off, end) and, when it continues the last one,
// makes sure the Ahead bytes from end are being decompressed.
func (s *Scheduler) Read(off, end int64) {
	if s.ahead == 0 {
		return
	}
	last := s.seqEnd.Swap(end)
	seq := off == last || (off < last && last-off <= s.slack)
	s.seqOK.Store(seq)
	if !seq || end >= s.size {
		return
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.next < end || s.next > end+s.ahead {
		s.next = end
	}
	for s.workers < min(MaxWorkers, runtime.GOMAXPROCS(0)) && s.next < min(end+s.ahead, s.size) {
		start, stop := s.nextChunk(end)
		s.workers++
		go s.worker(start, stop)
	}
}

// Passed tells fill, working on the chunk that starts at start, that the
// reads went past the unit at pos, or elsewhere: decompressing it would be
// wasted.
func (s *Scheduler) Passed(start, pos int64) bool {
	e := s.seqEnd.Load()
	return e > pos+s.unit || e < start-s.ahead
}

// nextChunk takes the next chunk, up to Ahead past pos. Called with mu
// held.
func (s *Scheduler) nextChunk(pos int64) (start, end int64) {
	u := s.unit
	start = s.next / u * u
	end = min((start+max(Chunk, u))/u*u, (pos+s.ahead+u-1)/u*u, s.size)
	if end <= start {
		end = min(start+u, s.size)
	}
	s.next = end
	return start, end
}

// worker fills [start, end), then further chunks while the reads stay
// sequential and the next chunk is within Ahead of them.
func (s *Scheduler) worker(start, end int64) {
	for {
		s.fill(start, end)
		s.mu.Lock()
		pos := s.seqEnd.Load()
		if s.next < pos {
			s.next = pos
		}
		if !s.seqOK.Load() || s.next >= min(pos+s.ahead, s.size) {
			s.workers--
			s.mu.Unlock()
			return
		}
		start, end = s.nextChunk(pos)
		s.mu.Unlock()
	}
}

// Inflight is the set of units being decompressed into a cache, by key
// (where the compressed data is stored), so that each is decompressed
// once: whoever claims it decompresses it, and the others wait. The zero
// value is ready to use.
type Inflight[K comparable] struct {
	mu sync.Mutex
	m  map[K]chan struct{}
}

// Claim marks k as being decompressed by the caller (mine), who must
// Release it; or returns the channel closed when whoever is doing it is
// done.
func (f *Inflight[K]) Claim(k K) (done chan struct{}, mine bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if ch, ok := f.m[k]; ok {
		return ch, false
	}
	if f.m == nil {
		f.m = map[K]chan struct{}{}
	}
	ch := make(chan struct{})
	f.m[k] = ch
	return ch, true
}

// Release ends the caller's claim on k.
func (f *Inflight[K]) Release(k K, done chan struct{}) {
	f.mu.Lock()
	delete(f.m, k)
	f.mu.Unlock()
	close(done)
}

// Wait waits for k if it is being decompressed, and reports whether it
// was.
func (f *Inflight[K]) Wait(k K) bool {
	f.mu.Lock()
	ch := f.m[k]
	f.mu.Unlock()
	if ch == nil {
		return false
	}
	<-ch
	return true
}
