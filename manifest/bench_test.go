package manifest

import "testing"

// The origin renders once per snapshot change, so these bound the work per
// new segment, not per request.

func BenchmarkMultivariant(b *testing.B) {
	tl := benchTimeline(15)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Multivariant(tl); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMediaPlaylist(b *testing.B) {
	tl := benchTimeline(15)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MediaPlaylist(tl, "v0", MediaOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkMPD(b *testing.B) {
	tl := benchTimeline(15) // 15 segments × 2 tracks
	o := MPDOptions{Now: tl.Updated}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MPD(tl, o); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkMediaPlaylistLowLatency renders a low-latency playlist (parts,
// preload hint, rendition report), once per part at the origin.
func BenchmarkMediaPlaylistLowLatency(b *testing.B) {
	tl := llFixtures()[0].tl
	b.ReportAllocs()
	for b.Loop() {
		if _, err := MediaPlaylist(tl, "v0", MediaOptions{}); err != nil {
			b.Fatal(err)
		}
	}
}
