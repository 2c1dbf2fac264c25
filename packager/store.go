package packager

import (
	"math"
	"slices"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// segmentStat is what the store remembers about a segment beyond the
// Segment itself (whose fields are fixed by the shared contract).
type segmentStat struct {
	samples int // access units: the frame rate over the window
	payload int // access unit bytes: the ingest bitrate
}

// store is one track's share of the rolling window: the playlist window
// (segments) and the segments that left it but stay fetchable (retained).
type store struct {
	segments    []*Segment
	stats       []segmentStat // parallel to segments
	retained    []*Segment
	windowDur   time.Duration
	retainedDur time.Duration
	// discSeq counts discontinuity-flagged segments that left the window.
	discSeq uint64
	// end and endTimescale: where the track's newest segment ends.
	end          uint64
	endTimescale uint32
	// snap is the track's window as last published (timeline): snapshots
	// that only add parts share it.
	snap *TrackTimeline
}

// push appends a segment and evicts by the effective window w: the playlist
// window keeps the newest segments that cover w (the oldest is dropped while
// the rest still cover it); dropped segments stay retained while the
// retained ones fit into one more w.
func (s *store) push(seg *Segment, stat segmentStat, w time.Duration) {
	s.segments = append(s.segments, seg)
	s.stats = append(s.stats, stat)
	s.windowDur += seg.Length()
	s.end, s.endTimescale = seg.Start+seg.Duration, seg.Timescale
	for len(s.segments) > 1 && s.windowDur-s.segments[0].Length() >= w {
		old := s.segments[0]
		s.segments[0] = nil // let the array forget it
		s.segments = s.segments[1:]
		s.stats = s.stats[1:]
		s.windowDur -= old.Length()
		if old.Discontinuity {
			s.discSeq++
		}
		s.retained = append(s.retained, old)
		s.retainedDur += old.Length()
	}
	for len(s.retained) > 0 && s.retainedDur > w {
		s.retainedDur -= s.retained[0].Length()
		s.retained[0] = nil
		s.retained = s.retained[1:]
	}
}

// clearStore frees every segment (the stream was removed or restarted).
func (s *store) clearStore() {
	end, ts := s.end, s.endTimescale
	*s = store{end: end, endTimescale: ts}
}

// bytesHeld counts segment bytes (inits are counted per stream).
func (s *store) bytesHeld() int {
	n := 0
	for _, list := range [][]*Segment{s.segments, s.retained} {
		for _, seg := range list {
			n += len(seg.Data)
		}
	}
	return n
}

// oldestPeriod is the period of the oldest segment held, "" when none.
func (s *store) oldestPeriod() string {
	switch {
	case len(s.retained) > 0:
		return s.retained[0].Period
	case len(s.segments) > 0:
		return s.segments[0].Period
	}
	return ""
}

// windowRates returns the peak and average bandwidth over the window (bits/s,
// whole segments), the payload bitrate and, for video, the frame rate.
func (s *store) windowRates() (peak, avg, payloadRate int, frameRate float64) {
	var bytes, payload, samples int
	var dur time.Duration
	for i, seg := range s.segments {
		l := seg.Length()
		if l <= 0 {
			continue
		}
		bytes += len(seg.Data)
		payload += s.stats[i].payload
		samples += s.stats[i].samples
		dur += l
		peak = max(peak, bitsPerSecond(len(seg.Data), l))
	}
	if dur <= 0 {
		return 0, 0, 0, 0
	}
	return peak, bitsPerSecond(bytes, dur), bitsPerSecond(payload, dur), float64(samples) / dur.Seconds()
}

func bitsPerSecond(bytes int, d time.Duration) int {
	return int(math.Round(float64(bytes) * 8 / d.Seconds()))
}

// timeline builds the track's part of a snapshot: small slices of pointers
// are copied, segment bytes never. The window part is kept (snap) for the
// snapshots that only add parts.
func (tr *track) timeline() *TrackTimeline {
	peak, avg, _, fps := tr.windowRates()
	tt := &TrackTimeline{
		Name:                  tr.name,
		Track:                 tr.cfg.track,
		Timescale:             tr.cfg.timescale,
		PeakBandwidth:         peak,
		AverageBandwidth:      avg,
		Segments:              slices.Clone(tr.segments),
		Retained:              slices.Clone(tr.retained),
		DiscontinuitySequence: tr.discSeq,
	}
	if tr.kind == ingest.Video {
		tt.FrameRate = roundRate(fps)
	}
	tr.snap = tt
	return tr.withPending(tt)
}

// withPending returns base with the track's low-latency state: its pending
// parts (shared, not copied: the chunker only appends to them) and the next
// part's name.
func (tr *track) withPending(base *TrackTimeline) *TrackTimeline {
	if !tr.partsOn() {
		return base
	}
	tt := *base
	tt.Pending = tr.parts[:len(tr.parts):len(tr.parts)]
	tt.LastPartAt = tr.partAt
	if start, ok := tr.nextPartStart(); ok {
		tt.NextPart = PartName(start)
		tt.PendingStart = tr.pendingStart()
		tt.PendingMinEnd = tr.pendingMinEnd()
		tt.PendingInit, tt.PendingDiscontinuity = tr.cfg.init, tr.discNext
	}
	if len(tr.parts) > 0 || tr.st.seqSet {
		tt.PendingSeq = tr.st.pendingSeq(tr)
	}
	return &tt
}

// roundRate keeps three decimals (29.97 stays 29.97).
func roundRate(fps float64) float64 { return math.Round(fps*1000) / 1000 }
