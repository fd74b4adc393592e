package audioloop

import (
	"encoding/binary"
	"fmt"
	"math"
	"sync"
	"time"

	"github.com/jfreymuth/pulse/proto"
)

// MeterRequest says which loopback to meter.
type MeterRequest struct {
	// Source and Sink pick the loopback (a name, an index or a unique part
	// of a description, as for On). With neither, the loopback metered is
	// loops' (a running one first), else any; with no loopback at all, the
	// default source and sink.
	Source, Sink string
	// Mic meters a virtual microphone (see MicOn) instead: the mic as the
	// source, and as the sink what feeds it (the sink it is fed from, or
	// the application's sink), through the loopback that feeds it.
	Mic string
}

// Meter is a live level meter of a loopback's two ends: it records the
// source and the sink's monitor with record streams of its own, as
// pavucontrol's meters do, and never touches the loopback's streams nor
// the devices' latency or suspend state (its streams ask for no latency
// and let idle devices suspend).
type Meter struct {
	// Source and Sink are the loopback's ends; SinkMonitor is the source
	// recorded for the sink (its monitor).
	Source, Sink Device
	SinkMonitor  string
	// Module is the loopback's module, or NoIndex when no loopback
	// connects Source to Sink.
	Module uint32

	c        *Client
	src, snk *levelRecorder
	last     time.Time
}

// MeterReading is one interval of a Meter.
type MeterReading struct {
	// Interval is the time since the previous reading (or the start).
	Interval time.Duration
	// Loopback is the loopback from Source to Sink as it is now (its State
	// says whether it runs), or nil when there is none.
	Loopback *Loopback
	// Source and Sink are the levels over the interval.
	Source, Sink Level
}

// SilenceDBFS is the level under which Level.Silent holds: below any
// microphone's noise floor, above the dither of 16-bit audio.
const SilenceDBFS = -70.0

// Level is the signal of one end over an interval, of its loudest channel.
type Level struct {
	// Frames is how many sample frames arrived. 0 means the server sent
	// nothing: the device is suspended (nothing plays into it), or the
	// data is still on its way.
	Frames int
	// Peak is the largest absolute sample, RMS the root mean square, both
	// of the loudest channel, linear: 1 is full scale.
	Peak, RMS float64
}

// PeakDBFS is Peak in dB relative to full scale (-Inf for digital silence).
func (l Level) PeakDBFS() float64 { return dbfs(l.Peak) }

// RMSDBFS is RMS in dB relative to full scale (a full-scale square wave is
// 0 dBFS, a full-scale sine -3 dBFS; -Inf for digital silence).
func (l Level) RMSDBFS() float64 { return dbfs(l.RMS) }

// Silent: nothing arrived, or the peak is below SilenceDBFS.
func (l Level) Silent() bool { return l.Frames == 0 || l.PeakDBFS() < SilenceDBFS }

func dbfs(v float64) float64 {
	if v <= 0 {
		return math.Inf(-1)
	}
	return 20 * math.Log10(v)
}

// Meter starts metering the loopback req picks. Read it at the interval
// you want; Close it when done. It needs no privilege and plays nothing.
func (c *Client) Meter(req MeterRequest) (*Meter, error) {
	if req.Mic != "" {
		return c.meterMic(req.Mic)
	}
	si, err := c.ServerInfo()
	if err != nil {
		return nil, err
	}
	sinks, err := c.sinks(si)
	if err != nil {
		return nil, err
	}
	sources, err := c.sources(si)
	if err != nil {
		return nil, err
	}
	lbs, err := c.Loopbacks()
	if err != nil {
		return nil, err
	}
	var src, snk Device
	if req.Source != "" {
		if src, err = Resolve("source", req.Source, sources); err != nil {
			return nil, err
		}
	}
	if req.Sink != "" {
		if snk, err = Resolve("sink", req.Sink, sinks); err != nil {
			return nil, err
		}
	}
	m := &Meter{c: c, Module: NoIndex}
	if lb, ok := pickLoopback(lbs, src.Name, snk.Name); ok {
		m.Module = lb.Module
		if src.Name == "" {
			src, _ = resolveOrDefault("source", firstOf(lb.Source, lb.ArgSource), si.DefaultSource, sources)
		}
		if snk.Name == "" {
			snk, _ = resolveOrDefault("sink", firstOf(lb.Sink, lb.ArgSink), si.DefaultSink, sinks)
		}
	}
	if src.Name == "" {
		if src, err = resolveOrDefault("source", "", si.DefaultSource, sources); err != nil {
			return nil, err
		}
	}
	if snk.Name == "" {
		if snk, err = resolveOrDefault("sink", "", si.DefaultSink, sinks); err != nil {
			return nil, err
		}
	}
	m.Source, m.Sink, m.SinkMonitor = src, snk, snk.Monitor
	return m, m.start(si)
}

