package packager

import (
	"math"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestSegmentationVideo(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name     string
		opts     Options
		fps      float64
		gop      int // frames
		seconds  float64
		wantTD   time.Duration
		wantDurs []time.Duration // the first segments
		// wantDependent lists the indices of segments with Independent=false.
		wantDependent []int
	}{
		{name: "2s GOP", fps: 30, gop: 60, seconds: 10, wantTD: 2 * s, wantDurs: []time.Duration{2 * s, 2 * s, 2 * s, 2 * s}},
		{name: "1s GOP cuts at the target", fps: 30, gop: 30, seconds: 10, wantTD: 2 * s, wantDurs: []time.Duration{2 * s, 2 * s, 2 * s, 2 * s}},
		{name: "2.5s GOP rounds the target duration up", fps: 30, gop: 75, seconds: 10, wantTD: 3 * s,
			wantDurs: []time.Duration{2500 * time.Millisecond, 2500 * time.Millisecond, 2500 * time.Millisecond}},
		{name: "29.97 fps", fps: 30000.0 / 1001, gop: 60, seconds: 10, wantTD: 3 * s,
			wantDurs: []time.Duration{2002 * time.Millisecond, 2002 * time.Millisecond, 2002 * time.Millisecond}},
		{name: "segment target 6s, 2s GOP", opts: Options{SegmentTarget: 6 * s}, fps: 25, gop: 50, seconds: 30, wantTD: 6 * s,
			wantDurs: []time.Duration{6 * s, 6 * s, 6 * s, 6 * s}},
		{name: "8s GOP within the max target duration", fps: 30, gop: 240, seconds: 20, wantTD: 8 * s,
			wantDurs: []time.Duration{8 * s, 8 * s}},
		{name: "8s GOP forced cuts", opts: Options{MaxTargetDuration: 4 * s}, fps: 30, gop: 240, seconds: 26, wantTD: 4 * s,
			wantDurs: []time.Duration{4 * s, 4 * s, 4 * s, 4 * s, 4 * s, 4 * s}, wantDependent: []int{1, 3, 5}},
		{name: "12s GOP beyond the max target duration", fps: 30, gop: 360, seconds: 40, wantTD: 10 * s,
			wantDurs: []time.Duration{10 * s, 2 * s, 10 * s, 2 * s, 10 * s}, wantDependent: []int{1, 3}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			sess := e.publish("v", videoTrack(t, 90000))
			write(t, sess, synthVideo(0, int(tc.seconds*tc.fps), tc.fps, tc.gop, 1000))
			tl := e.timeline("v")
			checkInvariants(t, tl, false)
			if tl.TargetDuration != tc.wantTD {
				t.Errorf("target duration %v, want %v", tl.TargetDuration, tc.wantTD)
			}
			segs := tl.Tracks[0].Segments
			if len(segs) < len(tc.wantDurs) {
				t.Fatalf("%d segments, want at least %d", len(segs), len(tc.wantDurs))
			}
			var dependent []int
			for i, seg := range segs {
				if i < len(tc.wantDurs) && absDur(seg.Length()-tc.wantDurs[i]) > time.Millisecond {
					t.Errorf("segment %d: %v, want %v", i, seg.Length(), tc.wantDurs[i])
				}
				if !seg.Independent {
					dependent = append(dependent, i)
				}
			}
			if !equalInts(dependent[:min(len(dependent), len(tc.wantDependent))], tc.wantDependent) ||
				len(tc.wantDependent) == 0 && len(dependent) > 0 {
				t.Errorf("dependent segments %v, want %v", dependent, tc.wantDependent)
			}
			forced := e.metricValue("liveorigin_packager_forced_cuts_total", "stream", "v")
			warnings := strings.Count(e.logs.String(), "OBS: Keyframe Interval")
			if len(tc.wantDependent) > 0 {
				if forced < float64(len(tc.wantDependent)) {
					t.Errorf("forced cuts metric %v, want >= %d", forced, len(tc.wantDependent))
				}
				if warnings != 1 {
					t.Errorf("%d keyframe interval warnings, want exactly 1 per session", warnings)
				}
			} else if forced != 0 || warnings != 0 {
				t.Errorf("forced cuts %v, warnings %d; want none", forced, warnings)
			}
		})
	}
}

