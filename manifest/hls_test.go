package manifest

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// A strict test-only reader of the playlists we write: it fails on any line
// it does not expect, then compares what it read with the snapshot.

// attrList splits an rfc8216bis attribute list (4.2) into a map, keeping
// quoted values without their quotes.
func attrList(t *testing.T, s string) map[string]string {
	t.Helper()
	m := map[string]string{}
	for s != "" {
		eq := strings.IndexByte(s, '=')
		if eq <= 0 {
			t.Fatalf("attribute list %q: no name=value", s)
		}
		name, rest := s[:eq], s[eq+1:]
		var val string
		if strings.HasPrefix(rest, `"`) {
			end := strings.IndexByte(rest[1:], '"')
			if end < 0 {
				t.Fatalf("attribute %s: unterminated quoted string", name)
			}
			val, rest = rest[1:end+1], rest[end+2:]
		} else {
			end := strings.IndexByte(rest, ',')
			if end < 0 {
				end = len(rest)
			}
			val, rest = rest[:end], rest[end:]
		}
		if _, dup := m[name]; dup {
			t.Fatalf("attribute %s twice", name)
		}
		m[name] = val
		if rest != "" {
			if rest[0] != ',' {
				t.Fatalf("attribute list: %q after %s", rest, name)
			}
			rest = rest[1:]
		}
		s = rest
	}
	return m
}

func playlistLines(t *testing.T, b []byte) []string {
	t.Helper()
	s := string(b)
	if !strings.HasSuffix(s, "\n") {
		t.Fatalf("playlist does not end with a newline")
	}
	lines := strings.Split(strings.TrimSuffix(s, "\n"), "\n")
	if lines[0] != "#EXTM3U" {
		t.Fatalf("first line %q, want #EXTM3U", lines[0])
	}
	for i, l := range lines {
		if l == "" {
			t.Fatalf("line %d is empty", i+1)
		}
		for _, c := range l {
			if c < 0x20 || c == 0x7f {
				t.Fatalf("line %d has control character %q", i+1, c)
			}
		}
	}
	return lines[1:]
}

func checkMultivariant(t *testing.T, b []byte, tl *packager.Timeline) {
	t.Helper()
	lines := playlistLines(t, b)
	names := map[string]*packager.TrackTimeline{}
	for _, tt := range tl.Tracks {
		names[tt.Name+".m3u8"] = tt
	}
	var media, variants int
	defaults := 0
	independent := false
	for i := 0; i < len(lines); i++ {
		l := lines[i]
		tag, value, _ := strings.Cut(l, ":")
		switch tag {
		case "#EXT-X-VERSION":
			if value != "7" {
				t.Errorf("version %s", value)
			}
		case "#EXT-X-INDEPENDENT-SEGMENTS":
			independent = true
		case "#EXT-X-MEDIA":
			media++
			a := attrList(t, value)
			if a["TYPE"] != "AUDIO" || a["GROUP-ID"] != audioGroup {
				t.Errorf("EXT-X-MEDIA %q", value)
			}
			if names[a["URI"]] == nil {
				t.Errorf("EXT-X-MEDIA URI %q names no track", a["URI"])
			}
			if a["DEFAULT"] == "YES" {
				defaults++
			}
		case "#EXT-X-STREAM-INF":
			variants++
			a := attrList(t, value)
			if bw, err := strconv.Atoi(a["BANDWIDTH"]); err != nil || bw <= 0 {
				t.Errorf("BANDWIDTH %q", a["BANDWIDTH"])
			}
			if avg, peak := a["AVERAGE-BANDWIDTH"], a["BANDWIDTH"]; avg != "" {
				x, _ := strconv.Atoi(avg)
				y, _ := strconv.Atoi(peak)
				if x > y {
					t.Errorf("AVERAGE-BANDWIDTH %d above BANDWIDTH %d", x, y)
				}
			}
			if (a["AUDIO"] != "") != (media > 0) {
				t.Errorf("AUDIO=%q with %d EXT-X-MEDIA before it", a["AUDIO"], media)
			}
			i++
			if i == len(lines) || names[lines[i]] == nil {
				t.Fatalf("EXT-X-STREAM-INF not followed by a media playlist URI")
			}
		default:
			t.Errorf("unexpected line %q", l)
		}
	}
	if variants == 0 {
		t.Errorf("no variant stream")
	}
	if media > 0 && defaults != 1 {
		t.Errorf("%d DEFAULT=YES renditions, want 1", defaults)
	}
	if want := allIndependent(tl.Tracks); independent != want {
		t.Errorf("EXT-X-INDEPENDENT-SEGMENTS %v, want %v", independent, want)
	}
}

