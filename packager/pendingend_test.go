package packager

import (
	"github.com/liveorigin/liveorigin/ingest"
	"testing"
)

// PendingMinEnd, the earliest end of the segment being produced, is never
// beyond the segment's real end, and is the real end when the encoder's
// keyframe interval is the segment target, to within the 10 ms past it at
// which dash.js looks for the next segment.
func TestPendingMinEnd(t *testing.T) {
	for _, tc := range []struct {
		name string
		gop  int // 0: audio only
		want int // segments whose first earliest end is within 10 ms of the real one, at least
	}{
		{"keyframes every 2 s", 60, 4},
		{"keyframes every 2.5 s", 75, 0},
		{"audio only", 0, 4},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			var sess ingest.Session
			var aus []ingest.AccessUnit
			if tc.gop > 0 {
				sess = e.publish("k", videoTrack(t, 90000), aacTrack(t, 90000))
				aus = interleave(synthVideo(0, 30*11, 30, tc.gop, 0), synthAAC(1, 11*48000/1024, 0))
			} else {
				sess = e.publish("k", aacTrack(t, 90000))
				aus = synthAAC(0, 11*48000/1024, 0)
			}
			// Per track and segment start, the PendingMinEnd values seen,
			// first first (what a player uses when it first asks).
			minEnd := []map[uint64][]uint64{{}, {}}
			for _, au := range aus {
				write(t, sess, []ingest.AccessUnit{au})
				tl := e.timeline("k")
				for i, tt := range tl.Tracks {
					if tt.PendingMinEnd == 0 || tt.NextPart == "" {
						continue
					}
					if tt.PendingMinEnd <= tt.PendingStart {
						t.Fatalf("track %s: PendingMinEnd %d not after the start %d", tt.Name, tt.PendingMinEnd, tt.PendingStart)
					}
					minEnd[i][tt.PendingStart] = append(minEnd[i][tt.PendingStart], tt.PendingMinEnd)
				}
			}
			tl := e.timeline("k")
			for i, tt := range tl.Tracks {
				exact, listed := 0, 0
				slack := uint64(tt.Timescale) / 100 // dash.js looks for the next segment 10 ms after the listed end
				for _, s := range tt.Segments {
					seen, ok := minEnd[i][s.Start]
					if !ok {
						continue
					}
					listed++
					end := s.Start + s.Duration
					for _, m := range seen {
						if m > end {
							t.Errorf("track %s segment %d: earliest end %d is beyond the real end %d", tt.Name, s.Seq, m, end)
						}
					}
					if seen[0]+slack >= end {
						exact++
					}
				}
				if listed < 3 {
					t.Errorf("track %s: an earliest end for %d segments, want at least 3", tt.Name, listed)
				}
				want := tc.want
				if exact < want {
					t.Errorf("track %s: the first earliest end is within 10 ms of the real one in %d of %d segments, want at least %d", tt.Name, exact, listed, want)
				}
			}
		})
	}
}
