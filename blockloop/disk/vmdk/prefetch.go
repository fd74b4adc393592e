package vmdk

import "github.com/loops-cli/loops/blockloop/disk/ahead"

// Decompressing ahead of sequential reads, per compressed sparse extent
// (package ahead): at most 2 MiB, and at most half the grain cache.
const maxPrefetchAhead = 2 << 20

// newPrefetch is the scheduler of s's decompression ahead: none for an
// extent that is not compressed or whose grains are over half of it.
func (s *sparse) newPrefetch() *ahead.Scheduler {
	var n int64
	if s.compressed && s.grain <= maxPrefetchAhead/2 {
		n = min(maxPrefetchAhead, maxCachedGrains/2*s.grain)
	}
	return ahead.New(s.grain, n, maxPrefetchAhead, s.capacity, s.prefetchRange)
}

// prefetchRange decompresses into the cache the grains of [start, end)
// that are neither cached nor being decompressed. Errors are left for the
// reads that need the grains to report.
func (s *sparse) prefetchRange(start, end int64) {
	for off := start; off < end; off += s.grain {
		if s.pf.Passed(start, off) {
			continue
		}
		g := off / s.grain
		sector, err := s.gte(g)
		if err != nil {
			return
		}
		if sector <= gteZeroed || s.grains.has(s, sector) {
			continue
		}
		done, mine := s.inflight.Claim(sector)
		if !mine {
			continue
		}
		data := getBuf(&grainPool, s.grain)
		if s.inflate(data, sector, g) != nil {
			putBuf(&grainPool, data)
		} else {
			s.grains.put(s, sector, data)
		}
		s.inflight.Release(sector, done)
	}
}

// cached copies the decompressed grain at sector from in into p, if it is
// cached or being decompressed into the cache (then waiting for it).
func (s *sparse) cached(sector uint32, p []byte, in int64) bool {
	return s.grains.get(s, sector, p, in) || s.inflight.Wait(sector) && s.grains.get(s, sector, p, in)
}
