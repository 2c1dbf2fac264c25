package packager

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// avSession is 2s-GOP 30 fps video plus 48 kHz AAC, both in a 90 kHz clock.
func avMedia(seconds int, startDTS int64) []ingest.AccessUnit {
	return interleave(synthVideo(0, 30*seconds, 30, 60, startDTS), synthAAC(1, seconds*48000/1024, startDTS))
}

func TestReconnectWithinGrace(t *testing.T) {
	tests := []struct {
		name string
		// live: the clock advances with the media, so the return comes after
		// the end of the first period; otherwise the clock lags behind it.
		live        bool
		wantAtClock bool
	}{
		{name: "clock after the previous end", live: true, wantAtClock: true},
		{name: "clock before the previous end", live: false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess := e.publish("re", videoTrack(t, 90000), aacTrack(t, 90000))
			write(t, sess, avMedia(10, 5000))
			if tc.live {
				e.clock.Advance(10 * time.Second)
			}
			sess.Close(errors.New("connection reset"))
			e.clock.Advance(3 * time.Second)
			e.r.tick()
			before := e.timeline("re")
			if before.Ended {
				t.Fatal("ended within the grace")
			}

			// The publisher returns with timestamps starting from zero again.
			sess2 := e.publish("re", videoTrack(t, 90000), aacTrack(t, 90000))
			write(t, sess2, avMedia(6, 0))
			tl := e.timeline("re")
			checkInvariants(t, tl, true)
			if len(tl.Periods) != 2 {
				t.Fatalf("%d periods, want 2", len(tl.Periods))
			}
			p1, p2 := tl.Periods[0], tl.Periods[1]
			var p1End time.Duration
			for _, tt := range tl.Tracks {
				for _, s := range tt.Segments {
					if s.Period == p1.ID {
						p1End = max(p1End, s.StartOffset()+s.Length())
					}
				}
			}
			want := p1End
			if tc.wantAtClock {
				want = time.Duration(e.clock.Now().UnixNano())
			}
			if absDur(p2.Start-want) > time.Millisecond || p2.Start < p1End {
				t.Errorf("second period starts at %v, want %v (first ends %v)", p2.Start, want, p1End)
			}
			for _, tt := range tl.Tracks {
				var last *Segment
				for i, s := range tt.Segments {
					first2 := s.Period == p2.ID && (i == 0 || tt.Segments[i-1].Period == p1.ID)
					if s.Discontinuity != first2 {
						t.Errorf("%s segment %d (period %s): discontinuity %v", tt.Name, i, s.Period, s.Discontinuity)
					}
					if first2 {
						if s.Seq != last.Seq+1 {
							t.Errorf("%s: seq %d after %d across the reconnect", tt.Name, s.Seq, last.Seq)
						}
						if s.StartOffset() < last.StartOffset()+last.Length() || s.StartOffset() < p2.Start-time.Millisecond {
							t.Errorf("%s: time went back: %v after %v", tt.Name, s.StartOffset(), last.StartOffset()+last.Length())
						}
					}
					last = s
				}
			}
			infos := e.r.Streams()
			if len(infos) != 1 || !infos[0].Live || infos[0].Ended || len(infos[0].Tracks) != 2 {
				t.Errorf("streams %+v", infos)
			}
		})
	}
}

// TestDiscontinuitySequence: a discontinuity that leaves the window is
// counted.
func TestDiscontinuitySequence(t *testing.T) {
	e := newEnv(t, Options{Window: 6 * time.Second})
	sess := e.publish("ds", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*5, 30, 60, 0))
	sess.Close(nil)
	sess = e.publish("ds", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*4, 30, 60, 0))
	if got := e.timeline("ds").Tracks[0].DiscontinuitySequence; got != 0 {
		t.Errorf("discontinuity sequence %d while in the window", got)
	}
	write(t, sess, synthVideo(0, 30*20, 30, 60, 30*4*3000))
	tl := e.timeline("ds")
	if got := tl.Tracks[0].DiscontinuitySequence; got != 1 {
		t.Errorf("discontinuity sequence %d, want 1", got)
	}
	if len(tl.Periods) != 1 {
		t.Errorf("%d periods; the first has no segments left", len(tl.Periods))
	}
}

