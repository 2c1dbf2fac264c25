package limits

import (
	"context"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// BenchmarkWriteAU measures what the limits add to an access unit's way into
// the packager: the same AAC stream through the Registry alone and through
// the limits wrapper with every ingest limit on.
func BenchmarkWriteAU(b *testing.B) {
	for _, bc := range []struct {
		name    string
		limited bool
	}{{"limits", true}, {"registry", false}} {
		b.Run(bc.name, func(b *testing.B) {
			r := newRegistry(b, packager.Options{})
			var pub ingest.Publisher = r
			if bc.limited {
				pub = NewPublisher(r, NewHits(nil, nil), PublisherLimits{MaxPerAddress: 10, MaxBitrate: 1 << 40})
			}
			s, err := pub.Publish(context.Background(), ingest.PublishInfo{Name: "bench", Protocol: "rtmp", RemoteAddr: "192.0.2.1:1"})
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close(nil)
			if err := s.Start([]ingest.Track{aacTrack(b)}); err != nil {
				b.Fatal(err)
			}
			data := make([]byte, 300)
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if err := s.WriteAU(ingest.AccessUnit{DTS: int64(i) * 1024, PTS: int64(i) * 1024, Key: true, Data: data}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkMeter is the bitrate limit's own work per access unit.
func BenchmarkMeter(b *testing.B) {
	now := time.Unix(1000, 0)
	m := newMeter(5*time.Second, now)
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		now = now.Add(time.Millisecond)
		if m.add(1000, now)*8*int64(time.Second)/int64(m.window) < 0 {
			b.Fatal("negative")
		}
	}
}
