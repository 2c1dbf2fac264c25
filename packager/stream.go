package packager

import (
	"log/slog"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// stream is one stream name's live state: its renditions, periods and the
// newest Timeline snapshot. Ingest work runs on the publisher's goroutine
// under mu; readers only load current.
type stream struct {
	r    *Registry
	name string
	log  *slog.Logger

	// current is the newest snapshot; readers never lock.
	current atomic.Pointer[Timeline]

	mu         sync.Mutex
	version    uint64
	created    time.Time
	sess       *session // the live publisher; nil while waiting or ended
	lastSess   *session // the newest session, for StreamInfo
	graceUntil time.Time
	ended      bool
	removeAt   time.Time
	closing    bool // the Registry is shutting down
	removed    bool // taken out of the Registry

	tracks []*track // video first, then audio; tracks[0] is the leader
	layout string   // rendition names, e.g. "v0,a0"

	targetDuration time.Duration
	tdFixed        bool
	seqBase        uint64
	seqSet         bool

	periods     []*Period // periods with segments held, oldest first
	periodOpen  bool      // a period has started (it becomes visible with its first segment)
	period      *Period   // the open period once visible
	periodStart int64     // the open period's start in ns since the epoch
	hadVisible  bool      // some period had a segment: the next one is a discontinuity
	prevEnd     int64     // ns since the epoch where the newest segment ends
	dirty       bool      // segments or parts changed since the last snapshot
	segChanged  bool      // segments changed since the last snapshot (dirty alone: only parts)
	bytesHeld   int
	longestPart time.Duration // the longest part so far, whole ms (Timeline.PartTarget)

	// auAt is when the access unit being packaged arrived (or the period
	// was flushed); unpublished are the segments made since the last
	// snapshot (observe.go).
	auAt        time.Time
	unpublished []unpublishedSegment
}

func newStream(r *Registry, name string, now time.Time) *stream {
	st := &stream{
		r:              r,
		name:           name,
		log:            r.log.With("stream", name),
		created:        now,
		targetDuration: ceilSeconds(r.opts.SegmentTarget),
	}
	r.metrics.streamsActive.Inc()
	r.metrics.initStream(name)
	st.publishLocked(now) // the first snapshot, so Changed works from the start
	st.emit(StreamStarted)
	return st
}

func (st *stream) maxTargetDuration() time.Duration {
	return st.r.opts.MaxTargetDuration.Truncate(time.Second)
}

// effectiveWindow is max(Window, 3*TargetDuration) (rfc8216bis 6.2.2).
func (st *stream) effectiveWindow() time.Duration {
	return max(st.r.opts.Window, 3*st.targetDuration)
}

// renditionNames names a session's tracks by kind and order ("v0", "v1",
// "a0") and returns the layout: the names in stream order.
func renditionNames(cfgs []trackConfig) (names []string, layout string) {
	names = make([]string, len(cfgs))
	var video, audio []string
	for i, c := range cfgs {
		if c.track.Kind == ingest.Video {
			names[i] = "v" + strconv.Itoa(len(video))
			video = append(video, names[i])
		} else {
			names[i] = "a" + strconv.Itoa(len(audio))
			audio = append(audio, names[i])
		}
	}
	for i, n := range append(video, audio...) {
		if i > 0 {
			layout += ","
		}
		layout += n
	}
	return names, layout
}

// createTracksLocked creates the renditions of a layout.
func (st *stream) createTracksLocked(layout string, cfgs []trackConfig, names []string) {
	st.layout = layout
	kinds := make(map[string]ingest.Kind, len(names))
	for i, n := range names {
		kinds[n] = cfgs[i].track.Kind
	}
	for i, n := range splitLayout(layout) {
		tr := newTrack(st, n, kinds[n], i == 0)
		st.r.metrics.initTrack(st.name, kinds[n].String())
		tr.resetPeriod()
		st.tracks = append(st.tracks, tr)
	}
}

func splitLayout(layout string) []string {
	var out []string
	start := 0
	for i := 0; i <= len(layout); i++ {
		if i == len(layout) || layout[i] == ',' {
			out = append(out, layout[start:i])
			start = i + 1
		}
	}
	return out
}

func (st *stream) track(name string) *track {
	for _, tr := range st.tracks {
		if tr.name == name {
			return tr
		}
	}
	return nil
}

// writeLocked packages one access unit of a session.
func (st *stream) writeLocked(sess *session, tr *track, au ingest.AccessUnit) {
	if len(au.Data) == 0 {
		tr.anomaly(anomalyMalformed)
		tr.dropped(dropMalformed)
		return
	}
	if tr.waitKey && !au.Key {
		tr.dropped(dropNoKeyframe)
		return // undecodable without the key frame before it
	}
	if !st.periodOpen {
		st.openPeriodLocked(sess, tr, au)
	}
	if !tr.mapped && !st.mapTrackLocked(sess, tr, au) {
		tr.dropped(dropTooEarly)
		return
	}
	tr.waitKey = false
	if tr.kind == ingest.Video {
		tr.pushVideo(au)
	} else {
		tr.pushAudio(au)
	}
	if tr.leader && tr.partsOn() {
		// The leader's horizon moved: followers may close parts now.
		for _, f := range st.tracks[1:] {
			f.cutParts()
		}
	}
}

// openPeriodLocked starts a period at the session's first access unit (or
// the first after a configuration change) and anchors the session's
// timestamps to the wall clock (DESIGN decision 2). One offset serves all
// tracks of the session, which keeps them in sync. Time never goes back: a
// returning publisher starts at max(now, end of the previous period), and a
// configuration change continues the session's timeline without a gap.
func (st *stream) openPeriodLocked(sess *session, tr *track, au ingest.AccessUnit) {
	dts := nanos(au.DTS, tr.cfg.track.ClockRate)
	anchor := max(st.r.opts.Now().UnixNano(), st.prevEnd)
	if sess.anchored {
		anchor = max(satAdd(dts, sess.offset), st.prevEnd)
	}
	sess.offset, sess.anchored = satSub(anchor, dts), true
	st.periodOpen, st.period, st.periodStart = true, nil, anchor
	for _, t := range st.tracks {
		t.discNext = st.hadVisible
	}
}

// mapTrackLocked anchors a track at its first access unit of the period.
// Nothing may start before the previous period's end (or, once the period is
// visible, before the period's start): audio from before is dropped, video
// (whose key frame we need) is moved up to it.
func (st *stream) mapTrackLocked(sess *session, tr *track, au ingest.AccessUnit) bool {
	ns := satAdd(nanos(au.DTS, tr.cfg.track.ClockRate), sess.offset)
	lower := st.prevEnd
	if st.period != nil {
		lower = max(lower, int64(st.period.Start))
	}
	if ns < lower {
		if tr.kind == ingest.Audio {
			return false
		}
		ns = lower
	}
	if st.period == nil && (tr.leader || !st.tracks[0].mapped) {
		st.periodStart = min(st.periodStart, ns)
	}
	t := max(ticksAt(ns, tr.cfg.timescale), tr.minStart())
	tr.rebase(au.DTS, t)
	tr.mapped = true
	if tr.leader {
		st.leaderStart(t, tr.cfg.timescale, ns)
	}
	return true
}

// leaderStart: the leader's first segment of the period starts at tick t of
// timescale ts (ns since the epoch). Followers that started earlier (audio
// ahead of the first video key frame) drop what they have from before it
// while nothing of the period is published, and what still comes from
// before it: the segments and parts with the same media sequence number
// then start together in every rendition (players line renditions up by
// number: hls.js, given audio one segment ahead, skipped audio parts and
// stalled at start-up), and the period starts with the video. Once
// something of the period is published, the followers are cut there
// instead (a segment of their own).
func (st *stream) leaderStart(t uint64, ts uint32, ns int64) {
	published := st.period != nil
	for _, f := range st.tracks[1:] {
		published = published || len(f.parts) > 0
	}
	if published {
		st.leaderCut(t, ts)
		return
	}
	for _, f := range st.tracks[1:] {
		f.dropBefore(f.fromTicks(t, ts))
	}
	st.periodStart = ns
}

// endPeriodLocked flushes every track: the held-back and open samples become
// the period's last segments. The leader goes first so that followers still
// see its last cut.
func (st *stream) endPeriodLocked() {
	if !st.periodOpen {
		return
	}
	st.auAt = st.r.opts.Now()
	for _, tr := range st.tracks {
		tr.flush()
		tr.resetPeriod()
	}
	st.periodOpen, st.period = false, nil
}

// visiblePeriod returns the open period, creating its Period when its first
// segment is made.
func (st *stream) visiblePeriod() *Period {
	if st.period == nil {
		st.period = &Period{
			ID:    "p" + strconv.FormatInt(st.periodStart/int64(time.Millisecond), 10),
			Start: time.Duration(st.periodStart),
		}
		st.periods = append(st.periods, st.period)
		st.hadVisible = true
	}
	return st.period
}

// seqEpoch and seqUnit define where a new stream's media sequence numbers
// start: the half-seconds since 2025-01-01. Numbers keep rising across
// process restarts (segments are at least 500 ms long) and stay below 2^31
// until 2059: clients that parse them as 32-bit signed integers (gohlslib,
// hence mediamtx; Java players) read them, though rfc8216bis allows 2^64-1.
var seqEpoch = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

const seqUnit = 500 * time.Millisecond

// seqBaseAt is the first media sequence number of a stream that starts at
// now.
func seqBaseAt(now time.Time) uint64 {
	return uint64(max(now.Sub(seqEpoch)/seqUnit, 0))
}

// nextSeq returns a track's next media sequence number (from seqBaseAt the
// stream's first segment).
func (st *stream) nextSeq(tr *track) uint64 {
	s := st.pendingSeq(tr)
	tr.seq++
	return s
}

// fixTargetDuration sets TargetDuration from the stream's first leader
// segment (see segmenter).
func (st *stream) fixTargetDuration(first time.Duration) {
	td := max(ceilSeconds(st.r.opts.SegmentTarget), ceilSeconds(first))
	st.targetDuration = min(td, st.maxTargetDuration())
	st.tdFixed = true
	// The stream becomes playable now: say how long after its first frame,
	// the figure a viewer waiting for a new stream feels.
	st.sessionLog().Info("first segment ready", "target_duration", st.targetDuration.String(), "first_segment", first.String(),
		"since_first_frame", time.Duration(st.r.opts.Now().UnixNano()-st.periodStart).Round(time.Millisecond).String())
}

// leaderCut tells the followers that the leader started a segment at tick t
// of timescale ts.
func (st *stream) leaderCut(t uint64, ts uint32) {
	for _, f := range st.tracks[1:] {
		f.addCut(f.fromTicks(t, ts))
	}
}

func (st *stream) appendSegment(tr *track, seg *Segment, stat segmentStat) {
	tr.push(seg, stat, st.effectiveWindow())
	st.prevEnd = max(st.prevEnd, nanosAt(tr.end, tr.endTimescale))
	st.dirty, st.segChanged = true, true
	st.segmentMade(tr, seg)
}

// pendingSeq is the Seq the track's open segment will get (nextSeq without
// taking it).
func (st *stream) pendingSeq(tr *track) uint64 {
	if !st.seqSet {
		st.seqBase = seqBaseAt(st.r.opts.Now())
		st.seqSet = true
	}
	if tr.seq == 0 {
		tr.seq = st.seqBase
	}
	return tr.seq
}

// endLocked ends the stream: the last samples are flushed and the final
// snapshot has Ended set. It stays readable for one window.
func (st *stream) endLocked(now time.Time, reason string) {
	if st.ended {
		return
	}
	st.endPeriodLocked()
	st.ended = true
	st.graceUntil = time.Time{}
	st.removeAt = now.Add(st.effectiveWindow())
	st.r.metrics.streamsActive.Dec()
	st.sessionLog().Info("stream ended", "reason", reason)
	st.publishLocked(now)
	st.emit(StreamEnded)
}

// resetLocked turns the stream into a fresh one under the same name (a new
// publisher for an ended stream, or a changed track layout). Snapshot
// versions keep rising and time keeps going forward.
func (st *stream) resetLocked(now time.Time) {
	if st.ended {
		st.r.metrics.streamsActive.Inc()
	}
	st.created = now
	st.ended, st.removeAt, st.graceUntil = false, time.Time{}, time.Time{}
	st.tracks, st.layout = nil, ""
	st.targetDuration, st.tdFixed = ceilSeconds(st.r.opts.SegmentTarget), false
	st.seqSet = false
	st.longestPart = 0
	st.periods, st.periodOpen, st.period, st.hadVisible = nil, false, nil, false
	st.log.Info("stream restarted")
	st.publishLocked(now)
	st.emit(StreamStarted)
}

// expireLocked applies the timers: the reconnect grace, then removal one
// window after the end. It reports whether the stream is to be removed.
func (st *stream) expireLocked(now time.Time) bool {
	if st.closing || st.removed {
		return false
	}
	if !st.ended && st.sess == nil && !st.graceUntil.IsZero() && !now.Before(st.graceUntil) {
		st.endLocked(now, "the publisher did not return within the reconnect grace")
	}
	if st.ended && !now.Before(st.removeAt) {
		st.removed = true
		st.tracks, st.periods = nil, nil // readers keep what they hold; the rest can go
		st.sessionLog().Info("stream removed")
		return true
	}
	return false
}

// publishChangesLocked publishes what changed since the last snapshot: a
// full snapshot when segments changed, a cheap one when only parts did.
func (st *stream) publishChangesLocked(now time.Time) {
	switch {
	case st.segChanged:
		st.publishLocked(now)
	case st.dirty:
		st.publishPartsLocked(now)
	}
}

// publishPartsLocked makes a new snapshot that differs from the current one
// only in the tracks' parts: the windows (segment slices, rates, periods)
// are shared, so a part costs a few small allocations however long the
// window is.
func (st *stream) publishPartsLocked(now time.Time) {
	old := st.current.Load()
	if old == nil || len(old.Tracks) != len(st.tracks) {
		st.publishLocked(now)
		return
	}
	for _, tr := range st.tracks {
		if tr.snap == nil {
			st.publishLocked(now)
			return
		}
	}
	st.dirty = false
	st.version++
	tl := *old
	tl.Version, tl.Updated = st.version, now
	tl.PartTarget = st.partTarget()
	tl.Tracks = make([]*TrackTimeline, len(st.tracks))
	tl.changed = make(chan struct{})
	for i, tr := range st.tracks {
		tl.Tracks[i] = tr.withPending(tr.snap)
	}
	st.swap(&tl)
}

// swap makes tl the current snapshot and wakes those waiting on the old one.
func (st *stream) swap(tl *Timeline) {
	if old := st.current.Swap(tl); old != nil {
		close(old.changed)
	}
}

// publishLocked makes a new snapshot and wakes those waiting on the old one.
func (st *stream) publishLocked(now time.Time) {
	st.dirty, st.segChanged = false, false
	st.version++
	tl := &Timeline{
		Stream:         st.name,
		Version:        st.version,
		Updated:        now,
		Ended:          st.ended,
		TargetDuration: st.targetDuration,
		SegmentTarget:  st.r.opts.SegmentTarget,
		Window:         st.effectiveWindow(),
		Tracks:         make([]*TrackTimeline, len(st.tracks)),
		PartTarget:     st.partTarget(),
		changed:        make(chan struct{}),
	}
	// Keep only periods that still have segments held.
	oldest := len(st.periods)
	for _, tr := range st.tracks {
		if id := tr.oldestPeriod(); id != "" {
			if i := slices.IndexFunc(st.periods, func(p *Period) bool { return p.ID == id }); i >= 0 {
				oldest = min(oldest, i)
			}
		}
	}
	clear(st.periods[:oldest])
	st.periods = st.periods[oldest:]
	tl.Periods = slices.Clone(st.periods)

	held := 0
	var inits []*Init
	for i, tr := range st.tracks {
		tl.Tracks[i] = tr.timeline()
		held += tr.bytesHeld()
		for _, list := range [][]*Segment{tr.segments, tr.retained} {
			for _, seg := range list {
				if !slices.Contains(inits, seg.Init) {
					inits = append(inits, seg.Init)
					held += len(seg.Init.Data)
				}
			}
		}
	}
	st.bytesHeld = held
	st.r.metrics.bytesHeld.WithLabelValues(st.name).Set(float64(held))
	st.swap(tl)
	st.segmentsPublished()
}