func TestGraceExpiryAndRemoval(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("gone", videoTrack(t, 90000), aacTrack(t, 90000))
	write(t, sess, avMedia(5, 0))
	sess.Close(nil)
	e.clock.Advance(10*time.Second - time.Millisecond)
	e.r.tick()
	live := e.timeline("gone")
	if live.Ended {
		t.Fatal("ended before the grace passed")
	}
	e.clock.Advance(time.Millisecond)
	e.r.tick()
	select {
	case <-live.Changed():
	default:
		t.Fatal("ending did not make a new snapshot")
	}
	ended := e.timeline("gone")
	if !ended.Ended || len(ended.Tracks[0].Segments) == 0 {
		t.Fatalf("after the grace: ended %v, %d segments", ended.Ended, len(ended.Tracks[0].Segments))
	}
	if got := e.metricValue("liveorigin_streams_active"); got != 0 {
		t.Errorf("streams active %v", got)
	}
	// Readable for one window (30s here), then gone.
	e.clock.Advance(30*time.Second - time.Millisecond)
	e.r.tick()
	if _, err := e.r.Timeline("gone"); err != nil {
		t.Fatalf("removed too early: %v", err)
	}
	e.clock.Advance(time.Millisecond)
	e.r.tick()
	if _, err := e.r.Timeline("gone"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after the window: %v, want ErrNotFound", err)
	}
	if n := len(e.r.Streams()); n != 0 {
		t.Errorf("%d streams listed", n)
	}
	if got := e.metricValue("liveorigin_ingest_frames_total", "stream", "gone"); got != 0 {
		t.Errorf("frames series kept after removal: %v", got)
	}
	// The name is free again.
	e.publish("gone", videoTrack(t, 90000))
}

// TestPublishEndedStream: a publisher for an ended stream still in the
// registry gets a fresh stream.
func TestPublishEndedStream(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("again", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*5, 30, 60, 0))
	sess.Close(nil)
	e.clock.Advance(11 * time.Second)
	e.r.tick()
	ended := e.timeline("again")
	if !ended.Ended {
		t.Fatal("not ended")
	}
	sess = e.publish("again", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*5, 30, 60, 0))
	tl := e.timeline("again")
	if tl.Ended || tl.Version <= ended.Version || len(tl.Periods) != 1 {
		t.Fatalf("fresh stream: ended %v version %d (was %d), %d periods", tl.Ended, tl.Version, ended.Version, len(tl.Periods))
	}
	seg := tl.Tracks[0].Segments[0]
	if seg.Discontinuity || seg.Seq != seqBaseAt(e.clock.Now()) {
		t.Errorf("first segment of the fresh stream: seq %d discontinuity %v", seg.Seq, seg.Discontinuity)
	}
	if seg.StartOffset() < ended.Tracks[0].Segments[len(ended.Tracks[0].Segments)-1].StartOffset() {
		t.Errorf("the fresh stream's time goes back")
	}
	if got := e.metricValue("liveorigin_streams_active"); got != 1 {
		t.Errorf("streams active %v", got)
	}
}

func TestPublishRefusals(t *testing.T) {
	tests := []struct {
		name   string
		setup  func(e *testEnv)
		stream string
		want   error
		result string
	}{
		{name: "duplicate", setup: func(e *testEnv) { e.publish("dup", videoTrack(e.t, 90000)) }, stream: "dup",
			want: ingest.ErrAlreadyPublishing, result: resultRefusedDuplicate},
		{name: "bad name", stream: "../etc", want: ingest.ErrBadName, result: resultRefusedName},
		{name: "limit", setup: func(e *testEnv) { e.publish("one", videoTrack(e.t, 90000)) }, stream: "two",
			want: ErrTooManyStreams, result: resultRefusedLimit},
		{name: "closed", setup: func(e *testEnv) { e.r.Close() }, stream: "late", want: ingest.ErrClosed, result: resultRefusedClosed},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{MaxStreams: 1})
			if tc.setup != nil {
				tc.setup(e)
			}
			sess, err := e.r.Publish(context.Background(), testInfo(tc.stream))
			if !errors.Is(err, tc.want) || sess != nil {
				t.Fatalf("Publish = %v, %v; want %v", sess, err, tc.want)
			}
			if got := e.metricValue("liveorigin_publish_sessions_total", "result", tc.result); got != 1 {
				t.Errorf("%s count %v, want 1", tc.result, got)
			}
		})
	}
}

