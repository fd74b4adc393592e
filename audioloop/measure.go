package audioloop

import (
	"encoding/binary"
	"fmt"
	"math"
	"sort"
	"sync"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

// MeasureRequest says which path to measure.
type MeasureRequest struct {
	// Source and Sink are the loopback's ends (name, index or part of a
	// description; "" for the defaults).
	Source, Sink string
	// Chirps is how many test chirps to play (default 4).
	Chirps int
	// Settle is how long silence plays before the first chirp, so that the
	// server's rate controller adapts to the measuring streams (default 1s).
	Settle time.Duration
	// Interval is the time between chirps (default: 500 ms, or more for a
	// loopback with a long latency); delays up to Interval-10ms are found.
	Interval time.Duration
}

// MeasureResult is a measured delay.
type MeasureResult struct {
	// Method: "loopback" when the source is a sink's monitor (the signal is
	// played into that sink, and timed at the source and at the sink's
	// monitor: the loopback's own delay); "path" for a hardware source (the
	// signal is played into the sink and timed at its monitor and at the
	// source: the sink → source path, a cable or the air).
	Method string
	// Played is the sink the signal was played into; Ref and Echo the two
	// sources recorded.
	Played, Ref, Echo string
	// Delay is the median delay of the first echo of each chirp.
	Delay time.Duration
	// Delays are the first echo's delay for each chirp found.
	Delays []time.Duration
	// Echoes are, for each chirp, every echo found within the interval, in
	// order (several when several loopbacks feed the sink). Their
	// differences are exact (one recording); the absolute values carry the
	// alignment error of two recordings (≈0.1 ms on PulseAudio, up to a few
	// 256-frame quanta on PipeWire).
	Echoes [][]time.Duration
	// Missing counts the chirps with no echo.
	Missing int
}

// Measure plays a known signal (short chirps) and records it before and
// after the path from source to sink, and reports the delay by
// cross-correlation. It loads nothing: it measures the loopback that is on
// (see On). It needs no privilege, and plays audio into a sink: for a
// hardware sink, you will hear it.
func (c *Client) Measure(req MeasureRequest) (*MeasureResult, error) {
	m, err := c.planMeasurement(req)
	if err != nil {
		return nil, err
	}
	if err := m.startRecordings(); err != nil {
		return nil, err
	}
	defer m.ref.stop()
	defer m.echo.stop()
	refS, refT0, err := m.playAndRecordReference()
	if err != nil {
		return nil, err
	}
	refPeaks := findPeaks(refS, m.chirp, 0.5, m.step/2)
	if len(refPeaks) == 0 {
		return nil, &NoSignalError{Played: m.res.Played, At: m.res.Ref, Ref: true}
	}
	last := refT0.Add(time.Duration(refPeaks[len(refPeaks)-1]+len(m.chirp))*time.Second/time.Duration(m.rate) + m.window())
	echoS, echoT0, err := m.recordEchoes(last)
	if err != nil {
		return nil, err
	}
	echoPeaks := findPeaks(echoS, m.chirp, 0.3, m.rate/200) // echoes ≥ 5 ms apart
	m.matchEchoes(refPeaks, echoPeaks, echoT0.Sub(refT0))
	res := m.res
	if len(res.Delays) == 0 {
		return res, &NoSignalError{Played: res.Played, At: res.Echo}
	}
	ds := append([]time.Duration(nil), res.Delays...)
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	res.Delay = ds[len(ds)/2]
	return res, nil
}

// measurement is one run of Measure: the route, the signal, the streams.
type measurement struct {
	c        *Client
	res      *MeasureResult // the route: Method, Played, Ref, Echo
	rate     int            // samples per second
	interval time.Duration  // between chirps
	step     int            // interval in samples
	chirp    []float32
	signal   []float32 // silence (the settle time), then the chirps
	ref      *recorder // the signal before the path
	echo     *recorder // the signal after the path
	deadline time.Time // when to stop waiting for the recordings
}

// planMeasurement resolves the route and makes the signal.
func (c *Client) planMeasurement(req MeasureRequest) (*measurement, error) {
	if req.Chirps <= 0 {
		req.Chirps = 4
	}
	si, src, snk, err := c.measureEnds(req)
	if err != nil {
		return nil, err
	}
	res, err := measureRoute(src, snk)
	if err != nil {
		return nil, err
	}
	m := &measurement{c: c, res: res, interval: req.Interval, rate: int(si.SampleRate)}
	if m.interval <= 0 {
		m.interval = c.chirpInterval(src, snk)
	}
	if m.rate < 8000 || m.rate > 192000 {
		m.rate = 48000
	}
	if req.Settle <= 0 {
		req.Settle = time.Second
	}
	m.chirp = makeChirp(m.rate)
	m.step = int(m.interval.Seconds() * float64(m.rate))
	lead := int(req.Settle.Seconds() * float64(m.rate))
	m.signal = make([]float32, lead+req.Chirps*m.step+m.rate/5)
	for i := 0; i < req.Chirps; i++ {
		copy(m.signal[lead+i*m.step:], m.chirp)
	}
	return m, nil
}

// measureEnds resolves the source and sink of req.
func (c *Client) measureEnds(req MeasureRequest) (si ServerInfo, src, snk Device, err error) {
	if si, err = c.ServerInfo(); err != nil {
		return
	}
	sinks, err := c.sinks(si)
	if err != nil {
		return
	}
	sources, err := c.sources(si)
	if err != nil {
		return
	}
	if src, err = resolveOrDefault("source", req.Source, si.DefaultSource, sources); err != nil {
		return
	}
	snk, err = resolveOrDefault("sink", req.Sink, si.DefaultSink, sinks)
	return
}

// measureRoute chooses where to play and what to record (see
// MeasureResult.Method).
func measureRoute(src, snk Device) (*MeasureResult, error) {
	res := &MeasureResult{}
	if src.MonitorOf == "" {
		res.Method, res.Played, res.Ref, res.Echo = "path", snk.Name, snk.Monitor, src.Name
		return res, nil
	}
	if src.MonitorOf == snk.Name {
		return nil, &FeedbackError{Source: src.Name, Sink: snk.Name}
	}
	res.Method, res.Played, res.Ref, res.Echo = "loopback", src.MonitorOf, src.Name, snk.Monitor
	return res, nil
}

// chirpInterval is 500 ms, or more when a loopback on the route has a long
// latency, so that each echo comes before the next chirp.
func (c *Client) chirpInterval(src, snk Device) time.Duration {
	d := 500 * time.Millisecond
	lbs, err := c.Loopbacks()
	if err != nil {
		return d
	}
	for _, lb := range lbs {
		if l := 2*time.Duration(lb.LatencyMsec)*time.Millisecond + 200*time.Millisecond; (lb.Source == src.Name || lb.Sink == snk.Name) && l > d {
			d = l
		}
	}
	return d
}

// window is how long after a chirp its echoes are looked for.
func (m *measurement) window() time.Duration { return m.interval - 10*time.Millisecond }

// startRecordings starts both recordings and waits until both run. A
// server may take a while to start one: PulseAudio renders an idle sink in
// blocks of up to 2 s, and a recording of its monitor begins only at the
// end of the current block. On error, stop what started.
func (m *measurement) startRecordings() error {
	ref, err := m.c.startRecord(m.res.Ref, m.rate)
	if err != nil {
		return err
	}
	echo, err := m.c.startRecord(m.res.Echo, m.rate)
	if err != nil {
		ref.stop()
		return err
	}
	m.ref, m.echo = ref, echo
	err = m.c.waitFor(time.Now().Add(measureMaxLag), func() bool { return ref.count() > 0 && echo.count() > 0 }, ref, echo)
	if err != nil {
		ref.stop()
		echo.stop()
	}
	return err
}

// playAndRecordReference plays the signal and returns the reference
// recording up to the end of the signal and its echoes, and the time of its
// sample 0; it stops the playback and the reference.
//
// The signal and its last echo are captured by end (the margin is for the
// playback's start), but a server may deliver a recording well after
// capturing it: pipewire-pulse sends a record stream's data only while the
// client's queue is empty, so the echo's data, queued behind the
// reference's and the playback's, lags, by a second or more on a busy
// machine. So past end, wait for the recordings themselves (at most
// measureMaxLag more): the reference up to end here, then, the other two
// streams closed, the echo up to the last chirp's window (recordEchoes).
func (m *measurement) playAndRecordReference() ([]float32, time.Time, error) {
	c, ref := m.c, m.ref
	play, err := c.startPlayback(m.res.Played, m.rate, m.signal)
	if err != nil {
		return nil, time.Time{}, err
	}
	defer play.stop()
	end := time.Now().Add(time.Duration(len(m.signal))*time.Second/time.Duration(m.rate) + m.interval + 300*time.Millisecond)
	m.deadline = end.Add(measureMaxLag)
	select {
	case <-time.After(time.Until(end)):
	case <-c.gone:
		return nil, time.Time{}, c.wrap("measure", fmt.Errorf("%w", ErrServerGone))
	}
	err = c.waitFor(m.deadline, func() bool { return !ref.recordedUntil().Before(end) }, ref, m.echo)
	if err != nil {
		return nil, time.Time{}, err
	}
	refS, refT0 := ref.samples()
	ref.stop()
	play.stop()
	return refS[:min(len(refS), samplesBetween(refT0, end, m.rate))], refT0, nil
}

// recordEchoes waits until the echo recording holds last, and returns it
// up to there and the time of its sample 0.
func (m *measurement) recordEchoes(last time.Time) ([]float32, time.Time, error) {
	echo := m.echo
	err := m.c.waitFor(m.deadline, func() bool { return !echo.recordedUntil().Before(last) }, echo)
	if err != nil {
		return nil, time.Time{}, err
	}
	echoS, echoT0 := echo.samples()
	return echoS[:min(len(echoS), samplesBetween(echoT0, last, m.rate)+len(m.chirp))], echoT0, nil
}

// matchEchoes finds each chirp's echoes (positions in samples) in the
// echo recording, which starts offset after the reference.
func (m *measurement) matchEchoes(refPeaks, echoPeaks []int, offset time.Duration) {
	res, rate, window := m.res, float64(m.rate), m.window()
	for _, rp := range refPeaks {
		tr := float64(rp) / rate
		var es []time.Duration
		for _, ep := range echoPeaks {
			d := time.Duration((offset.Seconds() + float64(ep)/rate - tr) * float64(time.Second))
			if d >= -5*time.Millisecond && d < window {
				es = append(es, d)
			}
		}
		if len(es) == 0 {
			res.Missing++
			continue
		}
		res.Echoes = append(res.Echoes, es)
		res.Delays = append(res.Delays, es[0])
	}
}

// makeChirp is a 30 ms Hann-windowed linear sweep from 1 to 10 kHz.
func makeChirp(rate int) []float32 {
	n := rate * 30 / 1000
	out := make([]float32, n)
	f0, f1, T := 1000.0, 10000.0, float64(n)/float64(rate)
	for i := range out {
		t := float64(i) / float64(rate)
		w := 0.5 - 0.5*math.Cos(2*math.Pi*float64(i)/float64(n-1))
		out[i] = float32(0.5 * w * math.Sin(2*math.Pi*(f0*t+(f1-f0)*t*t/(2*T))))
	}
	return out
}

// findPeaks returns the sample positions where the normalised
// cross-correlation of x with tpl has a local maximum above thresh, at
// least minGap apart, strongest first within each neighbourhood.
func findPeaks(x, tpl []float32, thresh float64, minGap int) []int {
	n := len(x) - len(tpl)
	if n <= 0 {
		return nil
	}
	var te float64
	for _, v := range tpl {
		te += float64(v) * float64(v)
	}
	corr := make([]float64, n)
	var xe float64
	for i := 0; i < len(tpl); i++ {
		xe += float64(x[i]) * float64(x[i])
	}
	for i := 0; i < n; i++ {
		if i > 0 {
			a, b := float64(x[i-1]), float64(x[i+len(tpl)-1])
			xe += b*b - a*a
		}
		if xe*te < 1e-12 {
			continue
		}
		var s float64
		for j, v := range tpl {
			s += float64(x[i+j]) * float64(v)
		}
		corr[i] = s / math.Sqrt(xe*te)
	}
	var peaks []int
	for i := 0; i < n; {
		if corr[i] < thresh {
			i++
			continue
		}
		best := i
		for j := i; j < n && j < i+minGap; j++ {
			if corr[j] > corr[best] {
				best = j
			}
		}
		if len(peaks) > 0 && best-peaks[len(peaks)-1] < minGap {
			i = best + 1
			continue
		}
		peaks = append(peaks, best)
		i = best + minGap
	}
	return peaks
}

// samplesBetween is the number of samples from t0 to t at rate (0 if t
// is before t0).
func samplesBetween(t0, t time.Time, rate int) int {
	return max(0, int(t.Sub(t0).Seconds()*float64(rate)))
}

// measureMaxLag bounds how long Measure waits for the recordings to start,
// and, past the time the signal and its echoes are captured, for the
// recordings to hold them.
const measureMaxLag = 5 * time.Second

// waitFor polls done every 10 ms until it holds or deadline passes (then
// the analysis reports what is missing); it fails if the server goes or
// ends one of the recordings rs.
func (c *Client) waitFor(deadline time.Time, done func() bool, rs ...*recorder) error {
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for {
		for _, r := range rs {
			if err := r.error(); err != nil {
				return c.wrap("record "+r.source, err)
			}
		}
		if done() || !time.Now().Before(deadline) {
			return nil
		}
		select {
		case <-tick.C:
		case <-c.gone:
			return c.wrap("measure", fmt.Errorf("%w", ErrServerGone))
		}
	}
}

// recorder is a record stream that keeps mono float32 samples and the
// estimated wall-clock time of sample 0.
type recorder struct {
	recordStream
	source string
	rate   int

	mu   sync.Mutex
	buf  []float32
	t0   time.Time
	err  error
	done bool
}

// count is the number of samples received so far.
func (r *recorder) count() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.buf)
}

