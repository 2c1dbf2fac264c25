package packager

import (
	"sort"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// chunker cuts a track's open segment into parts (LL-HLS partial segments,
// one CMAF chunk each) while the segment grows, so that a part can be served
// long before its segment is complete. The rules:
//
//   - A part never exceeds the part target (Timeline.PartTarget, the
//     configured target rounded up to whole milliseconds, rfc8216bis
//     4.4.4.9): it closes before the sample that would make it longer. To
//     publish a part one frame sooner, it also closes as soon as one more
//     sample of the last one's duration would not fit.
//   - Parts end on sample boundaries; a segment cut also ends the part. A
//     single sample longer than the target is a part of its own (the
//     stream's PartTarget then grows to cover it).
//   - Non-final parts without a key frame are at least 85% of the target
//     (4.4.4.9): a part that would be shorter takes one more sample and the
//     stream's target grows to cover it (shortPart). Audio parts contain key
//     frames only, so they are INDEPENDENT=YES and exempt.
//   - A follower may learn of a segment cut after its samples arrived
//     (segmenter rule 3) and must never have published a part across it: it
//     only puts into parts samples that lie before every cut still possible:
//     the leader's horizon (the earliest instant the leader can still cut
//     at), the leader cuts it has not applied yet, and its own limit.
//
// A segment's bytes are its parts' bytes concatenated, copied once when the
// segment closes; its parts then become views into those bytes, so a part
// costs no memory once its segment exists.
type chunker struct {
	// partStart is the index in open of the first sample not yet in a part.
	partStart int
	// parts are the closed parts of the open segment (TrackTimeline.Pending).
	// The slice is shared with snapshots: only ever appended to, and
	// replaced (never cleared) when the segment closes.
	parts []*Part
	// partPayload sums the access unit bytes of parts.
	partPayload int
	// partAt is when the newest part was made (TrackTimeline.LastPartAt).
	partAt time.Time
	// chunkSeq is the mfhd sequence number of the track's newest chunk.
	chunkSeq uint32
}

// partsOn reports whether the stream cuts parts.
func (tr *track) partsOn() bool { return !tr.st.r.opts.PartsOff }

// partLimit is the longest part in ticks: the stream's part target, as
// EXT-X-PART-INF states it.
func (tr *track) partLimit() uint64 {
	return tr.durTicks(tr.st.partTarget())
}

// horizon is, for the leader, the earliest instant at which it can still
// cut a segment: its held-back video frame (a cut is decided when a frame is
// committed or arrives) or the next audio frame's time.
func (tr *track) horizon() (uint64, bool) {
	switch {
	case !tr.mapped:
		return 0, false
	case tr.kind == ingest.Video:
		return tr.pending.dts, tr.hasPending
	default:
		return tr.next, tr.hasNext
	}
}

// safeEnd bounds the samples a follower may put into parts: those with a
// DTS before it certainly belong to its open segment. bounded is false for
// the leader, whose cuts are never retroactive.
func (tr *track) safeEnd() (end uint64, bounded bool) {
	if tr.leader {
		return 0, false
	}
	leader := tr.st.tracks[0]
	h, ok := leader.horizon()
	if !ok {
		return 0, true
	}
	h = tr.fromTicks(h, leader.cfg.timescale)
	if len(tr.cuts) > 0 {
		h = min(h, tr.cuts[0])
	}
	if len(tr.open) > 0 {
		h = min(h, tr.open[0].dts+tr.maxDuration())
	}
	return h, true
}

// cutParts closes every part of the open segment that is complete.
func (tr *track) cutParts() {
	if !tr.partsOn() {
		return
	}
	limit := tr.partLimit()
	safe, bounded := tr.safeEnd()
	for tr.partStart < len(tr.open) {
		i := tr.partStart
		var dur uint64
		j := i
		for j < len(tr.open) {
			s := tr.open[j]
			if bounded && s.dts >= safe || j > i && dur+uint64(s.dur) > limit {
				break
			}
			dur += uint64(s.dur)
			j++
		}
		switch {
		case j == i:
			return // its first sample may still go to the next segment
		case j < len(tr.open) && !(bounded && tr.open[j].dts >= safe):
			// open[j] belongs to this segment and would make the part too
			// long; this part is not the segment's last.
			if tr.shortPart(i, j, dur, limit) {
				j++
			}
		case j < len(tr.open):
			// open[j] may still go to the next segment; if it stays, it
			// does not fit.
			if dur+uint64(tr.open[j].dur) <= limit || tr.shortPart(i, j, dur, limit) {
				return
			}
		default:
			// No next sample yet: one more like the last would not fit. A
			// short part waits: the next sample may end the segment.
			if dur+uint64(tr.open[j-1].dur) <= limit || tr.shortPart(i, j, dur, limit) {
				return
			}
		}
		tr.closePart(j)
	}
}

// shortPart reports whether open[i:j] (dur long) may not be a non-final
// part: rfc8216bis 4.4.4.9 wants at least 85% of the part target, except
// for independent parts. Such a part takes one more sample instead: it
// exceeds the target, and the stream's PartTarget grows to cover it (once:
// the frame rate does not fit the configured target, such as 29.97 fps and
// 200 ms parts).
func (tr *track) shortPart(i, j int, dur, limit uint64) bool {
	if dur*100 >= limit*85 {
		return false
	}
	for _, s := range tr.open[i:j] {
		if s.key {
			return false
		}
	}
	return true
}

// closeFinalParts puts open[partStart:k], the rest of a segment that is
// closing, into parts no longer than the target.
func (tr *track) closeFinalParts(k int) {
	limit := tr.partLimit()
	for tr.partStart < k {
		i := tr.partStart
		j := i + 1
		dur := uint64(tr.open[i].dur)
		for j < k && dur+uint64(tr.open[j].dur) <= limit {
			dur += uint64(tr.open[j].dur)
			j++
		}
		if j < k && tr.shortPart(i, j, dur, limit) {
			j++
		}
		tr.closePart(j)
	}
}

// closePart encodes open[partStart:j] as the next part of the open segment.
func (tr *track) closePart(j int) {
	st := tr.st
	samples := tr.open[tr.partStart:j]
	tr.chunkSeq++
	data, payload, err := encodeChunk(samples, tr.chunkSeq, len(tr.parts) == 0, tr.cfg.timescale)
	if err != nil {
		// Cannot happen for sizes we accept; never take the stream down.
		tr.anomaly(anomalyMalformed)
		st.sessionLog().Error("packager: drop part", "track", tr.name, "err", err)
	}
	first, last := samples[0], samples[len(samples)-1]
	independent := false
	for i := range samples {
		independent = independent || samples[i].key
		// The part holds a copy: let the publisher's buffer go. Its bytes
		// now count in partPayload (segmentBytes).
		tr.openBytes -= len(samples[i].data)
		samples[i].data = nil
	}
	tr.partStart = j
	if err != nil {
		return
	}
	p := &Part{
		Start:       first.dts,
		Duration:    last.dts + uint64(last.dur) - first.dts,
		Timescale:   tr.cfg.timescale,
		Data:        data,
		ETag:        segmentETag(first.dts, data),
		Independent: independent,
		Index:       len(tr.parts),
	}
	tr.parts = append(tr.parts, p)
	tr.partAt = st.r.opts.Now()
	tr.partPayload += payload
	tr.mPartDuration.Observe(p.Length().Seconds())
	st.partClosed(p)
}

// closeSegmentParts closes the first k open samples as a segment whose
// bytes are its parts' (closeSegment with parts on).
func (tr *track) closeSegmentParts(k int) {
	st := tr.st
	if k < tr.partStart {
		// Parts are only cut from samples that certainly belong to the
		// segment (see chunker), so this cannot happen; if it did, the
		// published parts win: the segment keeps their samples.
		st.sessionLog().Error("packager: segment cut inside a published part", "track", tr.name)
		k = tr.partStart
	}
	tr.closeFinalParts(k)
	samples := tr.open[:k]
	first, last := samples[0], samples[k-1]
	seq := st.nextSeq(tr)
	period := st.visiblePeriod()

	size := 0
	for _, p := range tr.parts {
		size += len(p.Data)
	}
	data := make([]byte, 0, size)
	parts := make([]*Part, len(tr.parts))
	for i, p := range tr.parts {
		off := len(data)
		data = append(data, p.Data...)
		view := *p
		view.Data = data[off:len(data):len(data)]
		parts[i] = &view
	}
	stat := segmentStat{samples: k, payload: tr.partPayload}
	tr.dropOpen(k)
	tr.partStart, tr.parts, tr.partPayload = 0, nil, 0
	if len(parts) == 0 {
		return // every part failed to encode (cannot happen)
	}
	seg := tr.newSegment(seq, first, last, data, period)
	seg.Parts = parts
	tr.finishSegment(seg, stat)
	// A follower's remaining samples (it ran ahead of the cut) may already
	// make parts of the next segment.
	tr.cutParts()
}

// nextPartStart is where the track's next part will start: its first
// sample not yet in a part. ok is false while no period is producing the
// track.
func (tr *track) nextPartStart() (uint64, bool) {
	switch {
	case !tr.st.periodOpen || !tr.mapped:
		return 0, false
	case tr.partStart < len(tr.open):
		return tr.open[tr.partStart].dts, true
	case len(tr.parts) > 0:
		return tr.parts[len(tr.parts)-1].End(), true
	case tr.hasPending:
		return tr.pending.dts, true
	case tr.hasNext:
		return tr.next, true
	}
	return 0, false
}

// pendingStart is the start of the segment being produced.
func (tr *track) pendingStart() uint64 {
	switch {
	case len(tr.open) > 0:
		return tr.open[0].dts
	case len(tr.parts) > 0:
		return tr.parts[0].Start
	}
	s, _ := tr.nextPartStart()
	return s
}

// pendingMinEnd is TrackTimeline.PendingMinEnd.
func (tr *track) pendingMinEnd() uint64 {
	lead := tr.st.tracks[0]
	if !lead.leader || lead.seq == 0 || tr.seq != lead.seq {
		return 0 // no segment yet, or this follower is still in the previous one
	}
	// The segment's first frame: open keeps every sample of the segment
	// (parts included) until it closes; before that, the held-back frame.
	var key bool
	switch {
	case len(lead.open) > 0:
		key = lead.open[0].key
	case lead.hasPending:
		key = lead.pending.key
	}
	if !key {
		return 0 // after a cut without a key frame the next key frame cuts at once
	}
	cut := lead.pendingStart() + lead.durTicks(tr.st.r.opts.SegmentTarget-keyCutTolerance)
	switch {
	case tr == lead:
	case len(tr.cuts) > 0:
		cut = tr.cuts[0] // the leader's cut is known
	default:
		cut = tr.fromTicks(cut, lead.cfg.timescale)
	}
	if tr.kind != ingest.Audio {
		// Video frame durations vary (millisecond timestamps): no grid to
		// predict the frame on, and the cut is never after it.
		return cut
	}
	// An audio track's first frame at or after the cut: one it has, or one
	// to come, its frames being contiguous and of the newest one's duration.
	if i := sort.Search(len(tr.open), func(i int) bool { return tr.open[i].dts >= cut }); i < len(tr.open) {
		return tr.open[i].dts
	}
	end, dur := tr.knownEnd()
	if dur == 0 || cut <= end {
		return cut
	}
	return end + (cut-end+uint64(dur)-1)/uint64(dur)*uint64(dur)
}

// knownEnd is where the track's newest sample ends and that sample's
// duration (0 when unknown).
func (tr *track) knownEnd() (end uint64, dur uint32) {
	if n := len(tr.open); n > 0 {
		last := tr.open[n-1]
		return last.dts + uint64(last.dur), last.dur
	}
	if s, ok := tr.nextPartStart(); ok {
		return s, tr.lastDur // the previous segment's last sample
	}
	return 0, 0
}

// partClosed records a new part: the stream publishes a snapshot for it, and
// PartTarget grows if a part had to be longer than the target.
func (st *stream) partClosed(p *Part) {
	st.dirty = true
	if l := ceilMillis(p.Length()); l > st.longestPart {
		st.longestPart = l
	}
}

// partTarget is Timeline.PartTarget.
func (st *stream) partTarget() time.Duration {
	if st.r.opts.PartsOff {
		return 0
	}
	return max(ceilMillis(st.r.opts.PartTarget), st.longestPart)
}

// ceilMillis rounds d up to whole milliseconds.
func ceilMillis(d time.Duration) time.Duration {
	if r := d % time.Millisecond; r != 0 {
		return d - r + time.Millisecond
	}
	return d
}