// TestDuplicateLeavesFirst: a refused second publisher does not disturb the
// first.
func TestDuplicateLeavesFirst(t *testing.T) {
	e := newEnv(t, Options{})
	first := e.publish("dup", videoTrack(t, 90000))
	aus := synthVideo(0, 30*6+1, 30, 60, 0)
	write(t, first, aus[:90])
	if _, err := e.r.Publish(context.Background(), testInfo("dup")); !errors.Is(err, ingest.ErrAlreadyPublishing) {
		t.Fatalf("second publisher: %v", err)
	}
	write(t, first, aus[90:])
	if infos := e.r.Streams(); !infos[0].Live || infos[0].Segments != 3 {
		t.Errorf("first publisher disturbed: %+v", infos[0])
	}
}

func TestRegistryClose(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("bye", videoTrack(t, 90000), aacTrack(t, 90000))
	aus := avMedia(3, 0) // one closed video segment; 1 s pending
	write(t, sess, aus)
	before := e.timeline("bye")
	e.r.Close()
	tl := e.timeline("bye")
	if !tl.Ended {
		t.Fatal("not ended after Close")
	}
	checkInvariants(t, tl, false)
	v := tl.Tracks[0].Segments
	if len(v) != len(before.Tracks[0].Segments)+1 {
		t.Fatalf("%d video segments after Close, want the pending samples flushed as one more", len(v))
	}
	last := v[len(v)-1]
	if end := last.Start + last.Duration; end != ticksAt(epoch.UnixNano(), 90000)+90*3000 {
		t.Errorf("final video segment ends at %d; want after all 90 frames", end)
	}
	if err := sess.WriteAU(aus[0]); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("WriteAU after Close: %v", err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(t, 90000)}); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("Start after Close: %v", err)
	}
	sess.Close(nil)
	e.r.Close() // idempotent
	for _, m := range []string{"liveorigin_streams_active", "liveorigin_publishers_active"} {
		if got := e.metricValue(m); got != 0 {
			t.Errorf("%s = %v after Close", m, got)
		}
	}
}

// TestNewConfigurationNewPeriod: a second Start with a new SPS starts a new
// period without a gap; the same configuration again changes nothing.
func TestNewConfigurationNewPeriod(t *testing.T) {
	e := newEnv(t, Options{})
	v1, a := videoTrack(t, 90000), aacTrack(t, 90000)
	sess := e.publish("sps", v1, a)
	write(t, sess, avMedia(5, 0))
	if err := sess.Start([]ingest.Track{v1, a}); err != nil {
		t.Fatal(err)
	}
	if n := len(e.timeline("sps").Periods); n != 1 {
		t.Fatalf("the same configuration made %d periods", n)
	}
	v2 := cachedClip(t, "h264_160x120.mp4").track
	v2.ClockRate = 90000
	if err := sess.Start([]ingest.Track{v2, a}); err != nil {
		t.Fatal(err)
	}
	write(t, sess, avMedia(5, 5*90000))
	tl := e.timeline("sps")
	checkInvariants(t, tl, false)
	if len(tl.Periods) != 2 {
		t.Fatalf("%d periods, want 2", len(tl.Periods))
	}
	for _, tt := range tl.Tracks {
		var prev *Segment
		for _, s := range tt.Segments {
			if prev != nil && s.Period != prev.Period {
				if !s.Discontinuity || s.Start != prev.Start+prev.Duration && tt.Name == "v0" {
					t.Errorf("%s: new period segment discontinuity %v, start %d after end %d", tt.Name, s.Discontinuity, s.Start, prev.Start+prev.Duration)
				}
				if tt.Name == "v0" && s.Init == prev.Init {
					t.Errorf("video init unchanged across the new SPS")
				}
			}
			prev = s
		}
	}
	if w := tl.Tracks[0].Track.Width; w != 160 {
		t.Errorf("track width %d, want the new 160", w)
	}
	if err := sess.Start([]ingest.Track{a}); !errors.Is(err, ingest.ErrBadTracks) {
		t.Errorf("Start with fewer tracks: %v", err)
	}
}