type readSegment struct {
	uri, mapURI string
	dur         float64
	date        time.Time
	disc        bool
}

func checkMediaPlaylist(t *testing.T, b []byte, tl *packager.Timeline, tt *packager.TrackTimeline) {
	t.Helper()
	lines := playlistLines(t, b)
	var (
		target                   = -1
		seq, discSeq             = int64(-1), int64(-1)
		independent, ended       bool
		segs                     []readSegment
		cur                      readSegment
		haveInf, haveDate, atEnd bool
	)
	for _, l := range lines {
		if atEnd {
			t.Fatalf("%q after EXT-X-ENDLIST", l)
		}
		tag, value, _ := strings.Cut(l, ":")
		var err error
		switch tag {
		case "#EXT-X-VERSION":
			if value != "7" {
				t.Errorf("version %s", value)
			}
		case "#EXT-X-TARGETDURATION":
			target, err = strconv.Atoi(value)
		case "#EXT-X-MEDIA-SEQUENCE":
			seq, err = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			discSeq, err = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-INDEPENDENT-SEGMENTS":
			independent = true
		case "#EXT-X-MAP":
			cur.mapURI = attrList(t, value)["URI"]
		case "#EXT-X-DISCONTINUITY":
			cur.disc = true
		case "#EXT-X-PROGRAM-DATE-TIME":
			cur.date, err = time.Parse(time.RFC3339Nano, value)
			haveDate = true
		case "#EXTINF":
			d, ok := strings.CutSuffix(value, ",")
			if !ok {
				t.Errorf("EXTINF %q has no comma", value)
			}
			cur.dur, err = strconv.ParseFloat(d, 64)
			haveInf = true
		case "#EXT-X-ENDLIST":
			ended, atEnd = true, true
		default:
			if strings.HasPrefix(l, "#") {
				t.Fatalf("unexpected tag %q", l)
			}
			if !haveInf || !haveDate || cur.mapURI == "" {
				t.Fatalf("segment %q without EXTINF, date or map", l)
			}
			cur.uri = l
			segs = append(segs, cur)
			cur = readSegment{mapURI: cur.mapURI}
			haveInf, haveDate = false, false
		}
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}

	if target <= 0 || seq < 0 || discSeq < 0 {
		t.Fatalf("header: target %d, media sequence %d, discontinuity sequence %d", target, seq, discSeq)
	}
	if uint64(seq) != tt.MediaSequence() || uint64(discSeq) != tt.DiscontinuitySequence {
		t.Errorf("media sequence %d, discontinuity sequence %d; want %d, %d", seq, discSeq, tt.MediaSequence(), tt.DiscontinuitySequence)
	}
	if ended != tl.Ended {
		t.Errorf("EXT-X-ENDLIST %v, want %v", ended, tl.Ended)
	}
	if want := segmentsIndependent(tt.Segments); independent != want {
		t.Errorf("EXT-X-INDEPENDENT-SEGMENTS %v, want %v", independent, want)
	}
	if len(segs) != len(tt.Segments) {
		t.Fatalf("%d segments, want %d", len(segs), len(tt.Segments))
	}
	for i, s := range tt.Segments {
		got := segs[i]
		want := readSegment{
			uri:    tt.Name + "/" + s.Name(),
			mapURI: tt.Name + "/" + s.Init.Name,
			dur:    s.Length().Seconds(),
			date:   s.StartTime().Truncate(time.Millisecond),
			disc:   s.Discontinuity,
		}
		if got.uri != want.uri || got.mapURI != want.mapURI || !got.date.Equal(want.date) || got.disc != want.disc ||
			math.Abs(got.dur-want.dur) > 0.0005+1e-9 { // half a millisecond, rounding
			t.Errorf("segment %d: read %+v, want %+v", i, got, want)
		}
		// rfc8216bis 4.4.3.1: each EXTINF, rounded to the nearest integer,
		// is at most the target duration. The renderer writes what the
		// packager made; this catches a fixture (or packager) that breaks
		// the rule.
		if r := math.Round(got.dur); r > float64(target) {
			t.Errorf("segment %d: EXTINF %.3f rounds to %v > EXT-X-TARGETDURATION %d", i, got.dur, r, target)
		}
	}
}

