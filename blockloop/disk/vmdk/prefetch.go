package vmdk

import "runtime"

// Decompressing ahead, per compressed sparse extent. A read that starts
// where the previous one ended (or close behind it: concurrent readers of
// one stream finish out of order) is sequential; it makes sure the grains
// of the next ahead bytes are being decompressed into the grain cache, by
// at most maxPrefetchWorkers goroutines. Each goroutine takes chunks of
// prefetchChunk bytes while the reads stay sequential and the chunk is
// within ahead of them, and ends otherwise: none outlives the reads that
// started it by more than the decompression of ahead bytes, and none runs
// when reads are not sequential.

const (
	maxPrefetchAhead   = 2 << 20
	prefetchChunk      = 256 << 10
	maxPrefetchWorkers = 4
)

// sequential records the read [off, end) and says whether it continues
// the last one.
func (s *sparse) sequential(off, end int64) bool {
	last := s.seqEnd.Swap(end)
	seq := off == last || (off < last && last-off <= maxPrefetchAhead)
	s.seqOK.Store(seq)
	return seq
}

// prefetch makes sure the ahead bytes from pos are being decompressed.
func (s *sparse) prefetch(pos int64) {
	if pos >= s.capacity {
		return
	}
	s.pfMu.Lock()
	defer s.pfMu.Unlock()
	if s.pfNext < pos || s.pfNext > pos+s.ahead {
		s.pfNext = pos
	}
	for s.pfWorkers < min(maxPrefetchWorkers, runtime.GOMAXPROCS(0)) && s.pfNext < min(pos+s.ahead, s.capacity) {
		start, end := s.nextChunk(pos)
		s.pfWorkers++
		go s.prefetchWorker(start, end)
	}
}

// nextChunk takes the next chunk, up to ahead past pos. Called with pfMu
// held.
func (s *sparse) nextChunk(pos int64) (start, end int64) {
	start = s.pfNext / s.grain * s.grain
	end = min((start+max(prefetchChunk, s.grain))/s.grain*s.grain, (pos+s.ahead+s.grain-1)/s.grain*s.grain, s.capacity)
	if end <= start {
		end = min(start+s.grain, s.capacity)
	}
	s.pfNext = end
	return start, end
}

func (s *sparse) prefetchWorker(start, end int64) {
	for {
		s.prefetchRange(start, end)
		s.pfMu.Lock()
		pos := s.seqEnd.Load()
		if s.pfNext < pos {
			s.pfNext = pos
		}
		if !s.seqOK.Load() || s.pfNext >= min(pos+s.ahead, s.capacity) {
			s.pfWorkers--
			s.pfMu.Unlock()
			return
		}
		start, end = s.nextChunk(pos)
		s.pfMu.Unlock()
	}
}

// prefetchRange decompresses into the cache the grains of [start, end)
// that are neither cached nor being decompressed. Errors are left for the
// reads that need the grains to report.
func (s *sparse) prefetchRange(start, end int64) {
	for off := start; off < end; off += s.grain {
		if e := s.seqEnd.Load(); e > off+s.grain || e < start-s.ahead {
			continue // the reads went past this grain or elsewhere
		}
		g := off / s.grain
		sector, err := s.gte(g)
		if err != nil {
			return
		}
		if sector <= gteZeroed || s.grains.has(s, sector) {
			continue
		}
		done, mine := s.claim(sector)
		if !mine {
			continue
		}
		data := getBuf(&grainPool, s.grain)
		if s.inflate(data, sector, g) != nil {
			putBuf(&grainPool, data)
		} else {
			s.grains.put(s, sector, data)
		}
		s.release(sector, done)
	}
}

// claim marks the grain at sector as being decompressed into the cache by
// the caller (mine), or returns the channel closed when whoever is doing
// it is done.
func (s *sparse) claim(sector uint32) (done chan struct{}, mine bool) {
	s.pfMu.Lock()
	defer s.pfMu.Unlock()
	if ch, ok := s.inflight[sector]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	s.inflight[sector] = ch
	return ch, true
}

func (s *sparse) release(sector uint32, done chan struct{}) {
	s.pfMu.Lock()
	delete(s.inflight, sector)
	s.pfMu.Unlock()
	close(done)
}

// cached copies the decompressed grain at sector from in into p, if it is
// cached or being decompressed into the cache (then waiting for it).
func (s *sparse) cached(sector uint32, p []byte, in int64) bool {
	if s.grains.get(s, sector, p, in) {
		return true
	}
	s.pfMu.Lock()
	ch := s.inflight[sector]
	s.pfMu.Unlock()
	if ch == nil {
		return false
	}
	<-ch
	return s.grains.get(s, sector, p, in)
}