// TestLayoutChange: a returning publisher with other tracks ends the old
// stream and starts a fresh one.
func TestLayoutChange(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("lay", videoTrack(t, 90000), aacTrack(t, 90000))
	write(t, sess, avMedia(5, 0))
	sess.Close(nil)
	old := e.timeline("lay")
	e.clock.Advance(2 * time.Second)
	sess = e.publish("lay", aacTrack(t, 90000))
	tl := e.timeline("lay")
	if tl.Ended || len(tl.Tracks) != 1 || tl.Tracks[0].Name != "a0" || len(tl.Periods) != 0 || tl.Version <= old.Version+1 {
		t.Fatalf("after the layout change: %+v", tl)
	}
	if !strings.Contains(e.logs.String(), "track layout changed") {
		t.Errorf("no log line about the layout change")
	}
	write(t, sess, synthAAC(0, 200, 0))
	if tl := e.timeline("lay"); tl.Tracks[0].Segments[0].Discontinuity {
		t.Errorf("the fresh stream's first segment is a discontinuity")
	}
}

// TestContextEndsSession: cancelling the publish context ends the session.
func TestContextEndsSession(t *testing.T) {
	e := newEnv(t, Options{})
	ctx, cancel := context.WithCancel(context.Background())
	sess, err := e.r.Publish(ctx, testInfo("ctx"))
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(t, 90000)}); err != nil {
		t.Fatal(err)
	}
	write(t, sess, synthVideo(0, 45, 30, 60, 0)) // pending samples: the end flushes them
	tl := e.timeline("ctx")
	cancel()
	select {
	case <-tl.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("cancelling the context did not end the session")
	}
	if err := sess.WriteAU(synthVideo(0, 1, 30, 60, 0)[0]); !errors.Is(err, ingest.ErrClosed) {
		t.Errorf("WriteAU after cancel: %v", err)
	}
	if infos := e.r.Streams(); infos[0].Live {
		t.Error("still live")
	}
}

func TestStartErrors(t *testing.T) {
	v := func(t testing.TB) ingest.Track { return videoTrack(t, 90000) }
	tests := []struct {
		name   string
		tracks func(t testing.TB) []ingest.Track
		want   error
	}{
		{"no tracks", func(t testing.TB) []ingest.Track { return nil }, ingest.ErrBadTracks},
		{"five tracks", func(t testing.TB) []ingest.Track { return []ingest.Track{v(t), v(t), v(t), v(t), v(t)} }, ingest.ErrBadTracks},
		{"unknown codec", func(t testing.TB) []ingest.Track {
			return []ingest.Track{{Kind: ingest.Video, Codec: "vp9", ClockRate: 90000}}
		}, ingest.ErrUnsupportedCodec},
		{"kind mismatch", func(t testing.TB) []ingest.Track {
			tr := v(t)
			tr.Kind = ingest.Audio
			return []ingest.Track{tr}
		}, ingest.ErrBadTracks},
		{"no clock rate", func(t testing.TB) []ingest.Track { tr := v(t); tr.ClockRate = 0; return []ingest.Track{tr} }, ingest.ErrBadTracks},
		{"no SPS", func(t testing.TB) []ingest.Track { tr := v(t); tr.SPS = nil; return []ingest.Track{tr} }, ingest.ErrBadTracks},
		{"corrupt SPS", func(t testing.TB) []ingest.Track {
			tr := v(t)
			tr.SPS = [][]byte{{0x67, 0xff}}
			return []ingest.Track{tr}
		}, ingest.ErrUnsupportedCodec},
		{"hand-built track without derived fields", func(t testing.TB) []ingest.Track {
			tr := v(t)
			return []ingest.Track{{Kind: tr.Kind, Codec: tr.Codec, ClockRate: tr.ClockRate, SPS: tr.SPS, PPS: tr.PPS}}
		}, ingest.ErrBadTracks},
		{"aac without frame length", func(t testing.TB) []ingest.Track {
			tr := aacTrack(t, 48000)
			tr.FrameSamples = 0
			return []ingest.Track{tr}
		}, ingest.ErrBadTracks},
		{"aac config too long for an esds box", func(t testing.TB) []ingest.Track {
			tr := aacTrack(t, 48000)
			tr.AudioSpecificConfig = append(tr.AudioSpecificConfig[:2:2], make([]byte, 200)...)
			return []ingest.Track{tr}
		}, ingest.ErrUnsupportedCodec},
		{"opus 6 channels", func(t testing.TB) []ingest.Track {
			tr := opusTrack(t, 48000)
			tr.Channels = 6
			return []ingest.Track{tr}
		}, ingest.ErrUnsupportedCodec},
		{"av1 without config", func(t testing.TB) []ingest.Track {
			tr := cachedClip(t, "av1.mp4").track
			tr.AV1Config = nil
			return []ingest.Track{tr}
		}, ingest.ErrBadTracks},
		{"corrupt av1 config", func(t testing.TB) []ingest.Track {
			tr := cachedClip(t, "av1.mp4").track
			tr.AV1Config = []byte{0x01, 0, 0x0c, 0} // marker bit clear
			return []ingest.Track{tr}
		}, ingest.ErrUnsupportedCodec},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, Options{})
			sess, err := e.r.Publish(context.Background(), testInfo("s"))
			if err != nil {
				t.Fatal(err)
			}
			if err := sess.Start(tc.tracks(t)); !errors.Is(err, tc.want) {
				t.Errorf("Start = %v, want %v", err, tc.want)
			}
			if err := sess.WriteAU(ingest.AccessUnit{Data: []byte{1}}); !errors.Is(err, ingest.ErrBadTracks) {
				t.Errorf("WriteAU before a good Start = %v", err)
			}
		})
	}
	e := newEnv(t, Options{})
	sess := e.publish("idx", videoTrack(t, 90000))
	if err := sess.WriteAU(ingest.AccessUnit{Track: 1, Data: []byte{1}}); !errors.Is(err, ingest.ErrBadTracks) {
		t.Errorf("WriteAU for track 1 of 1 = %v", err)
	}
}

