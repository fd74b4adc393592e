package qcow2

import (
	"runtime"
)

// Decompressing ahead. A read that starts where the previous one ended
// (or close behind it: concurrent readers of one stream finish out of
// order) is sequential; it makes sure the compressed clusters of the next
// [Image.ahead] bytes are being decompressed into the cache, by at most
// maxPrefetchWorkers goroutines. Each goroutine takes chunks of
// prefetchChunk bytes while the stream keeps reading and the chunk is
// within ahead of it, and ends otherwise: none outlives the reads that
// started it by more than the decompression of ahead bytes, and none runs
// when reads are not sequential.

const (
	maxPrefetchAhead   = 4 << 20
	prefetchChunk      = 256 << 10
	maxPrefetchWorkers = 4
)

// sequential records the read [off, end) and says whether it continues
// the last one.
func (im *Image) sequential(off, end int64) bool {
	last := im.seqEnd.Swap(end)
	seq := off == last || (off < last && last-off <= maxPrefetchAhead)
	im.seqOK.Store(seq)
	return seq
}

// prefetch makes sure the ahead bytes from pos are being decompressed.
func (im *Image) prefetch(pos int64) {
	if im.ahead == 0 || pos >= im.size {
		return
	}
	im.pfMu.Lock()
	defer im.pfMu.Unlock()
	if im.pfNext < pos || im.pfNext > pos+im.ahead {
		im.pfNext = pos
	}
	for im.pfWorkers < min(maxPrefetchWorkers, runtime.GOMAXPROCS(0)) && im.pfNext < min(pos+im.ahead, im.size) {
		start, end := im.nextChunk(pos)
		im.pfWorkers++
		go im.prefetchWorker(start, end)
	}
}

// nextChunk takes the next chunk to decompress, up to ahead past pos.
// Called with pfMu held.
func (im *Image) nextChunk(pos int64) (start, end int64) {
	cs := im.g.clusterSize
	start = im.pfNext &^ (cs - 1)
	end = min((start+max(prefetchChunk, cs))&^(cs-1), (pos+im.ahead+cs-1)&^(cs-1), im.size)
	if end <= start {
		end = min(start+cs, im.size)
	}
	im.pfNext = end
	return start, end
}

// prefetchWorker decompresses [start, end), then further chunks while
// reads stay sequential and the next chunk is within ahead of them.
func (im *Image) prefetchWorker(start, end int64) {
	for {
		im.prefetchRange(start, end)
		im.pfMu.Lock()
		pos := im.seqEnd.Load()
		if im.pfNext < pos {
			im.pfNext = pos
		}
		if !im.seqOK.Load() || im.pfNext >= min(pos+im.ahead, im.size) {
			im.pfWorkers--
			im.pfMu.Unlock()
			return
		}
		start, end = im.nextChunk(pos)
		im.pfMu.Unlock()
	}
}

// prefetchRange decompresses into the cache the compressed clusters of
// [start, end) that are neither cached nor being decompressed. Errors are
// left for the reads that need the clusters to report.
func (im *Image) prefetchRange(start, end int64) {
	cs := im.g.clusterSize
	var (
		cur  cursor
		jobs []cjob
	)
	defer func() {
		for _, j := range jobs {
			im.release(j.host, j.done)
		}
	}()
	for pos := start; pos < end; pos += cs {
		if e := im.seqEnd.Load(); e > pos+cs || e < start-im.ahead {
			// The reads went past this cluster or elsewhere.
			continue
		}
		s, err := im.lookup(&cur, pos)
		if err != nil {
			return
		}
		if s.kind != Compressed || im.cc.has(s.host) {
			continue
		}
		done, mine := im.claim(s.host)
		if !mine {
			continue
		}
		jobs = append(jobs, cjob{host: s.host, clen: s.clen, voff: pos, done: done})
	}
	for len(jobs) > 0 {
		// One read for the clusters stored one after the other.
		gstart, gend := jobs[0].host, min(jobs[0].host+jobs[0].clen, im.fileSize)
		n := 1
		for ; n < len(jobs); n++ {
			j := jobs[n]
			jend := min(j.host+j.clen, im.fileSize)
			if j.host < gstart || j.host > gend || max(gend, jend)-gstart > maxGroupRead {
				break
			}
			gend = max(gend, jend)
		}
		buf, err := im.compressedData(gstart, gend-gstart)
		if err != nil {
			return
		}
		for _, j := range jobs[:n] {
			cl := getBuf(int(cs))
			if im.inflate(cl, buf[j.host-gstart:min(j.host+j.clen, gend)-gstart], j.host, j.voff) != nil {
				putBuf(cl)
			} else if old := im.cc.put(j.host, cl); old != nil {
				putBuf(old)
			}
			im.release(j.host, j.done)
		}
		putBuf(buf)
		jobs = jobs[n:]
	}
}

// claim marks the compressed cluster at host as being decompressed into
// the cache by the caller (mine), or returns the channel closed when
// whoever is doing it is done.
func (im *Image) claim(host int64) (done chan struct{}, mine bool) {
	im.pfMu.Lock()
	defer im.pfMu.Unlock()
	if ch, ok := im.inflight[host]; ok {
		return ch, false
	}
	ch := make(chan struct{})
	im.inflight[host] = ch
	return ch, true
}

func (im *Image) release(host int64, done chan struct{}) {
	im.pfMu.Lock()
	delete(im.inflight, host)
	im.pfMu.Unlock()
	close(done)
}

// cached copies the decompressed cluster at host from in into dst, if it
// is cached or being decompressed into the cache (then waiting for it).
func (im *Image) cached(host int64, dst []byte, in int64) bool {
	if im.cc.copyOut(host, dst, in) {
		return true
	}
	im.pfMu.Lock()
	ch := im.inflight[host]
	im.pfMu.Unlock()
	if ch == nil {
		return false
	}
	<-ch
	return im.cc.copyOut(host, dst, in)
}
