package packager

import (
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// TestTimestampAnomalies feeds broken timestamps: the packager corrects them,
// counts them, and never lets a track's time go back.
func TestTimestampAnomalies(t *testing.T) {
	tests := []struct {
		name    string
		tracks  func(t testing.TB) []ingest.Track
		aus     func() []ingest.AccessUnit
		kind    string
		anomaly string
		want    float64
		check   func(t *testing.T, tl *Timeline)
	}{
		{
			name:   "video DTS goes back a little",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{videoTrack(t, 90000)} },
			aus: func() []ingest.AccessUnit {
				aus := synthVideo(0, 150, 30, 60, 0)
				aus[40].DTS = aus[39].DTS - 100
				return aus
			},
			kind: "video", anomaly: anomalyNonMonotonic, want: 1,
		},
		{
			name:   "video jumps 5s ahead",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{videoTrack(t, 90000)} },
			aus: func() []ingest.AccessUnit {
				aus := synthVideo(0, 300, 30, 60, 0)
				for i := 100; i < len(aus); i++ {
					aus[i].DTS += 5 * 90000
					aus[i].PTS += 5 * 90000
				}
				return aus
			},
			kind: "video", anomaly: anomalyJump, want: 1,
			check: func(t *testing.T, tl *Timeline) {
				segs := tl.Tracks[0].Segments
				var gap bool
				for i := 1; i < len(segs); i++ {
					gap = gap || segs[i].Start > segs[i-1].Start+segs[i-1].Duration
				}
				if !gap {
					t.Error("the 5s gap is not in the timeline")
				}
			},
		},
		{
			name:   "video timestamps restart",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{videoTrack(t, 1000)} },
			aus: func() []ingest.AccessUnit {
				aus := synthVideo(0, 300, 30, 60, 0)
				for i := range aus {
					aus[i].DTS, aus[i].PTS = aus[i].DTS/90+3600_000, aus[i].PTS/90+3600_000 // ms, from 1h
					if i >= 150 {
						aus[i].DTS -= 3600_000 - 1000
						aus[i].PTS -= 3600_000 - 1000
					}
				}
				return aus
			},
			kind: "video", anomaly: anomalyJump, want: 1,
		},
		{
			name:   "audio jumps 1s ahead",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{aacTrack(t, 48000)} },
			aus: func() []ingest.AccessUnit {
				aus := make([]ingest.AccessUnit, 500)
				for i := range aus {
					aus[i] = ingest.AccessUnit{DTS: int64(i) * 1024, Key: true, Data: []byte{1, 2}}
					if i >= 200 {
						aus[i].DTS += 48000
					}
				}
				return aus
			},
			kind: "audio", anomaly: anomalyJump, want: 1,
		},
		{
			name:   "audio millisecond jitter is no jump",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{aacTrack(t, 1000)} },
			aus: func() []ingest.AccessUnit {
				aus := make([]ingest.AccessUnit, 500)
				for i := range aus {
					aus[i] = ingest.AccessUnit{DTS: int64(i)*1024*1000/48000 + int64(i%3), Key: true, Data: []byte{1, 2}}
				}
				return aus
			},
			kind: "audio", anomaly: anomalyJump, want: 0,
			check: func(t *testing.T, tl *Timeline) {
				for _, s := range tl.Tracks[0].Segments {
					if s.Duration%1024 != 0 {
						t.Errorf("segment of %d ticks is not whole AAC frames", s.Duration)
					}
				}
			},
		},
		{
			name:   "audio timestamps go back",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{aacTrack(t, 48000)} },
			aus: func() []ingest.AccessUnit {
				aus := make([]ingest.AccessUnit, 500)
				for i := range aus {
					aus[i] = ingest.AccessUnit{DTS: int64(i) * 1024, Key: true, Data: []byte{1, 2}}
					if i >= 200 {
						aus[i].DTS -= 10 * 48000
					}
				}
				return aus
			},
			kind: "audio", anomaly: anomalyJump, want: 1,
		},
		{
			name:   "malformed opus and empty access units are dropped",
			tracks: func(t testing.TB) []ingest.Track { return []ingest.Track{opusTrack(t, 48000)} },
			aus: func() []ingest.AccessUnit {
				aus := make([]ingest.AccessUnit, 300)
				for i := range aus {
					aus[i] = ingest.AccessUnit{DTS: int64(i) * 960, Key: true, Data: []byte{0xfc, 0xff}} // CELT FB 20 ms
				}
				aus[10].Data = []byte{0xff}     // code 3 without a frame count
				aus[11].Data = []byte{0xfb, 63} // 63 frames of 20 ms: too long
				aus[12].Data = nil
				return aus
			},
			kind: "audio", anomaly: anomalyMalformed, want: 3,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess := e.publish("ts", tc.tracks(t)...)
			write(t, sess, tc.aus())
			sess.Close(nil)
			tl := e.timeline("ts")
			checkInvariants(t, tl, true)
			if got := e.metricValue("liveorigin_packager_timestamp_anomalies_total", "stream", "ts", "kind", tc.kind, "type", tc.anomaly); got != tc.want {
				t.Errorf("%s anomalies %v, want %v", tc.anomaly, got, tc.want)
			}
			if tc.check != nil {
				tc.check(t, tl)
			}
		})
	}
}

// TestVideoBeforeKeyFrame: a session's video before its first key frame is
// dropped, and so is the audio from before it: the period starts with the
// video, and the audio and video segments with the same media sequence
// number start together.
func TestVideoBeforeKeyFrame(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("k", videoTrack(t, 90000), aacTrack(t, 90000))
	video := synthVideo(0, 30*9, 30, 60, 0)[15:] // starts mid-GOP: the first key frame is at 2 s
	write(t, sess, interleave(video, synthAAC(1, 8*48000/1024, 15*3000)))
	tl := e.timeline("k")
	checkInvariants(t, tl, false)
	v := tl.Tracks[0].Segments
	if len(v) == 0 || !v[0].Independent {
		t.Fatalf("video does not start with a key frame")
	}
	if got, want := v[0].StartOffset(), tl.Periods[0].Start; got != want {
		t.Errorf("video starts at %v, want at the period's start %v", got, want)
	}
	a := tl.Tracks[1].Segments
	if len(a) < 2 {
		t.Fatalf("%d audio segments", len(a))
	}
	for i := range min(len(a), len(v)) {
		if a[i].Seq != v[i].Seq {
			t.Fatalf("audio segment %d is number %d, video's %d", i, a[i].Seq, v[i].Seq)
		}
		if d := absDur(a[i].StartOffset() - v[i].StartOffset()); d > 22*time.Millisecond {
			t.Errorf("audio segment %d starts %v from the video's", a[i].Seq, d)
		}
	}
	if a[0].StartOffset() < tl.Periods[0].Start {
		t.Errorf("audio starts at %v, before the period (%v)", a[0].StartOffset(), tl.Periods[0].Start)
	}
	// 1.5 s of AAC at 48 kHz: about 70 frames, counted.
	if got := e.metricValue("liveorigin_ingest_frames_dropped_total", "stream", "k", "kind", "audio", "reason", "too_early"); got < 65 || got > 75 {
		t.Errorf("%v audio frames counted as dropped too early, want about 70", got)
	}
}
