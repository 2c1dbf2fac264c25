package manifest

import (
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// Low-latency fixtures: the packager's shapes with parts on. Video parts are
// 10 frames at 30 fps (1/3 s, PART-TARGET 0.334), six per 2 s segment, the
// first independent; AAC parts are 15 frames (320 ms), all independent.

const (
	videoPart = videoTS / 3
	aacPart   = 15 * 1024
	llTarget  = 334 * time.Millisecond
)

// cutParts gives every segment of tt its parts, as views into its bytes.
func cutParts(tt *packager.TrackTimeline, part uint64, audio bool) {
	for _, s := range tt.Segments {
		s.Parts = makeParts(s.Start, s.Duration, s.Timescale, part, audio)
	}
}

func makeParts(start, dur uint64, ts uint32, part uint64, audio bool) []*packager.Part {
	var parts []*packager.Part
	for off := uint64(0); off < dur; off += part {
		p := &packager.Part{Start: start + off, Duration: min(part, dur-off), Timescale: ts, Index: len(parts),
			Independent: audio || off == 0}
		p.ETag = `"` + p.Name() + `"`
		parts = append(parts, p)
	}
	return parts
}

// produce adds n parts of the segment being produced after tt's last
// segment (a new period when init differs), and the next part's hint.
func produce(tt *packager.TrackTimeline, n int, part uint64, audio bool, init *packager.Init, gap uint64) {
	last := tt.Segments[len(tt.Segments)-1]
	start := last.Start + last.Duration + gap
	tt.PendingSeq = last.Seq + 1
	tt.PendingStart = start
	tt.PendingInit = init
	tt.PendingDiscontinuity = init != last.Init
	tt.Pending = makeParts(start, uint64(n)*part, last.Timescale, part, audio)
	tt.NextPart = packager.PartName(start + uint64(n)*part)
	// The packager expects it to end at the earliest where a segment as
	// long as the last would.
	tt.PendingMinEnd = start + last.Duration
}

// llFixture is a low-latency snapshot and the delta updates to render.
type llFixture struct {
	name  string
	tl    *packager.Timeline
	skips []Skip
}

func llFixtures() []llFixture {
	mk := func(ended bool) (*packager.Timeline, *packager.TrackTimeline, *packager.TrackTimeline) {
		p1 := newPeriod(t0)
		v720 := videoDesc(1280, 720, "avc1.64001f")
		vInit := newInit("init-1a2b3c4d.mp4", v720)
		aInit := newInit("init-5e6f7a8b.mp4", aacDesc())
		// Eight segments (16 s): beyond the 12 s skip boundary.
		v := track("v0", v720, videoTS, 30, 2_500_000, 2_000_000, 0,
			run{period: p1, init: vInit, ts: videoTS, skip: 100, count: 8, durs: []uint64{seg2s}})
		a := track("a0", aacDesc(), audioTS, 0, 131_072, 128_000, 0,
			run{period: p1, init: aInit, ts: audioTS, skip: 100, count: 8, durs: aacPattern})
		cutParts(v, videoPart, false)
		cutParts(a, aacPart, true)
		tl := timeline(ended, []*packager.Period{p1}, v, a)
		tl.PartTarget = llTarget
		return tl, v, a
	}

	live, v, a := mk(false)
	produce(v, 2, videoPart, false, v.Segments[0].Init, 0)
	produce(a, 3, aacPart, true, a.Segments[0].Init, 0)

	// Between two parts: the newest segment just closed; only the hint
	// follows it.
	edge, ev, ea := mk(false)
	produce(ev, 0, videoPart, false, ev.Segments[0].Init, 0)
	produce(ea, 0, aacPart, true, ea.Segments[0].Init, 0)

	// A reconnect 1.5 s after the last segment with a new configuration:
	// the video has its first part in the new period, the audio only its
	// hint (and the hint of its new init segment).
	re, rv, ra := mk(false)
	produce(rv, 1, videoPart, false, newInit("init-9d8c7b6a.mp4", videoDesc(1920, 1080, "avc1.640028")), 135000)
	produce(ra, 0, aacPart, true, newInit("init-5f4e3d2c.mp4", aacDesc()), 72000)

	ended, _, _ := mk(true)

	return []llFixture{
		{"ll", live, []Skip{SkipNone, SkipYes, SkipV2}},
		{"ll-edge", edge, []Skip{SkipNone}},
		{"ll-reconnect", re, []Skip{SkipNone}},
		// An ended playlist ignores _HLS_skip (6.2.5.1).
		{"ll-ended", ended, []Skip{SkipNone, SkipYes}},
	}
}