// recordedUntil is the estimated capture time of the end of the samples
// received so far (zero before any).
func (r *recorder) recordedUntil() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.t0.IsZero() {
		return time.Time{}
	}
	return r.t0.Add(time.Duration(len(r.buf)) * time.Second / time.Duration(r.rate))
}

func (c *Client) startRecord(source string, rate int) (*recorder, error) {
	r := &recorder{recordStream: recordStream{c: c}, source: source, rate: rate}
	req := &proto.CreateRecordStream{
		SampleSpec:         proto.SampleSpec{Format: proto.FormatFloat32LE, Channels: 1, Rate: uint32(rate)},
		ChannelMap:         proto.ChannelMap{proto.ChannelMono},
		SourceIndex:        proto.Undefined,
		SourceName:         source,
		BufferMaxLength:    proto.Undefined, // a small maxlength makes PipeWire drop data
		Corked:             true,
		BufferFragSize:     uint32(rate * 4 * 5 / 1000),
		AdjustLatency:      true,
		DirectOnInputIndex: proto.Undefined,
		Properties:         proto.PropList{"media.name": proto.PropListString("loops audio measure"), "media.role": proto.PropListString("test")},
		ChannelVolumes:     proto.ChannelVolumes{uint32(proto.VolumeNorm)},
	}
	if err := r.open(source, req, r.handle); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *recorder) handle(msg any) {
	now := time.Now()
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m := msg.(type) {
	case *proto.DataPacket:
		if r.done {
			return
		}
		for i := 0; i+4 <= len(m.Data); i += 4 {
			r.buf = append(r.buf, math.Float32frombits(binary.LittleEndian.Uint32(m.Data[i:])))
		}
		// Sample 0 was captured no later than now minus the buffered length.
		t0 := now.Add(-time.Duration(len(r.buf)) * time.Second / time.Duration(r.rate))
		if r.t0.IsZero() || t0.Before(r.t0) {
			r.t0 = t0
		}
	case *proto.RecordStreamKilled:
		r.err = fmt.Errorf("the server ended the recording of %s", r.source)
	}
}

