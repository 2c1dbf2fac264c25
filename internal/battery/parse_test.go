package battery

import (
	"slices"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const testMultivariant = `#EXTM3U
#EXT-X-VERSION:9
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aud",NAME="a0",DEFAULT=YES,URI="a0.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=1000000,CODECS="avc1.64001e,mp4a.40.2",AUDIO="aud"
v0.m3u8
`

const testMedia = `#EXTM3U
#EXT-X-TARGETDURATION:2
#EXT-X-MAP:URI="v0/init-1.mp4"
#EXT-X-PROGRAM-DATE-TIME:2026-11-26T08:00:00.000Z
#EXTINF:2.000,
v0/1764144000000.m4s
#EXT-X-PART:DURATION=0.33333,URI="v0/1764144002000.p0.m4s",INDEPENDENT=YES
#EXTINF:2.000,
v0/1764144002000.m4s
#EXT-X-PRELOAD-HINT:TYPE=PART,URI="v0/1764144004000.p1.m4s"
`

const testMetrics = `# HELP go_goroutines Number of goroutines that currently exist.
# TYPE go_goroutines gauge
go_goroutines 57
go_memstats_heap_inuse_bytes 4.25984e+06
liveorigin_packager_bytes_held{stream="clean"} 930716
liveorigin_rtmp_errors_total{reason="protocol"} 3
liveorigin_rtmp_errors_total{reason="a b}"} 1 1764144000000
`

func TestParsers(t *testing.T) {
	if got, want := playlistURIs(testMultivariant), []string{"a0.m3u8", "v0.m3u8"}; !slices.Equal(got, want) {
		t.Errorf("playlistURIs = %q, want %q", got, want)
	}
	target, inits, segs := mediaPlaylist(testMedia)
	if target != 2*time.Second || !slices.Equal(inits, []string{"v0/init-1.mp4"}) ||
		!slices.Equal(segs, []string{"v0/1764144000000.m4s", "v0/1764144002000.m4s"}) {
		t.Errorf("mediaPlaylist = %v %q %q", target, inits, segs)
	}
	m := parseMetrics(testMetrics)
	for k, want := range map[string]float64{
		"go_goroutines": 57, "go_memstats_heap_inuse_bytes": 4259840, `liveorigin_packager_bytes_held{stream="clean"}`: 930716,
		`liveorigin_rtmp_errors_total{reason="protocol"}`: 3, `liveorigin_rtmp_errors_total{reason="a b}"}`: 1,
	} {
		if m[k] != want {
			t.Errorf("parseMetrics[%s] = %v, want %v", k, m[k], want)
		}
	}
	if got := diffCounters(map[string]float64{"liveorigin_x_total": 1}, map[string]float64{"liveorigin_x_total": 3, "liveorigin_y_total": 0}); !slices.Equal(got, []string{"x_total +2"}) {
		t.Errorf("diffCounters = %q", got)
	}
}

func TestReadFLV(t *testing.T) {
	flv := []byte("FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00" +
		"\x09\x00\x00\x03\x00\x00\x21\x01\x00\x00\x00\x17\x00\x00\x00\x00\x00\x0e" + // video, 3 bytes, ts 0x01000021
		"\x08\x00\x00\x02\x00\x00\x00\x00\x00\x00\x00\xaf\x01\x00\x00\x00\x0d")
	tags, err := readFLV(flv)
	if err != nil {
		t.Fatal(err)
	}
	if len(tags) != 2 || !tags[0].video() || tags[0].ts != 0x01000021 || !tags[0].sequenceHeader() || !tags[0].keyframe() ||
		!tags[1].audio() || tags[1].sequenceHeader() {
		t.Errorf("readFLV = %+v", tags)
	}
	for _, bad := range []string{"", "FLV", "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\xff\xff"} {
		if _, err := readFLV([]byte(bad)); err == nil {
			t.Errorf("readFLV(%q): no error", bad)
		}
	}
}

// FuzzParsers: what the server under test answers (playlists, metrics)
// and what ffmpeg writes (FLV) never panics the battery.
func FuzzParsers(f *testing.F) {
	for _, s := range []string{testMultivariant, testMedia, testMetrics, "FLV\x01\x05\x00\x00\x00\x09\x00\x00\x00\x00\x09\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00\x17", "}", "#EXT-X-MAP:URI=\"", "#EXT-X-TARGETDURATION:-1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		playlistURIs(s)
		mediaPlaylist(s)
		parseMetrics(s)
		if tags, err := readFLV([]byte(s)); err == nil {
			for _, tag := range tags {
				tag.sequenceHeader()
				tag.keyframe()
			}
		}
	})
}
