package manifest

import (
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// Low-latency DASH (DASH-IF IOP v5, "Low-latency Modes"; ISO/IEC 23009-1
// 5.3.9.5 and 5.12) from the same CMAF chunks as LL-HLS parts. A client
// asks for a segment while it is produced and the origin sends its chunks
// as they come (HTTP chunked transfer):
//
//   - SegmentTemplate@availabilityTimeOffset = segment target - part
//     target, with availabilityTimeComplete="false": a segment becomes
//     available when its first chunk is, not when it is complete.
//   - The segment being produced is the last S of the SegmentTimeline as
//     soon as it has a chunk, with the duration of what it has: a client
//     asks for it while it grows. The next MPD states the duration it has
//     then; clients find the next segment by start time in a fresh MPD.
//   - ServiceDescription: the latency target the player steers to, and the
//     playback rates it may use to get there.
//   - ProducerReferenceTime: media time is UTC (DESIGN decision 2), so the
//     wall clock of any sample is its media time; the first chunk of every
//     segment carries the same statement in a prft box.

// llDASH holds the low-latency parameters of one MPD render.
type llDASH struct {
	on bool
	// atoMillis is availabilityTimeOffset; targetMillis the latency target.
	atoMillis, targetMillis uint64
}

// latencyPad is what the latency target adds to the part hold-back: the
// time to fetch a chunk and the jitter of the clocks. Measured with dash.js
// 5.2.1 over loopback (1/3 s parts): a 1302 ms target holds 1.30 s with no
// stall in 40 s; a 1152 ms target stalls about every 15 s.
const latencyPad = 300 * time.Millisecond

// lowLatency decides the parameters: on while a stream with parts is live.
func lowLatency(tl *packager.Timeline) llDASH {
	if tl.PartTarget <= 0 || tl.Ended {
		return llDASH{}
	}
	seg := tl.SegmentTarget
	if seg <= 0 {
		seg = tl.TargetDuration
	}
	part := durationMillis(tl.PartTarget)
	ll := llDASH{on: true, targetMillis: partHoldBackParts*part + durationMillis(latencyPad)}
	if s := durationMillis(seg); s > part {
		ll.atoMillis = s - part
	}
	return ll
}

// appendServiceDescription appends the MPD's ServiceDescription (ISO/IEC
// 23009-1 Annex K; DASH-IF IOP low latency): the latency target with the
// bounds a player may drift within (a quarter below, twice above, as the
// DASH-IF reference streams do), and catch-up playback rates from 0.96 to
// 1.08: dash.js reaches the target from its start-up latency within about
// 3 s instead of 10 s with 1.04, and slows down only a little when it must
// rebuild its buffer.
func appendServiceDescription(b []byte, ll llDASH) []byte {
	b = append(b, "  <ServiceDescription id=\"0\">\n    <Latency referenceId=\"0\""...)
	b = appendUintAttr(b, "target", ll.targetMillis)
	b = appendUintAttr(b, "min", ll.targetMillis*3/4)
	b = appendUintAttr(b, "max", ll.targetMillis*2)
	return append(b, "/>\n    <PlaybackRate min=\"0.96\" max=\"1.08\"/>\n  </ServiceDescription>\n"...)
}

// appendProducerReferenceTime appends an AdaptationSet's
// ProducerReferenceTime (ISO/IEC 23009-1 5.12), the one the Latency refers
// to: the wall clock of the period's first segment in this adaptation set,
// which is its media time. The prft boxes (type encoder: the time the
// sample left the encoder, as the origin received it) say the same.
func appendProducerReferenceTime(b []byte, first *packager.Segment) []byte {
	b = append(b, `      <ProducerReferenceTime id="0" inband="true" type="encoder" wallClockTime="`...)
	b = appendDateTime(b, floorMillis(first.Start, first.Timescale))
	b = append(b, '"')
	b = appendUintAttr(b, "presentationTime", first.Start)
	return append(b, "/>\n"...)
}

// appendAvailabilityOffset appends the SegmentTemplate attributes that make
// segments available from their first chunk.
func appendAvailabilityOffset(b []byte, ll llDASH) []byte {
	b = append(b, ` availabilityTimeOffset="`...)
	b = appendDecimalSeconds(b, ll.atoMillis)
	return append(b, `" availabilityTimeComplete="false"`...)
}

// appendDecimalSeconds appends ms as an xs:double number of seconds
// ("0.666", "1", "0.5").
func appendDecimalSeconds(b []byte, ms uint64) []byte {
	d := appendXSDuration(nil, ms) // "PT<seconds>S"
	return append(b, d[2:len(d)-1]...)
}

// pendingSegment is the segment being produced, as the last entry of the
// track's SegmentTimeline in the newest period (segs), or nil. It is listed
// from its start when its earliest end is known, otherwise once it has a
// first chunk, in the same period and with the same init segment as segs: a
// new period appears in the MPD with its first complete segment. dash.js
// reads the MPD at most once a second (it raises a shorter
// minimumUpdatePeriod to 1 s): listed only from its first chunk, a segment
// could be found up to 1.33 s after its start, later than the 1.3 s latency
// target, and the player stalled.
//
// Its duration is the packager's earliest end for it (PendingMinEnd), or
// what it has so far when that is longer or unknown. Players look for the
// next segment at the listed end: dash.js at the end plus 10 ms, so with
// the duration so far it asked for the same segment two more times as the
// MPD grew it (three downloads of every segment) and for the next one late,
// and stalled. A client that does not know low latency (ffmpeg 5.1) takes
// the entry for a finished segment and, after a refresh, resumes at the
// first segment starting after the whole second before the listed end: a
// listed end beyond the real one could skip a segment, one short of it could
// read the segment again. The earliest end is never beyond the real one in
// normal operation, and is the real one for an encoder whose keyframe
// interval divides the segment target.
func pendingSegment(tt *packager.TrackTimeline, segs []*packager.Segment) *packager.Segment {
	if tt.NextPart == "" || len(segs) == 0 || tt.PendingDiscontinuity {
		return nil
	}
	last := segs[len(segs)-1]
	start := tt.PendingStart
	if tt.PendingInit != last.Init || start < last.Start+last.Duration {
		return nil
	}
	if len(tt.Pending) == 0 && tt.PendingMinEnd <= start || len(tt.Pending) > 0 && tt.Pending[0].Start != start {
		return nil
	}
	var have uint64
	for _, p := range tt.Pending {
		if p.Timescale != last.Timescale {
			return nil
		}
		have += p.Duration
	}
	if e := tt.PendingMinEnd; e > start+have {
		have = e - start
	}
	if end := start + have; end < start || end/uint64(last.Timescale) >= maxMillis/1000 {
		return nil
	}
	return &packager.Segment{Start: start, Duration: have, Timescale: last.Timescale, Init: last.Init, Period: last.Period}
}
