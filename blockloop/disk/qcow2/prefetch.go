package qcow2

import "github.com/loops-cli/loops/blockloop/disk/ahead"

// Decompressing ahead of sequential reads (package ahead): at most 4 MiB,
// and at most half the cluster cache, so that what was decompressed is
// still there when read.
const maxPrefetchAhead = 4 << 20

// newPrefetch is the scheduler of im's decompression ahead.
func (im *Image) newPrefetch() *ahead.Scheduler {
	cs := im.g.clusterSize
	return ahead.New(cs, min(maxPrefetchAhead, int64(im.cc.max/2)*cs), maxPrefetchAhead, im.size, im.prefetchRange)
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
			im.inflight.Release(j.host, j.done)
		}
	}()
	for pos := start; pos < end; pos += cs {
		if im.pf.Passed(start, pos) {
			continue
		}
		s, err := im.lookup(&cur, pos)
		if err != nil {
			return
		}
		if s.kind != Compressed || im.cc.has(s.host) {
			continue
		}
		done, mine := im.inflight.Claim(s.host)
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
			im.inflight.Release(j.host, j.done)
		}
		putBuf(buf)
		jobs = jobs[n:]
	}
}

// cached copies the decompressed cluster at host from in into dst, if it
// is cached or being decompressed into the cache (then waiting for it).
func (im *Image) cached(host int64, dst []byte, in int64) bool {
	return im.cc.copyOut(host, dst, in) || im.inflight.Wait(host) && im.cc.copyOut(host, dst, in)
}
