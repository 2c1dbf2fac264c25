package packager

import (
	"errors"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestWindowAndRetained(t *testing.T) {
	e := newEnv(t, Options{Window: 10 * time.Second})
	sess := e.publish("w", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*40, 30, 60, 0)) // 19 segments of 2s closed, the 20th open
	tl := e.timeline("w")
	checkInvariants(t, tl, false)
	tt := tl.Tracks[0]
	if tl.Window != 10*time.Second {
		t.Errorf("window %v", tl.Window)
	}
	var total time.Duration
	for _, s := range tt.Segments {
		total += s.Length()
	}
	if total < tl.Window || total-tt.Segments[0].Length() >= tl.Window {
		t.Errorf("window holds %v in %d segments; want the fewest newest covering %v", total, len(tt.Segments), tl.Window)
	}
	var retained time.Duration
	for _, s := range tt.Retained {
		retained += s.Length()
	}
	if len(tt.Segments) != 5 || len(tt.Retained) != 5 || retained > tl.Window {
		t.Errorf("%d window + %d retained segments (%v retained); want 5 + 5", len(tt.Segments), len(tt.Retained), retained)
	}
	if last := tt.Retained[len(tt.Retained)-1]; last.Seq+1 != tt.Segments[0].Seq || last.Start+last.Duration != tt.Segments[0].Start {
		t.Errorf("retained does not end where the window starts")
	}
	wantFirstSeq := seqBaseAt(epoch) + 9 // 9 segments dropped entirely
	if tt.Retained[0].Seq != wantFirstSeq {
		t.Errorf("oldest retained seq %d, want %d", tt.Retained[0].Seq, wantFirstSeq)
	}
	if tt.MediaSequence() != tt.Segments[0].Seq {
		t.Errorf("media sequence %d", tt.MediaSequence())
	}

	// Lookups by start time.
	lookups := []struct {
		name  string
		start uint64
		want  *Segment
		err   error
	}{
		{"retained", tt.Retained[1].Start, tt.Retained[1], nil},
		{"window", tt.Segments[3].Start, tt.Segments[3], nil},
		{"newest", tt.Segments[4].Start, tt.Segments[4], nil},
		{"evicted", tt.Retained[0].Start - 180000, nil, ErrGone},
		{"future", tt.Segments[4].Start + 180000, nil, ErrNotYet},
		{"between", tt.Segments[1].Start + 1, nil, ErrNotFound},
	}
	for _, l := range lookups {
		got, err := tt.Segment(l.start)
		if got != l.want || !errors.Is(err, l.err) {
			t.Errorf("%s: Segment(%d) = %v, %v; want %v, %v", l.name, l.start, got, err, l.want, l.err)
		}
	}
	init := tt.Segments[0].Init
	if got, err := tt.Init(init.Name); got != init || err != nil {
		t.Errorf("Init(%s) = %v, %v", init.Name, got, err)
	}
	if _, err := tt.Init("init-0000000000000000.mp4"); !errors.Is(err, ErrNotFound) {
		t.Errorf("unknown init: %v", err)
	}

	// Rates over the window.
	var bytes int
	for _, s := range tt.Segments {
		bytes += len(s.Data)
	}
	if want := bitsPerSecond(bytes, total); tt.AverageBandwidth != want || tt.PeakBandwidth < want {
		t.Errorf("bandwidth average %d peak %d, want average %d", tt.AverageBandwidth, tt.PeakBandwidth, want)
	}
	if tt.FrameRate != 30 {
		t.Errorf("frame rate %v, want 30", tt.FrameRate)
	}
	held := len(init.Data)
	for _, s := range append(append([]*Segment{}, tt.Retained...), tt.Segments...) {
		held += len(s.Data)
	}
	if got := e.metricValue("liveorigin_packager_bytes_held", "stream", "w"); got != float64(held) {
		t.Errorf("bytes held %v, want %d", got, held)
	}
	if len(tl.Periods) != 1 || tl.Periods[0].Start != time.Duration(epoch.UnixNano()) {
		t.Errorf("periods %+v, want one starting at the clock", tl.Periods)
	}
}

// TestWindowMinimum: the effective window is at least three target durations.
func TestWindowMinimum(t *testing.T) {
	e := newEnv(t, Options{Window: time.Second, MaxTargetDuration: 4 * time.Second})
	sess := e.publish("w", videoTrack(t, 90000))
	write(t, sess, synthVideo(0, 30*30, 30, 120, 0)) // 4s GOPs: TD 4s
	tl := e.timeline("w")
	if tl.TargetDuration != 4*time.Second || tl.Window != 12*time.Second {
		t.Errorf("target %v window %v; want 4s and 12s", tl.TargetDuration, tl.Window)
	}
	if n := len(tl.Tracks[0].Segments); n != 3 {
		t.Errorf("%d segments in the window, want 3", n)
	}
}

func TestSnapshotChanged(t *testing.T) {
	e := newEnv(t, Options{})
	if _, err := e.r.Publish(t.Context(), testInfo("c")); err != nil {
		t.Fatal(err)
	}
	first := e.timeline("c")
	if first.Changed() == nil || first.Version == 0 || first.Ended || len(first.Tracks) != 0 {
		t.Fatalf("first snapshot %+v", first)
	}
	select {
	case <-first.Changed():
		t.Fatal("first snapshot already changed")
	default:
	}
	sess, err := e.r.Publish(t.Context(), testInfo("d"))
	if err != nil {
		t.Fatal(err)
	}
	d := e.timeline("d")
	if err := sess.Start([]ingest.Track{videoTrack(t, 90000)}); err != nil {
		t.Fatal(err)
	}
	select {
	case <-first.Changed():
		t.Fatal("another stream's change woke this one")
	default:
	}
	select {
	case <-d.Changed():
	case <-time.After(5 * time.Second):
		t.Fatal("Start did not replace the snapshot")
	}
	if now := e.timeline("d"); now.Version <= d.Version || len(now.Tracks) != 1 {
		t.Errorf("new snapshot version %d (was %d), %d tracks", now.Version, d.Version, len(now.Tracks))
	}
}

// Media sequence numbers fit a 32-bit signed integer for decades and a
// stream started later starts higher.
func TestSeqBase(t *testing.T) {
	for _, tc := range []struct {
		at   time.Time
		want uint64
	}{
		{time.Date(2024, 6, 1, 0, 0, 0, 0, time.UTC), 0},
		{time.Date(2025, 1, 1, 0, 0, 1, 0, time.UTC), 2},
		{time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC), 2 * uint64(time.Date(2026, 11, 26, 0, 0, 0, 0, time.UTC).Sub(seqEpoch)/time.Second)},
	} {
		if got := seqBaseAt(tc.at); got != tc.want {
			t.Errorf("seqBaseAt(%v) = %d, want %d", tc.at, got, tc.want)
		}
	}
	if got := seqBaseAt(time.Date(2059, 1, 1, 0, 0, 0, 0, time.UTC)); got >= 1<<31 {
		t.Errorf("seqBaseAt(2059) = %d, not below 2^31", got)
	}
}
