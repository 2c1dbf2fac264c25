package packager

import (
	"fmt"
	"sort"
	"time"
)

// keyCutTolerance absorbs the millisecond rounding of RTMP timestamps: a key
// frame 1 ms short of the segment target still starts a segment, instead of
// doubling it.
const keyCutTolerance = 2 * time.Millisecond

// followerSkew is how far a follower's samples may run ahead of its
// leader's cuts before it cuts on its own (rule 4): the interleaving slack
// of real muxers (RTMP is tight; MPEG-TS can be ahead by a second).
const followerSkew = 2 * time.Second

// maxPendingCuts bounds the leader cuts a follower remembers (a follower that
// stops receiving samples must not grow without bound).
const maxPendingCuts = 16

// segmenter decides where a track's segments end. Samples of the open segment
// stay in memory (as the publisher's buffers, not copied) until it closes;
// then they are encoded once into a CMAF segment. With parts on, the
// chunker encodes them into parts as the segment grows instead, and the
// segment is made of its parts' bytes (chunker.go).
//
// The stream's leader track is its first video track, or its first audio
// track when there is no video. Other tracks follow the leader so that all
// renditions switch at the same instants. For a sample about to join the
// open segment, the rules are, in order:
//
//  1. Gap: a sample that does not start where the open segment ends (a
//     timestamp jump) closes it; a trun's samples are contiguous in time.
//
//  2. Leader: the leader closes its segment at the first key frame whose DTS
//     is at least the segment start plus SegmentTarget (measured from the
//     segment start, less 2 ms for millisecond-rounded timestamps). Audio is
//     all key frames, so audio-only streams cut at the first frame at or
//     after the target. After a forced cut (rule 4) the next key frame cuts
//     at once, to get back onto GOP boundaries.
//
//  3. Followers cut at the first sample whose DTS is at or after the
//     leader's cut. A follower's open segment is split retroactively when the
//     leader's cut becomes known, so audio that arrives ahead of video still
//     splits exactly where the video did.
//
//  4. Never longer than TargetDuration: rfc8216bis 4.4.3.1 requires the
//     EXTINF rounded to the nearest integer to be at most
//     EXT-X-TARGETDURATION; the leader keeps its exact duration at most
//     TargetDuration. A leader sample that would make the open segment longer
//     closes it first, key frame or not. When the encoder's keyframe interval
//     is longer than the target duration (OBS "auto" keyframes come every
//     ~8.3 s), segments are therefore cut mid-GOP: the segment after such a
//     cut starts without a key frame and has Independent=false (players start
//     at the next independent segment). The session logs this once at Warn
//     with a hint for the streamer ("set the encoder's keyframe interval to
//     2 s (OBS: Keyframe Interval 2)") and
//     liveorigin_packager_forced_cuts_total counts it.
//
//     Followers may end up to one of their own samples (an audio frame, at
//     most 120 ms) beyond TargetDuration, and only to stay aligned: with 2 s
//     video segments and TargetDuration 2 s, audio framed at 21.3 ms cannot
//     both switch where the video switches and never exceed 2 s; forcing it
//     would drift the audio cuts away from the video ones and leave one-frame
//     segments behind. Such a segment still satisfies 4.4.3.1. A follower
//     whose leader stops cutting (video stalls, or lags by more than 2 s) is
//     cut where its last sample starts before the limit.
//
// TargetDuration is fixed when the stream's first leader segment closes, to
// max(ceil(SegmentTarget), that segment's duration rounded up to whole
// seconds), capped at MaxTargetDuration, and it stays for the stream's life,
// across reconnects. Until then the leader's segments may grow to
// MaxTargetDuration and the followers' to ceil(SegmentTarget), so no segment
// ever exceeds the TargetDuration chosen later.
type segmenter struct {
	open []sample
	// cuts are leader cut instants (in this track's timescale) not yet
	// applied to this follower, oldest first.
	cuts []uint64
	// cutsAt are when the leader key frames of cuts arrived (parallel to
	// cuts): the start of the follower segments' publish delay.
	cutsAt []time.Time
	// discNext flags the next segment as the first of a new period.
	discNext bool
	// seq is the next segment's sequence number; 0 until the first segment.
	seq uint64
	// dropUntil, when not 0, drops follower samples that start before it
	// (stream.leaderStart).
	dropUntil uint64
	// openBytes is the media of the open samples not yet in a part; with
	// partPayload it is what Options.MaxSegmentBytes bounds.
	openBytes int
	// lastDur is the duration of the newest sample (pendingMinEnd).
	lastDur uint32
}

