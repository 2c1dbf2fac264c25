package packager

import (
	"context"
	"log/slog"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

func benchRegistry(b *testing.B) (*Registry, *fakeClock) {
	clock := newFakeClock()
	r, err := NewRegistry(Options{Now: clock.Now, Logger: slog.New(slog.DiscardHandler), Registerer: prometheus.NewRegistry(), manualTick: true})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(r.Close)
	return r, clock
}

// BenchmarkWriteAU measures packaging per access unit: 30 fps H.264 with
// ~5 KB frames and 2 s GOPs, interleaved with 48 kHz AAC; segment encoding,
// window eviction and snapshots are included, amortised over the AUs.
func BenchmarkWriteAU(b *testing.B) {
	r, _ := benchRegistry(b)
	sess, err := r.Publish(context.Background(), testInfo("bench"))
	if err != nil {
		b.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(b, 90000), aacTrack(b, 90000)}); err != nil {
		b.Fatal(err)
	}
	const seconds = 60
	aus := avMedia(seconds, 0)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		loop, k := i/len(aus), i%len(aus)
		au := aus[k]
		au.DTS += int64(loop) * seconds * 90000
		au.PTS += int64(loop) * seconds * 90000
		if err := sess.WriteAU(au); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshot measures building a snapshot of a stream with a full
// 30 s window of video and audio (what every segment costs once).
func BenchmarkSnapshot(b *testing.B) {
	r, clock := benchRegistry(b)
	sess, err := r.Publish(context.Background(), testInfo("bench"))
	if err != nil {
		b.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(b, 90000), aacTrack(b, 90000)}); err != nil {
		b.Fatal(err)
	}
	write(b, sess, avMedia(70, 0))
	st := r.streams["bench"]
	st.mu.Lock()
	defer st.mu.Unlock()
	if n := len(st.tracks[0].segments) + len(st.tracks[0].retained); n < 20 {
		b.Fatalf("only %d segments held", n)
	}
	now := clock.Now()
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.publishLocked(now)
	}
}

// BenchmarkTimeline measures the read path the origin takes per request.
func BenchmarkTimeline(b *testing.B) {
	r, _ := benchRegistry(b)
	if _, err := r.Publish(context.Background(), testInfo("bench")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := r.Timeline("bench"); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkEncodeSegment measures encoding one 2 s video segment (60 frames
// of 5 KB): the one copy of the sample data plus the boxes.
func BenchmarkEncodeSegment(b *testing.B) {
	samples := make([]sample, 60)
	for i := range samples {
		samples[i] = sample{dts: uint64(i) * 3000, dur: 3000, cto: 6000, key: i == 0, data: make([]byte, 5000)}
	}
	b.ReportAllocs()
	b.SetBytes(60 * 5000)
	for i := 0; i < b.N; i++ {
		if _, _, err := encodeSegment(samples, uint64(i)); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSnapshotPart measures the snapshot every part costs: the
// window is shared with the previous snapshot, only the parts are new.
func BenchmarkSnapshotPart(b *testing.B) {
	r, clock := benchRegistry(b)
	sess, err := r.Publish(context.Background(), testInfo("bench"))
	if err != nil {
		b.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{videoTrack(b, 90000), aacTrack(b, 90000)}); err != nil {
		b.Fatal(err)
	}
	write(b, sess, avMedia(70, 0))
	st := r.streams["bench"]
	st.mu.Lock()
	defer st.mu.Unlock()
	now := clock.Now()
	st.publishLocked(now)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		st.publishPartsLocked(now)
	}
}