// meterMic meters the mic called name and what feeds it.
func (c *Client) meterMic(name string) (*Meter, error) {
	var snap snapshot
	if err := c.fetchMics(&snap); err != nil {
		return nil, err
	}
	si := serverInfoFrom(snap.info)
	mic := snap.mics()[name]
	if mic == nil || mic.Source.Index == NoIndex {
		return nil, &DeviceError{Kind: "mic", Query: name}
	}
	feeder := firstOf(mic.FromSink, firstOf(mic.AppSink, mic.FeedSink))
	m := &Meter{c: c, Module: NoIndex, Source: mic.Source}
	for _, d := range sinksFrom(snap.sinks, si) {
		if d.Name == feeder {
			m.Sink, m.SinkMonitor = d, d.Monitor
		}
	}
	if m.Sink.Name == "" {
		return nil, &DeviceError{Kind: "sink", Query: feeder, Candidates: sinksFrom(snap.sinks, si)}
	}
	for _, lb := range mic.Loopbacks {
		if lb.ID == name+"-"+MicRoleFrom {
			m.Module = lb.Module
		}
	}
	return m, m.start(si)
}

// start starts the two recordings.
func (m *Meter) start(si ServerInfo) error {
	c, src, snk := m.c, m.Source, m.Sink
	var err error
	rate := int(si.SampleRate)
	if rate < 8000 || rate > 192000 {
		rate = 48000
	}
	if m.src, err = c.startLevelRecord(src.Name, rate); err != nil {
		return err
	}
	if m.snk, err = c.startLevelRecord(snk.Monitor, rate); err != nil {
		m.src.stop()
		return err
	}
	m.last = time.Now()
	return nil
}

// pickLoopback is the loopback from src to snk ("" matches any end),
// loops' first, a running one first.
func pickLoopback(lbs []Loopback, src, snk string) (Loopback, bool) {
	best, score := Loopback{}, -1
	for _, lb := range lbs {
		if src != "" && firstOf(lb.Source, lb.ArgSource) != src || snk != "" && firstOf(lb.Sink, lb.ArgSink) != snk {
			continue
		}
		s := 0
		if lb.Loops {
			s += 2
		}
		if lb.State == "running" {
			s++
		}
		if s > score {
			best, score = lb, s
		}
	}
	return best, score >= 0
}