// dropBefore drops the open samples, and those still to come, that start
// before tick c (stream.leaderStart).
func (tr *track) dropBefore(c uint64) {
	k := sort.Search(len(tr.open), func(i int) bool { return tr.open[i].dts >= c })
	for range k {
		tr.dropped(dropTooEarly)
	}
	tr.dropOpen(k)
	tr.dropUntil = c
}

// dropOpen removes the first k open samples (now in a segment) and drops
// their references to the publisher's buffers.
func (tr *track) dropOpen(k int) {
	for _, s := range tr.open[:k] {
		tr.openBytes -= len(s.data)
	}
	n := copy(tr.open, tr.open[k:])
	clear(tr.open[n:])
	tr.open = tr.open[:n]
}

// segmentBytes is the media of the segment in progress, the held-back
// video frame included.
func (tr *track) segmentBytes() int {
	n := tr.openBytes + tr.partPayload
	if tr.hasPending {
		n += len(tr.pending.data)
	}
	return n
}

// maxDuration is the longest segment the track may produce now, in ticks.
func (tr *track) maxDuration() uint64 {
	st := tr.st
	switch {
	case st.tdFixed:
		return tr.durTicks(st.targetDuration)
	case tr.leader:
		return tr.durTicks(st.maxTargetDuration())
	default:
		return tr.durTicks(ceilSeconds(st.r.opts.SegmentTarget))
	}
}

// keyCut reports whether s is a leader key frame that starts a new segment.
func (tr *track) keyCut(s sample) bool {
	if !tr.leader || !s.key || len(tr.open) == 0 {
		return false
	}
	first := tr.open[0]
	if !first.key {
		return true // back onto GOP boundaries after a forced cut
	}
	// Compare presentation times: a source whose decode times only settle
	// after the first frames (an RTP or MPEG-TS DTS derived from PTS, where
	// the first key frame has DTS = PTS and later ones lag by the reorder
	// delay) would otherwise miss the key frame that is due and double the
	// first segment.
	return s.pts()+int64(tr.durTicks(keyCutTolerance)) >= first.pts()+int64(tr.durTicks(tr.st.r.opts.SegmentTarget))
}

// commit adds a sample whose duration is known to the open segment, closing
// the open segment first when a rule says so.
func (tr *track) commit(s sample) {
	if tr.dropUntil > 0 {
		if s.dts < tr.dropUntil {
			tr.dropped(dropTooEarly) // from before the leader's start (leaderStart)
			return
		}
		tr.dropUntil = 0
	}
	if n := len(tr.open); n > 0 {
		last := tr.open[n-1]
		switch {
		case s.dts != last.dts+uint64(last.dur):
			tr.cut(s, false)
		case tr.keyCut(s):
			tr.cut(s, false)
		case tr.leader && s.dts+uint64(s.dur)-tr.open[0].dts > tr.maxDuration():
			tr.cut(s, true)
		}
	}
	tr.open = append(tr.open, s)
	tr.openBytes += len(s.data)
	tr.lastDur = s.dur
	if !tr.leader {
		tr.applyCuts()
		tr.splitAtLimit(tr.durTicks(followerSkew))
	}
	tr.cutParts()
}

// cut closes the open segment before sample next.
func (tr *track) cut(next sample, forced bool) {
	tr.closeOpen()
	if forced && !next.key {
		tr.forcedCut()
	}
	if tr.leader {
		tr.st.leaderCut(next.dts, tr.cfg.timescale)
		return
	}
	// Leader cuts at or within the sample that now starts a segment are done.
	tr.dropCuts(next.dts + uint64(next.dur))
}

func (tr *track) forcedCut() {
	st := tr.st
	st.r.metrics.forcedCuts.WithLabelValues(st.name).Inc()
	if sess := st.sess; sess != nil && !sess.warnedForcedCut {
		sess.warnedForcedCut = true
		target := st.r.opts.SegmentTarget
		sess.log.Warn(fmt.Sprintf("segment cut without a key frame: the encoder's keyframe interval is longer than "+
			"the %v target duration, so players cannot start on every segment; set the encoder's keyframe interval "+
			"to %v (OBS: Keyframe Interval %g)", st.targetDuration, target, target.Seconds()),
			"track", tr.name)
	}
}

// addCut queues a leader cut for this follower and applies what it can.
func (tr *track) addCut(c uint64) {
	if len(tr.cuts) == maxPendingCuts {
		tr.popCuts(1)
	}
	tr.cuts = append(tr.cuts, c)
	tr.cutsAt = append(tr.cutsAt, tr.st.auAt)
	tr.applyCuts()
}