func TestStreamsInfo(t *testing.T) {
	e := newEnv(t, Options{})
	write(t, e.publish("b", videoTrack(t, 90000), aacTrack(t, 90000)), avMedia(12, 0))
	e.publish("a", aacTrack(t, 48000))
	infos := e.r.Streams()
	if len(infos) != 2 || infos[0].Name != "a" || infos[1].Name != "b" {
		t.Fatalf("streams %+v, want a, b", infos)
	}
	b := infos[1]
	if !b.Live || b.Protocol != "rtmp" || b.RemoteAddr != "192.0.2.1:5000" || len(b.SessionID) != 8 ||
		!b.Started.Equal(epoch) || !b.SessionStarted.Equal(epoch) || b.Segments != 5 || b.BytesHeld == 0 {
		t.Errorf("stream info %+v", b)
	}
	v, a := b.Tracks[0], b.Tracks[1]
	if v.Name != "v0" || v.Kind != "video" || v.Codec != "h264" || v.CodecString != "avc1.64000D" ||
		v.Width != 320 || v.Height != 240 || v.FrameRate != 30 || v.Bitrate != 5000*30*8 {
		t.Errorf("video %+v", v)
	}
	if a.Name != "a0" || a.Kind != "audio" || a.CodecString != "mp4a.40.2" || a.SampleRate != 48000 || a.Channels != 2 || a.FrameRate != 0 {
		t.Errorf("audio %+v", a)
	}
	if wantAudio := 300 * 8 * 48000 / 1024; absInt(a.Bitrate-wantAudio) > wantAudio/50 || b.IngestBitrate != v.Bitrate+a.Bitrate {
		t.Errorf("audio bitrate %d (want ~%d), ingest %d", a.Bitrate, wantAudio, b.IngestBitrate)
	}
}

// TestTicker runs the Registry with its own timer goroutine and real clock:
// the grace expires without anyone calling tick, and Close stops the timer
// (goleak checks).
func TestTicker(t *testing.T) {
	r, err := NewRegistry(Options{ReconnectGrace: time.Millisecond, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sess, err := r.Publish(context.Background(), testInfo("tick"))
	if err != nil {
		t.Fatal(err)
	}
	tl, _ := r.Timeline("tick")
	sess.Close(nil)
	deadline := time.After(10 * time.Second)
	for !tl.Ended {
		select {
		case <-tl.Changed():
			tl, _ = r.Timeline("tick")
		case <-deadline:
			t.Fatal("the ticker did not end the stream")
		}
	}
}

func TestNewRegistryErrors(t *testing.T) {
	if _, err := NewRegistry(Options{SegmentTarget: time.Millisecond}); err == nil || !strings.Contains(err.Error(), "segment-target") {
		t.Errorf("bad options: %v", err)
	}
	e := newEnv(t, Options{})
	if _, err := NewRegistry(Options{Registerer: e.reg}); err == nil {
		t.Error("registering the metrics twice succeeded")
	}
}

func absInt(v int) int {
	if v < 0 {
		return -v
	}
	return v
}