func (r *recorder) samples() ([]float32, time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.done = true
	return append([]float32(nil), r.buf...), r.t0
}

func (r *recorder) error() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// stop deletes the stream; it may be called more than once.
// recordStream is a record stream on the server, corked until open
// registers its handler; Measure's recorder and the meter's embed it.
type recordStream struct {
	c     *Client
	index uint32
	once  sync.Once // stop
}

// open creates the stream req describes, routes its messages to handle,
// and starts it; on error nothing is left on the server.
func (s *recordStream) open(source string, req *proto.CreateRecordStream, handle func(any)) error {
	var rpl proto.CreateRecordStreamReply
	if err := s.c.request("record from "+source, req, &rpl); err != nil {
		return err
	}
	s.index = rpl.StreamIndex
	s.c.mu.Lock()
	s.c.records[s.index] = handle
	s.c.mu.Unlock()
	if err := s.c.request("start recording", &proto.CorkRecordStream{StreamIndex: s.index, Corked: false}, nil); err != nil {
		s.stop()
		return err
	}
	return nil
}

// stop deletes the stream, once.
func (s *recordStream) stop() {
	s.once.Do(func() {
		s.c.mu.Lock()
		delete(s.c.records, s.index)
		s.c.mu.Unlock()
		s.c.request("stop recording", &proto.DeleteRecordStream{StreamIndex: s.index}, nil)
	})
}

