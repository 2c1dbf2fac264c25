package manifest

import (
	"strconv"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// Hand-built snapshots, shaped like the packager's: segment times counted
// from 1970 in the track timescale, periods named "p" + start in ms.

// t0 is the start of the fixtures' first period: 2026-11-18T11:06:40.123Z.
const t0 = 1795000000*time.Second + 123*time.Millisecond

const (
	videoTS = 90000
	audioTS = 48000
	// seg2s is a 2 s video segment; the AAC pattern averages 2 s in whole
	// 1024-sample frames (94, 94, 94, 93 frames).
	seg2s = 2 * videoTS
)

var aacPattern = []uint64{96256, 96256, 96256, 95232}

func videoDesc(w, h int, codec string) ingest.Track {
	return ingest.Track{Kind: ingest.Video, Codec: ingest.H264, ClockRate: 1000, CodecString: codec, Width: w, Height: h}
}

func aacDesc() ingest.Track {
	return ingest.Track{Kind: ingest.Audio, Codec: ingest.AAC, ClockRate: 1000, CodecString: "mp4a.40.2", SampleRate: 48000, Channels: 2}
}

func opusDesc() ingest.Track {
	return ingest.Track{Kind: ingest.Audio, Codec: ingest.Opus, ClockRate: 48000, CodecString: "opus", SampleRate: 48000, Channels: 2}
}

func newInit(name string, tr ingest.Track) *packager.Init {
	return &packager.Init{Name: name, ETag: `"` + name + `"`, Track: tr}
}

func newPeriod(start time.Duration) *packager.Period {
	return &packager.Period{ID: "p" + strconv.FormatInt(start.Milliseconds(), 10), Start: start}
}

// run describes one track's segments in one period.
type run struct {
	period   *packager.Period
	init     *packager.Init
	ts       uint32
	firstSeq uint64 // Seq of the period's first segment
	skip     int    // leading segments that left the window
	count    int    // segments in the window
	durs     []uint64
	// disc flags the period's first segment (a period other than the
	// stream's first).
	disc bool
	// cut lists segments (counted from the period's first) cut mid-GOP.
	cut map[int]bool
}

// segments returns the run's segments that are in the window.
func (r run) segments() []*packager.Segment {
	start, _ := millisToTicks(uint64(r.period.Start.Milliseconds()), r.ts)
	var out []*packager.Segment
	for k := 0; k < r.skip+r.count; k++ {
		d := r.durs[k%len(r.durs)]
		if k >= r.skip {
			s := &packager.Segment{
				Seq: r.firstSeq + uint64(k), Start: start, Duration: d, Timescale: r.ts,
				Init: r.init, Period: r.period.ID,
				Discontinuity: r.disc && k == 0, Independent: !r.cut[k],
			}
			s.ETag = `"` + s.Name() + `"`
			out = append(out, s)
		}
		start += d
	}
	return out
}

// end is the end of the run's last segment since 1970.
func (r run) end() time.Duration {
	segs := r.segments()
	last := segs[len(segs)-1]
	return last.StartOffset() + last.Length()
}

func track(name string, desc ingest.Track, ts uint32, fps float64, peak, avg int, discSeq uint64, runs ...run) *packager.TrackTimeline {
	tt := &packager.TrackTimeline{
		Name: name, Track: desc, Timescale: ts, FrameRate: fps,
		PeakBandwidth: peak, AverageBandwidth: avg, DiscontinuitySequence: discSeq,
	}
	for _, r := range runs {
		tt.Segments = append(tt.Segments, r.segments()...)
	}
	return tt
}

// timeline assembles a snapshot made 50 ms after its newest segment ended.
func timeline(ended bool, periods []*packager.Period, tracks ...*packager.TrackTimeline) *packager.Timeline {
	var end time.Duration
	for _, tt := range tracks {
		if n := len(tt.Segments); n > 0 {
			last := tt.Segments[n-1]
			end = max(end, last.StartOffset()+last.Length())
		}
	}
	return &packager.Timeline{
		Stream: "demo", Version: 42,
		Updated:        time.Unix(0, 0).Add(end + 50*time.Millisecond).UTC(),
		Ended:          ended,
		TargetDuration: 2 * time.Second, SegmentTarget: 2 * time.Second, Window: 10 * time.Second,
		Tracks: tracks, Periods: periods,
	}
}

type fixture struct {
	name string
	tl   *packager.Timeline
}

// fixtures are the golden cases.
func fixtures() []fixture {
	p1 := newPeriod(t0)
	v720 := videoDesc(1280, 720, "avc1.64001f")
	vInit := newInit("init-1a2b3c4d.mp4", v720)
	aInit := newInit("init-5e6f7a8b.mp4", aacDesc())
	oInit := newInit("init-0c0ffee0.mp4", opusDesc())
	// A single period whose first 100 segments left the window.
	vRun := run{period: p1, init: vInit, ts: videoTS, skip: 100, count: 5, durs: []uint64{seg2s}}
	aRun := run{period: p1, init: aInit, ts: audioTS, skip: 100, count: 5, durs: aacPattern}
	oRun := run{period: p1, init: oInit, ts: audioTS, skip: 100, count: 5, durs: []uint64{96000}}
	v0 := func(r run) *packager.TrackTimeline {
		return track("v0", v720, videoTS, 30, 2_500_000, 2_000_000, 0, r)
	}
	a0 := func(r run) *packager.TrackTimeline {
		return track("a0", aacDesc(), audioTS, 0, 131_072, 128_000, 0, r)
	}
	single := []*packager.Period{p1}

	// Two periods: p1 began with a reconnect (its flagged first segment,
	// Seq 5, left the window: DiscontinuitySequence 1) and p2 follows a
	// 5.5 s outage with new init segments and a new resolution.
	v1080 := videoDesc(1920, 1080, "avc1.640028")
	tpV1 := run{period: p1, init: vInit, ts: videoTS, firstSeq: 5, skip: 2, count: 3, durs: []uint64{seg2s}, disc: true}
	tpA1 := run{period: p1, init: aInit, ts: audioTS, firstSeq: 5, skip: 2, count: 3, durs: aacPattern, disc: true}
	p2 := newPeriod(tpV1.end().Round(time.Millisecond) + 5500*time.Millisecond)
	tpV2 := run{period: p2, init: newInit("init-9d8c7b6a.mp4", v1080), ts: videoTS, firstSeq: 10, count: 2, durs: []uint64{seg2s, 177000}, disc: true}
	tpA2 := run{period: p2, init: newInit("init-5f4e3d2c.mp4", aacDesc()), ts: audioTS, firstSeq: 10, count: 2, durs: aacPattern, disc: true}
	twoPeriods := timeline(false, []*packager.Period{p1, p2},
		track("v0", v1080, videoTS, 29.97003, 5_000_000, 4_200_000, 1, tpV1, tpV2),
		track("a0", aacDesc(), audioTS, 0, 131_072, 128_000, 1, tpA1, tpA2))

	// The window starts with the first segment of a reconnect: the
	// discontinuity has not left the window, so it keeps its tag and
	// DiscontinuitySequence stays 0.
	dfV := tpV2
	dfV.count = 3
	dfA := tpA2
	dfA.count = 3
	discFirst := timeline(false, []*packager.Period{p2},
		track("v0", v1080, videoTS, 29.97003, 5_000_000, 4_200_000, 0, dfV),
		track("a0", aacDesc(), audioTS, 0, 131_072, 128_000, 0, dfA))

	// The encoder's keyframe interval exceeded the target, so the packager
	// cut segment 102 mid-GOP.
	cutV := vRun
	cutV.cut = map[int]bool{102: true}

	return []fixture{
		{"av", timeline(false, single, v0(vRun), a0(aRun))},
		{"audio-only", timeline(false, single, a0(aRun))},
		{"video-only", timeline(false, single, v0(vRun))},
		{"multi-audio", timeline(false, single, v0(vRun), a0(aRun),
			track("a1", opusDesc(), audioTS, 0, 96_000, 64_000, 0, oRun))},
		{"two-periods", twoPeriods},
		{"discontinuity-first", discFirst},
		{"non-independent", timeline(false, single, v0(cutV), a0(aRun))},
		{"ended", timeline(true, single, v0(vRun), a0(aRun))},
	}
}

// benchTimeline is a single-period stream with n segments per track.
func benchTimeline(n int) *packager.Timeline {
	p := newPeriod(t0)
	v720 := videoDesc(1280, 720, "avc1.64001f")
	return timeline(false, []*packager.Period{p},
		track("v0", v720, videoTS, 30, 2_500_000, 2_000_000, 0,
			run{period: p, init: newInit("init-1a2b3c4d.mp4", v720), ts: videoTS, skip: 1000, count: n, durs: []uint64{seg2s}}),
		track("a0", aacDesc(), audioTS, 0, 131_072, 128_000, 0,
			run{period: p, init: newInit("init-5e6f7a8b.mp4", aacDesc()), ts: audioTS, skip: 1000, count: n, durs: aacPattern}))
}