func firstOf(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// Read returns the levels since the previous Read (or since Meter) and the
// loopback's state now. It fails when the server goes or ends a recording
// (the device went away).
func (m *Meter) Read() (MeterReading, error) {
	for _, r := range []*levelRecorder{m.src, m.snk} {
		if err := r.error(); err != nil {
			return MeterReading{}, m.c.wrap("meter "+r.source, err)
		}
	}
	select {
	case <-m.c.gone:
		return MeterReading{}, m.c.wrap("meter", fmt.Errorf("%w", ErrServerGone))
	default:
	}
	now := time.Now()
	rd := MeterReading{Interval: now.Sub(m.last), Source: m.src.take(), Sink: m.snk.take()}
	m.last = now
	lbs, err := m.c.Loopbacks()
	if err != nil {
		return MeterReading{}, err
	}
	// The same module, or else (it was unloaded and loaded again) a
	// loopback between the same ends.
	var byEnds *Loopback
	for _, lb := range lbs {
		if lb.Module == m.Module {
			rd.Loopback = &lb
			break
		}
		if byEnds == nil && firstOf(lb.Source, lb.ArgSource) == m.Source.Name && firstOf(lb.Sink, lb.ArgSink) == m.Sink.Name {
			byEnds = &lb
		}
	}
	if rd.Loopback == nil && byEnds != nil {
		rd.Loopback = byEnds
		m.Module = byEnds.Module
	}
	return rd, nil
}

// Close stops the recordings.
func (m *Meter) Close() error {
	m.src.stop()
	m.snk.stop()
	return nil
}

// meterChannels is how many channels the meter records: a stereo pair, so
// a signal on one side reads at its level (a mono recording would average
// it 6 dB down); mono devices are upmixed to both.
const meterChannels = 2

// levelRecorder is a record stream that keeps, per channel, the peak and
// the sum of squares since the last take.
type levelRecorder struct {
	recordStream
	source string

	mu     sync.Mutex
	frames int
	peak   [meterChannels]float64
	sumSq  [meterChannels]float64
	err    error
}

// startLevelRecord records source for a meter. Unlike Measure's recorder,
// it asks the server for no latency (no adjust_latency, no early
// requests), so it does not make the device run at a smaller block size
// than the loopback set, and it lets an idle device suspend.
func (c *Client) startLevelRecord(source string, rate int) (*levelRecorder, error) {
	r := &levelRecorder{recordStream: recordStream{c: c}, source: source}
	req := &proto.CreateRecordStream{
		SampleSpec:             proto.SampleSpec{Format: proto.FormatFloat32LE, Channels: meterChannels, Rate: uint32(rate)},
		ChannelMap:             proto.ChannelMap{proto.ChannelLeft, proto.ChannelRight},
		SourceIndex:            proto.Undefined,
		SourceName:             source,
		BufferMaxLength:        proto.Undefined,
		Corked:                 true,
		BufferFragSize:         uint32(rate * 4 * meterChannels * 20 / 1000),
		NoMove:                 true,
		DontInhibitAutoSuspend: true,
		DirectOnInputIndex:     proto.Undefined,
		Properties:             proto.PropList{"media.name": proto.PropListString("loops audio meter"), "media.role": proto.PropListString("test")},
		ChannelVolumes:         proto.ChannelVolumes{uint32(proto.VolumeNorm), uint32(proto.VolumeNorm)},
	}
	if err := r.open(source, req, r.handle); err != nil {
		return nil, err
	}
	return r, nil
}

func (r *levelRecorder) handle(msg any) {
	r.mu.Lock()
	defer r.mu.Unlock()
	switch m := msg.(type) {
	case *proto.DataPacket:
		const frame = 4 * meterChannels
		for i := 0; i+frame <= len(m.Data); i += frame {
			for ch := 0; ch < meterChannels; ch++ {
				v := float64(math.Float32frombits(binary.LittleEndian.Uint32(m.Data[i+4*ch:])))
				if a := math.Abs(v); a > r.peak[ch] {
					r.peak[ch] = a
				}
				r.sumSq[ch] += v * v
			}
			r.frames++
		}
	case *proto.RecordStreamKilled:
		r.err = fmt.Errorf("the server ended the recording of %s", r.source)
	}
}

// take returns the level since the last take and starts a new interval.
func (r *levelRecorder) take() Level {
	r.mu.Lock()
	defer r.mu.Unlock()
	l := Level{Frames: r.frames}
	for ch := 0; ch < meterChannels; ch++ {
		l.Peak = max(l.Peak, r.peak[ch])
		if r.frames > 0 {
			l.RMS = max(l.RMS, math.Sqrt(r.sumSq[ch]/float64(r.frames)))
		}
	}
	r.frames, r.peak, r.sumSq = 0, [meterChannels]float64{}, [meterChannels]float64{}
	return l
}

func (r *levelRecorder) error() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.err
}

// stop deletes the stream; it may be called more than once.