// player is a playback stream fed from a buffer, then with silence.
type player struct {
	c     *Client
	index uint32
	once  sync.Once // stop

	mu   sync.Mutex
	data []byte
	pos  int
}

func (c *Client) startPlayback(sink string, rate int, signal []float32) (*player, error) {
	p := &player{c: c, data: make([]byte, 4*len(signal))}
	for i, v := range signal {
		binary.LittleEndian.PutUint32(p.data[4*i:], math.Float32bits(v))
	}
	req := &proto.CreatePlaybackStream{
		SampleSpec:            proto.SampleSpec{Format: proto.FormatFloat32LE, Channels: 1, Rate: uint32(rate)},
		ChannelMap:            proto.ChannelMap{proto.ChannelMono},
		SinkIndex:             proto.Undefined,
		SinkName:              sink,
		BufferMaxLength:       uint32(len(p.data) + rate*4),
		Corked:                true,
		BufferTargetLength:    uint32(rate * 4 * 20 / 1000),
		BufferPrebufferLength: proto.Undefined,
		BufferMinimumRequest:  proto.Undefined,
		ChannelVolumes:        proto.ChannelVolumes{uint32(proto.VolumeNorm)},
		AdjustLatency:         true,
		Properties:            proto.PropList{"media.name": proto.PropListString("loops audio measure"), "media.role": proto.PropListString("test")},
	}
	var rpl proto.CreatePlaybackStreamReply
	if err := c.request("play into "+sink, req, &rpl); err != nil {
		return nil, err
	}
	p.index = rpl.StreamIndex
	c.mu.Lock()
	c.playbacks[p.index] = p.handle
	c.mu.Unlock()
	// The whole signal at once: the server buffers it (maxlength) and plays
	// it at its own pace; later requests get silence.
	p.write(len(p.data))
	if err := c.request("start playing", &proto.CorkPlaybackStream{StreamIndex: p.index, Corked: false}, nil); err != nil {
		p.stop()
		return nil, err
	}
	return p, nil
}

func (p *player) handle(msg any) {
	if m, ok := msg.(*proto.Request); ok {
		p.write(int(m.Length))
	}
}

// write sends n bytes: the signal, then silence.
func (p *player) write(n int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	n -= n % 4
	if n <= 0 {
		return
	}
	out := make([]byte, n)
	if p.pos < len(p.data) {
		p.pos += copy(out, p.data[p.pos:])
	}
	p.c.pc.Send(p.index, out)
}

// stop deletes the stream; it may be called more than once.
func (p *player) stop() {
	p.once.Do(func() {
		p.c.mu.Lock()
		delete(p.c.playbacks, p.index)
		p.c.mu.Unlock()
		p.c.request("stop playing", &proto.DeletePlaybackStream{StreamIndex: p.index}, nil)
	})
}