// TestTargetDurationFixed: the first leader segment fixes TargetDuration for
// the stream's life; a later, longer GOP is cut to fit rather than raising it.
func TestTargetDurationFixed(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("td", videoTrack(t, 90000))
	if got := e.timeline("td").TargetDuration; got != 2*time.Second {
		t.Errorf("before the first segment: %v, want ceil(SegmentTarget) = 2s", got)
	}
	write(t, sess, synthVideo(0, 60*3, 30, 60, 0))          // 2s GOPs: TD 2s
	write(t, sess, synthVideo(0, 30*12, 30, 30*6, 3*90000)) // then 6s GOPs
	sess.Close(nil)
	e.clock.Advance(time.Second)
	sess = e.publish("td", videoTrack(t, 90000)) // a reconnect keeps it too
	write(t, sess, synthVideo(0, 30*8, 30, 30*4, 0))
	tl := e.timeline("td")
	checkInvariants(t, tl, false)
	if tl.TargetDuration != 2*time.Second {
		t.Errorf("target duration %v, want 2s", tl.TargetDuration)
	}
	if len(tl.Periods) != 2 {
		t.Errorf("%d periods, want 2", len(tl.Periods))
	}
}

func TestSegmentationAudioVideo(t *testing.T) {
	tests := []struct {
		name       string
		audioAhead time.Duration // audio arrives this much before video of the same time
		videoFPS   float64
	}{
		{name: "interleaved", videoFPS: 30},
		{name: "audio 500ms ahead", audioAhead: 500 * time.Millisecond, videoFPS: 30},
		{name: "video ahead", audioAhead: -300 * time.Millisecond, videoFPS: 25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess := e.publish("av", videoTrack(t, 90000), aacTrack(t, 90000))
			video := synthVideo(0, int(20*tc.videoFPS), tc.videoFPS, int(2*tc.videoFPS), 0)
			audio := synthAAC(1, 20*48000/1024, 0)
			ahead := int64(tc.audioAhead / (time.Second / 90000))
			all := append(append([]ingest.AccessUnit{}, video...), audio...)
			arrival := func(au ingest.AccessUnit) int64 {
				if au.Track == 1 {
					return au.DTS - ahead
				}
				return au.DTS
			}
			sort.SliceStable(all, func(i, j int) bool { return arrival(all[i]) < arrival(all[j]) })
			write(t, sess, all)
			tl := e.timeline("av")
			checkInvariants(t, tl, false)
			v, a := tl.Tracks[0], tl.Tracks[1]
			if v.Name != "v0" || a.Name != "a0" {
				t.Fatalf("tracks %s, %s; want v0, a0", v.Name, a.Name)
			}
			if len(a.Segments) < 8 {
				t.Fatalf("%d audio segments", len(a.Segments))
			}
			// Every audio segment after the first starts within one AAC frame
			// of a video segment start.
			frame := time.Second * 1024 / 48000
			last := v.Segments[len(v.Segments)-1]
			for i, as := range a.Segments[1:] {
				if as.StartOffset() > last.StartOffset() {
					break // the video's open segment has no cut yet
				}
				best := time.Duration(math.MaxInt64)
				for _, vs := range v.Segments {
					best = min(best, absDur(as.StartOffset()-vs.StartOffset()))
				}
				if best > frame {
					t.Errorf("audio segment %d starts %v from the nearest video segment", i+1, best)
				}
			}
		})
	}
}

func TestSegmentationAudioOnly(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("radio", aacTrack(t, 48000))
	aus := make([]ingest.AccessUnit, 48000*12/1024)
	for i := range aus {
		aus[i] = ingest.AccessUnit{DTS: int64(i) * 1024, PTS: int64(i) * 1024, Key: true, Data: make([]byte, 200)}
	}
	write(t, sess, aus)
	tl := e.timeline("radio")
	checkInvariants(t, tl, false)
	segs := tl.Tracks[0].Segments
	// The first frame at or after 2 s: 94 frames = 2.00533 s, so the target
	// duration rounds up to 3 s.
	for i, s := range segs {
		if s.Duration != 94*1024 {
			t.Errorf("segment %d: %d samples' worth, want 94 frames", i, s.Duration)
		}
	}
	if tl.TargetDuration != 3*time.Second {
		t.Errorf("target duration %v, want 3s", tl.TargetDuration)
	}
}

func absDur(d time.Duration) time.Duration {
	if d < 0 {
		return -d
	}
	return d
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