// applyCuts splits the open segment at the queued leader cuts for which a
// sample at or after the cut has arrived.
func (tr *track) applyCuts() {
	for len(tr.cuts) > 0 && len(tr.open) > 0 {
		c := tr.cuts[0]
		if c <= tr.open[0].dts {
			tr.popCuts(1)
			continue
		}
		start := tr.open[0].dts
		k := sort.Search(len(tr.open), func(i int) bool { return tr.open[i].dts >= c })
		if k == len(tr.open) {
			return // no sample at or after the cut yet
		}
		if tr.open[k-1].dts-start >= tr.maxDuration() {
			// The leader cut too late for this follower (its first segment
			// started much earlier): cut at the limit first.
			tr.splitAtLimit(0)
			continue
		}
		tr.cutAt = tr.cutsAt[0]
		tr.closeSegment(k)
		tr.cutAt = time.Time{}
	}
}

func (tr *track) dropCuts(through uint64) {
	i := 0
	for i < len(tr.cuts) && tr.cuts[i] <= through {
		i++
	}
	tr.popCuts(i)
}

// popCuts forgets the n oldest cuts.
func (tr *track) popCuts(n int) {
	tr.cuts = append(tr.cuts[:0], tr.cuts[n:]...)
	tr.cutsAt = append(tr.cutsAt[:0], tr.cutsAt[n:]...)
}

// splitAtLimit is rule 4 for a follower: once its open segment reaches
// slack beyond the limit without a leader cut (the leader stalled, or lags
// by more than slack), it is cut where its last sample starts before the
// limit. Waiting out the slack lets a leader cut that is merely late still
// split the follower exactly.
func (tr *track) splitAtLimit(slack uint64) {
	limit := tr.maxDuration()
	for len(tr.open) > 1 {
		start := tr.open[0].dts
		if tr.open[len(tr.open)-1].dts-start < limit+slack {
			return
		}
		k := sort.Search(len(tr.open), func(i int) bool { return tr.open[i].dts >= start+limit })
		k = max(k, 1)
		if k == len(tr.open) {
			return
		}
		next := tr.open[k]
		tr.closeSegment(k)
		if !next.key {
			tr.forcedCut()
		}
	}
}

// closeOpen closes all open samples. A follower's open segment may have
// grown past the limit while it waited for the leader: it is split first.
func (tr *track) closeOpen() {
	if !tr.leader {
		tr.splitAtLimit(0)
	}
	tr.closeSegment(len(tr.open))
}

// closeSegment encodes the first k open samples as a segment and keeps the
// rest open.
func (tr *track) closeSegment(k int) {
	if k == 0 {
		return
	}
	if tr.partsOn() {
		tr.closeSegmentParts(k)
		return
	}
	st := tr.st
	samples := tr.open[:k]
	first, last := samples[0], samples[k-1]
	seq := st.nextSeq(tr)
	period := st.visiblePeriod()
	data, payload, err := encodeSegment(samples, seq)
	// Drop the references to the publisher's buffers either way.
	tr.dropOpen(k)
	if err != nil {
		// Cannot happen for sizes we accept; never take the stream down for it.
		tr.anomaly(anomalyMalformed)
		st.sessionLog().Error("packager: drop segment", "track", tr.name, "err", err)
		return
	}
	seg := tr.newSegment(seq, first, last, data, period)
	tr.finishSegment(seg, segmentStat{samples: k, payload: payload})
}

// finishSegment adds a closed segment to the track's window.
func (tr *track) finishSegment(seg *Segment, stat segmentStat) {
	st := tr.st
	tr.discNext = false
	if tr.leader && !st.tdFixed {
		st.fixTargetDuration(seg.Length())
	}
	tr.mSegments.Inc()
	tr.mDuration.Observe(seg.Length().Seconds())
	st.appendSegment(tr, seg, stat)
}

// newSegment describes the segment of samples first..last with its encoded
// bytes, in period, for both the whole-segment and the parts paths.
func (tr *track) newSegment(seq uint64, first, last sample, data []byte, period *Period) *Segment {
	return &Segment{
		Seq:           seq,
		Start:         first.dts,
		Duration:      last.dts + uint64(last.dur) - first.dts,
		Timescale:     tr.cfg.timescale,
		Data:          data,
		ETag:          segmentETag(first.dts, data),
		Init:          tr.cfg.init,
		Period:        period.ID,
		Discontinuity: tr.discNext,
		Independent:   first.key,
	}
}
