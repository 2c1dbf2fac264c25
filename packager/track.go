package packager

import (
	"math"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

const (
	// audioResync: audio keeps its own running clock (clean frame durations)
	// and only follows the access unit's timestamp when the two disagree by
	// more than this: a real gap or a jump, not millisecond rounding.
	audioResync = 100 * time.Millisecond
	// maxFrameDuration: a video frame lasting longer is a timestamp jump, not
	// a frame rate. It is also the least TargetDuration, so that any frame
	// fits into a segment.
	maxFrameDuration = time.Second
	// defaultFrameDuration stands in for an unknown frame duration (a lone
	// last frame when a period ends).
	defaultFrameDuration = time.Second / 30
)

// sample is one access unit in packaging terms: times in the track's
// timescale, counted from 1970-01-01T00:00:00Z.
type sample struct {
	dts  uint64
	dur  uint32
	cto  int32
	key  bool
	data []byte
}

// pts is the sample's presentation time in the track timescale.
func (s sample) pts() int64 { return int64(s.dts) + int64(s.cto) }

// track is one rendition of a stream ("v0", "a0"): it turns access units into
// timed samples, segments them (segmenter.go) and holds its part of the
// window (store.go). All fields are guarded by the stream's mutex.
type track struct {
	st     *stream
	name   string
	kind   ingest.Kind
	leader bool
	cfg    trackConfig

	// Timestamp mapping for the current period:
	// ticks(dts) = base + rescale(dts - d0, ClockRate, timescale).
	mapped bool
	d0     int64
	base   int64

	// Video: the newest sample waits for the next one to learn its duration.
	pending    sample
	hasPending bool
	waitKey    bool
	prevDur    uint32

	// Audio: the running decode time of the next frame.
	next    uint64
	hasNext bool

	segmenter
	chunker
	store

	mFrames, mBytes, mSegments prometheus.Counter
	mDuration                  prometheus.Observer
	mAnomalies                 map[string]prometheus.Counter
	mDropped                   map[string]prometheus.Counter
	mPartDuration, mDelay      prometheus.Observer

	// Video: the newest key frame's DTS (this period) and the interval
	// between the last two (the GOP duration, for the metrics and the API).
	lastKey    uint64
	hasLastKey bool
	gop        time.Duration
	// cutAt, for a follower, is the arrival time of the leader key frame
	// whose cut is closing the follower's segment (see observe.go).
	cutAt time.Time
}

func newTrack(st *stream, name string, kind ingest.Kind, leader bool) *track {
	m := st.r.metrics
	k := kind.String()
	return &track{
		st: st, name: name, kind: kind, leader: leader,
		mFrames:    m.frames.WithLabelValues(st.name, k),
		mBytes:     m.bytes.WithLabelValues(st.name, k),
		mSegments:  m.segments.WithLabelValues(st.name, k),
		mDuration:  m.segmentDuration.WithLabelValues(k),
		mAnomalies: make(map[string]prometheus.Counter, 3),
		mDropped:   make(map[string]prometheus.Counter, 3),

		mPartDuration: m.partDuration.WithLabelValues(k),
		mDelay:        m.publishDelay.WithLabelValues(k),
	}
}

func (tr *track) anomaly(typ string) {
	c, ok := tr.mAnomalies[typ]
	if !ok {
		c = tr.st.r.metrics.anomalies.WithLabelValues(tr.st.name, tr.kind.String(), typ)
		tr.mAnomalies[typ] = c
	}
	c.Inc()
}

// resetPeriod forgets the timing state of the previous period.
func (tr *track) resetPeriod() {
	tr.mapped, tr.hasPending, tr.hasNext = false, false, false
	tr.pending = sample{}
	tr.prevDur = 0
	tr.waitKey = tr.kind == ingest.Video
	tr.cuts, tr.cutsAt = tr.cuts[:0], tr.cutsAt[:0]
	tr.hasLastKey = false
	tr.dropUntil = 0
}

// ticks maps an access unit timestamp to the track timescale.
func (tr *track) ticks(v int64) int64 {
	return satAdd(tr.base, rescale(satSub(v, tr.d0), tr.cfg.track.ClockRate, tr.cfg.timescale))
}

// rebase maps access unit timestamp v to tick t from now on: the publisher's
// timestamps jumped and the track continues where it was.
func (tr *track) rebase(v int64, t uint64) {
	tr.d0, tr.base = v, int64(min(t, math.MaxInt64))
}

// fromTicks converts tick t of timescale ts to the track's timescale.
func (tr *track) fromTicks(t uint64, ts uint32) uint64 {
	if tr.cfg.timescale == ts {
		return t
	}
	return mulDiv(t, uint64(tr.cfg.timescale), uint64(ts))
}

// minStart is the earliest tick the track may use in a new period: the end
// of its previous segment, so that its time never goes back.
func (tr *track) minStart() uint64 {
	if tr.endTimescale == 0 || tr.endTimescale == tr.cfg.timescale {
		return tr.end
	}
	return mulDiv(tr.end, uint64(tr.cfg.timescale), uint64(tr.endTimescale)) + 1
}

func (tr *track) durTicks(d time.Duration) uint64 { return durationTicks(d, tr.cfg.timescale) }

func (tr *track) prevDurOrDefault() uint32 {
	if tr.prevDur > 0 {
		return tr.prevDur
	}
	return uint32(tr.durTicks(defaultFrameDuration))
}

// pushVideo times a video access unit. Its duration is only known when the
// next one arrives, so the newest one is held back; the one before it is
// committed to the segmenter now.
func (tr *track) pushVideo(au ingest.AccessUnit) {
	dts := max(tr.ticks(au.DTS), 0)
	if tr.hasPending {
		p := tr.pending
		var dur uint64
		switch last := int64(p.dts); {
		case dts <= last && last-dts > int64(tr.durTicks(maxFrameDuration)):
			// The publisher's clock restarted: continue from where we are.
			tr.anomaly(anomalyJump)
			dur = uint64(tr.prevDurOrDefault())
			tr.rebase(au.DTS, p.dts+dur)
			dts = int64(p.dts + dur)
		case dts <= last:
			tr.anomaly(anomalyNonMonotonic)
			dts, dur = last+1, 1
		case uint64(dts-last) > tr.durTicks(maxFrameDuration):
			// A gap: the frame before it keeps a normal duration and the
			// segmenter starts a new segment after the gap.
			tr.anomaly(anomalyJump)
			dur = uint64(tr.prevDurOrDefault())
		default:
			dur = uint64(dts - last)
		}
		p.dur = uint32(dur)
		tr.prevDur = p.dur
		tr.commit(p)
	}
	cto := satSub(tr.ticks(au.PTS), dts)
	cto = max(min(cto, math.MaxInt32), math.MinInt32)
	s := sample{dts: uint64(dts), cto: int32(cto), key: au.Key, data: au.Data}
	if s.key {
		tr.keyFrame(s.dts)
	}
	// A key frame that starts a segment closes the previous one now, one
	// frame earlier than when its own duration is known.
	if tr.keyCut(s) {
		tr.cut(s, false)
	}
	tr.pending, tr.hasPending = s, true
}

// pushAudio times an audio access unit with a running clock of whole frames.
func (tr *track) pushAudio(au ingest.AccessUnit) {
	dur := tr.cfg.frameSamples
	if dur == 0 {
		d, err := ingest.OpusPacketSamples(au.Data)
		if err != nil {
			tr.anomaly(anomalyMalformed)
			tr.dropped(dropMalformed)
			return
		}
		dur = uint32(d) // at most 120 ms at 48 kHz
	}
	t := max(tr.ticks(au.DTS), 0)
	tol := int64(tr.durTicks(audioResync))
	switch diff := satSub(t, int64(tr.next)); {
	case !tr.hasNext:
		tr.next, tr.hasNext = uint64(t), true
	case diff > tol:
		// A gap in the audio: follow it (the segmenter starts a new segment).
		tr.anomaly(anomalyJump)
		tr.next = uint64(t)
	case diff < -tol:
		// Timestamps went back: time must not, so continue from here.
		tr.anomaly(anomalyJump)
		tr.rebase(au.DTS, tr.next)
	}
	s := sample{dts: tr.next, dur: dur, key: true, data: au.Data}
	tr.next += uint64(dur)
	tr.commit(s)
}

// flush commits the held-back sample and closes the open segment: the
// period ends.
func (tr *track) flush() {
	if tr.hasPending {
		p := tr.pending
		p.dur = tr.prevDurOrDefault()
		tr.hasPending = false
		tr.pending = sample{}
		tr.commit(p)
	}
	tr.applyCuts()
	tr.closeOpen()
	tr.cuts, tr.cutsAt = tr.cuts[:0], tr.cutsAt[:0]
}

func satAdd(a, b int64) int64 {
	s := a + b
	if (s > a) != (b > 0) {
		if b > 0 {
			return math.MaxInt64
		}
		return math.MinInt64
	}
	return s
}

func satSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return satAdd(a, -b)
}
