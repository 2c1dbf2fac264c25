package manifest

import (
	"bytes"
	"encoding/xml"
	"errors"
	"io"
	"strconv"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// The renderers parse nothing, but what they render comes from the
// network: names, codec strings, timestamps and durations derived from a
// publisher's stream. FuzzRender feeds them arbitrary snapshots: they must
// never panic, and whatever they render must be a well-formed document that
// describes the snapshot exactly.

// fuzzInput is one fuzzed snapshot's parameters.
type fuzzInput struct {
	ts                 uint32
	start, d1, d2      uint64
	n                  uint8
	periodMs           int64
	codec, name, initN string
	fps                float64
	flags              uint8 // 1 ended, 2 discontinuity, 4 first segment cut mid-GOP, 8 parts (low latency)
}

func (in fuzzInput) timeline() *packager.Timeline {
	p := &packager.Period{ID: "p" + strconv.FormatInt(in.periodMs, 10), Start: time.Duration(in.periodMs) * time.Millisecond}
	mk := func(name string, desc ingest.Track) *packager.TrackTimeline {
		init := &packager.Init{Name: in.initN, Track: desc}
		tt := &packager.TrackTimeline{Name: name, Track: desc, Timescale: in.ts, FrameRate: in.fps,
			PeakBandwidth: 1_000_000, AverageBandwidth: 900_000}
		start := in.start
		for k := 0; k < int(in.n%16); k++ {
			d := in.d1
			if k%2 == 1 {
				d = in.d2
			}
			s := &packager.Segment{
				Seq: uint64(k), Start: start, Duration: d, Timescale: in.ts, Init: init, Period: p.ID,
				Discontinuity: k == 0 && in.flags&2 != 0, Independent: k != 0 || in.flags&4 == 0,
			}
			if in.flags&8 != 0 {
				// Two parts per segment, the first holding the key frame.
				h := d / 2
				s.Parts = []*packager.Part{{Start: start, Duration: h, Timescale: in.ts, Independent: true},
					{Start: start + h, Duration: d - h, Timescale: in.ts, Index: 1}}
			}
			tt.Segments = append(tt.Segments, s)
			start += d
		}
		if in.flags&8 != 0 && len(tt.Segments) > 0 && in.flags&1 == 0 {
			last := tt.Segments[len(tt.Segments)-1]
			tt.Pending = []*packager.Part{{Start: start, Duration: in.d2 / 2, Timescale: in.ts, Independent: true}}
			tt.PendingSeq, tt.PendingStart, tt.PendingInit = last.Seq+1, start, init
			tt.NextPart = packager.PartName(start + in.d2/2)
		}
		return tt
	}
	video := ingest.Track{Kind: ingest.Video, Codec: ingest.H264, CodecString: in.codec, Width: 1280, Height: 720}
	audio := ingest.Track{Kind: ingest.Audio, Codec: ingest.AAC, CodecString: in.codec, SampleRate: int(in.ts), Channels: int(in.n % 9)}
	tl := &packager.Timeline{
		Stream: "fuzz", Updated: time.Date(2026, 11, 26, 2, 20, 10, 123e6, time.UTC), Ended: in.flags&1 != 0,
		SegmentTarget: 2 * time.Second, Window: 10 * time.Second,
		Tracks:  []*packager.TrackTimeline{mk(in.name, video), mk("a0", audio)},
		Periods: []*packager.Period{p},
	}
	// The packager's contract: no segment exceeds the target duration.
	if in.ts != 0 {
		longest := max(in.d1, in.d2)
		if secs := (longest + uint64(in.ts)/2) / uint64(in.ts); secs < 1<<20 {
			tl.TargetDuration = time.Duration(max(secs, 1)) * time.Second
		}
		// No part exceeds the part target.
		if in.flags&8 != 0 && longest-longest/2 < 1<<40 {
			ms := ((longest-longest/2)*1000 + uint64(in.ts) - 1) / uint64(in.ts)
			tl.PartTarget = time.Duration(max(ms, 1)) * time.Millisecond
		}
	}
	return tl
}

// fitsDuration reports whether every time in the snapshot fits a
// time.Duration (until 2262), which the exact checks use.
func fitsDuration(tl *packager.Timeline) bool {
	for _, tt := range tl.Tracks {
		for _, s := range tt.Segments {
			if s.Timescale == 0 || (s.Start+s.Duration)/uint64(s.Timescale) > 9e9 || s.Start+s.Duration < s.Start {
				return false
			}
		}
	}
	return true
}

func FuzzRender(f *testing.F) {
	seeds := []fuzzInput{
		{90000, 161550018011070, 180000, 177000, 5, 1795000000123, "avc1.64001f", "v0", "init-1a2b3c4d.mp4", 30, 0},
		{48000, 86160009605904, 96256, 95232, 5, 1795000000123, "mp4a.40.2", "v0", "init-5e6f7a8b.mp4", 29.97003, 1},
		{90000, 161550001406070, 180000, 180000, 3, 1795000015623, "avc1.640028", "v0", "init-9d8c7b6a.mp4", 0, 2 | 4},
		{1000, 0, 2000, 0, 2, 0, `a"b,c`, "v0", "init.mp4", -1, 0},
		{0, 1, 1, 1, 1, 0, "", "v0", "i.mp4", 0, 0},
		{90000, 1 << 62, 180000, 180000, 2, 1 << 40, "x", "../v0", `init"`, 1e300, 7},
		{4294967295, 18446744073709551615, 1, 1, 2, 253402300799999, "\x00<&>", "v0", "init.mp4", 60, 1},
		{90000, 161550018011070, 180000, 177000, 9, 1795000000123, "avc1.64001f", "v0", "init-1a2b3c4d.mp4", 30, 8},
		{48000, 86160009605904, 96256, 95232, 12, 1795000000123, "mp4a.40.2", "v0", "init-5e6f7a8b.mp4", 0, 8 | 2},
		{90000, 161550018011070, 180000, 180000, 3, 1795000000123, "avc1.64001f", "v0", "init-1a2b3c4d.mp4", 30, 8 | 1},
	}
	for _, s := range seeds {
		f.Add(s.ts, s.start, s.d1, s.d2, s.n, s.periodMs, s.codec, s.name, s.initN, s.fps, s.flags)
	}
	f.Fuzz(func(t *testing.T, ts uint32, start, d1, d2 uint64, n uint8, periodMs int64, codec, name, initN string, fps float64, flags uint8) {
		if name == "a0" {
			// The packager names tracks v0, v1, ... and a0, a1, ...: two
			// tracks never share a name (packager/stream.go), and the
			// checks below find a track by its name.
			t.Skip("the audio track's name")
		}
		in := fuzzInput{ts, start, d1, d2, n, periodMs, codec, name, initN, fps, flags}
		tl := in.timeline()
		exact := fitsDuration(tl)

		if b, err := Multivariant(tl); err == nil {
			playlistLines(t, b)
			if exact {
				checkMultivariant(t, b, tl)
			}
		} else if b != nil {
			t.Errorf("Multivariant: bytes with error %v", err)
		}
		for _, tt := range tl.Tracks {
			for _, skip := range []Skip{SkipNone, SkipV2} {
				b, err := MediaPlaylist(tl, tt.Name, MediaOptions{Skip: skip})
				if err != nil {
					if b != nil {
						t.Errorf("MediaPlaylist: bytes with error %v", err)
					}
					continue
				}
				playlistLines(t, b)
				switch {
				case !exact:
				case tl.PartTarget > 0:
					checkLLPlaylist(t, b, tl, tt, skip)
				case skip == SkipNone:
					checkMediaPlaylist(t, b, tl, tt)
				}
			}
		}
		b, err := MPD(tl, MPDOptions{UTCTimingURL: codec})
		if err != nil {
			if b != nil {
				t.Errorf("MPD: bytes with error %v", err)
			}
			return
		}
		// Well-formed XML whatever the values.
		d := xml.NewDecoder(bytes.NewReader(b))
		for {
			_, err := d.Token()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("MPD is not well-formed XML: %v\n%s", err, b)
			}
		}
		if exact {
			checkMPD(t, b, tl)
		}
	})
}