func TestMultivariantAttributes(t *testing.T) {
	byName := map[string]*packager.Timeline{}
	for _, fx := range fixtures() {
		byName[fx.name] = fx.tl
	}
	tests := []struct {
		fixture string
		want    []string // lines that must be present
		absent  []string // substrings that must not be present
	}{
		{"av", []string{
			`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="a0",DEFAULT=YES,AUTOSELECT=YES,CHANNELS="2",URI="a0.m3u8"`,
			`#EXT-X-STREAM-INF:BANDWIDTH=2631072,AVERAGE-BANDWIDTH=2128000,CODECS="avc1.64001f,mp4a.40.2",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="audio"`,
		}, nil},
		{"audio-only", []string{
			`#EXT-X-STREAM-INF:BANDWIDTH=131072,AVERAGE-BANDWIDTH=128000,CODECS="mp4a.40.2"`,
			"a0.m3u8",
		}, []string{"EXT-X-MEDIA", "AUDIO=", "RESOLUTION"}},
		{"video-only", []string{
			`#EXT-X-STREAM-INF:BANDWIDTH=2500000,AVERAGE-BANDWIDTH=2000000,CODECS="avc1.64001f",RESOLUTION=1280x720,FRAME-RATE=30.000`,
		}, []string{"EXT-X-MEDIA", "AUDIO="}},
		{"multi-audio", []string{
			`#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="audio",NAME="a1",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="a1.m3u8"`,
			`#EXT-X-STREAM-INF:BANDWIDTH=2631072,AVERAGE-BANDWIDTH=2128000,CODECS="avc1.64001f,mp4a.40.2,opus",RESOLUTION=1280x720,FRAME-RATE=30.000,AUDIO="audio"`,
		}, nil},
		{"two-periods", []string{
			`#EXT-X-STREAM-INF:BANDWIDTH=5131072,AVERAGE-BANDWIDTH=4328000,CODECS="avc1.640028,mp4a.40.2",RESOLUTION=1920x1080,FRAME-RATE=29.970,AUDIO="audio"`,
		}, nil},
		{"non-independent", nil, []string{"EXT-X-INDEPENDENT-SEGMENTS"}},
	}
	for _, tc := range tests {
		t.Run(tc.fixture, func(t *testing.T) {
			b, err := Multivariant(byName[tc.fixture])
			if err != nil {
				t.Fatal(err)
			}
			lines := strings.Split(string(b), "\n")
		next:
			for _, w := range tc.want {
				for _, l := range lines {
					if l == w {
						continue next
					}
				}
				t.Errorf("no line %q in\n%s", w, b)
			}
			for _, a := range tc.absent {
				if strings.Contains(string(b), a) {
					t.Errorf("%q present in\n%s", a, b)
				}
			}
		})
	}
}
