package ahead

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/loops-cli/loops/internal/testkit"
)

func TestMain(m *testing.M) { os.Exit(testkit.Main(m, nil)) }

// recorder is a fill that records the chunks it was given.
type recorder struct {
	mu     sync.Mutex
	chunks [][2]int64
}

func (r *recorder) fill(start, end int64) {
	r.mu.Lock()
	r.chunks = append(r.chunks, [2]int64{start, end})
	r.mu.Unlock()
}

// covered is the range of the chunks fill was given, and their number,
// once the workers have ended.
func (r *recorder) covered(t *testing.T, s *Scheduler) (lo, hi int64, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s.mu.Lock()
		w := s.workers
		s.mu.Unlock()
		if w == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("workers still running after 5 s")
		}
		time.Sleep(time.Millisecond)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	lo = -1
	for _, c := range r.chunks {
		if c[0]%4096 != 0 || (c[1]%4096 != 0 && c[1] != s.size) || c[1] <= c[0] {
			t.Errorf("chunk %v is not whole units", c)
		}
		if lo < 0 || c[0] < lo {
			lo = c[0]
		}
		hi = max(hi, c[1])
	}
	return lo, hi, len(r.chunks)
}

func TestSequentialReadsFillAhead(t *testing.T) {
	var r recorder
	s := New(4096, 1<<20, 1<<20, 64<<20, r.fill)
	s.Read(0, 65536) // the first read: continues nothing
	if _, _, n := r.covered(t, s); n != 0 {
		t.Fatalf("a first read started %d chunks", n)
	}
	s.Read(65536, 131072)
	lo, hi, n := r.covered(t, s)
	if n == 0 || lo != 131072 || hi != 131072+1<<20 {
		t.Errorf("after a sequential read: chunks over [%d, %d) in %d, want [131072, %d)", lo, hi, n, 131072+1<<20)
	}
	r.chunks = nil
	s.Read(40<<20, 40<<20+4096) // a jump: not sequential
	if _, _, n := r.covered(t, s); n != 0 {
		t.Errorf("a jump started %d chunks", n)
	}
	if !s.Passed(131072, 4096) || s.Passed(40<<20, 40<<20+4096) {
		t.Error("Passed: wrong side of the last read")
	}
	off := New(4096, 0, 1<<20, 64<<20, r.fill) // ahead 0: never
	off.Read(0, 4096)
	off.Read(4096, 8192)
	if _, _, n := r.covered(t, off); n != 0 {
		t.Errorf("ahead 0 started %d chunks", n)
	}
}

func TestInflight(t *testing.T) {
	var f Inflight[int64]
	done, mine := f.Claim(7)
	if !mine {
		t.Fatal("first claim not mine")
	}
	if _, again := f.Claim(7); again {
		t.Fatal("second claim also mine")
	}
	waited := make(chan bool)
	go func() { waited <- f.Wait(7) }()
	select {
	case <-waited:
		t.Fatal("Wait returned before Release")
	case <-time.After(20 * time.Millisecond):
	}
	f.Release(7, done)
	if !<-waited {
		t.Error("Wait did not report the claim")
	}
	if f.Wait(7) || f.Wait(8) {
		t.Error("Wait on nothing in flight reported a claim")
	}
	if _, mine := f.Claim(7); !mine {
		t.Error("claim after release not mine")
	}
}
