package manifest

import (
	"encoding/xml"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

func TestAppendFixed3(t *testing.T) {
	tests := []struct {
		ms   uint64
		want string
	}{
		{0, "0.000"}, {5, "0.005"}, {2000, "2.000"}, {2005, "2.005"}, {1967, "1.967"}, {123456789, "123456.789"},
	}
	for _, tc := range tests {
		if got := string(appendFixed3(nil, tc.ms)); got != tc.want {
			t.Errorf("appendFixed3(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestAppendXSDuration(t *testing.T) {
	tests := []struct {
		ms   uint64
		want string
	}{
		{0, "PT0S"}, {500, "PT0.5S"}, {2000, "PT2S"}, {2050, "PT2.05S"}, {2005, "PT2.005S"}, {6000, "PT6S"},
		{1795000000123, "PT1795000000.123S"}, {1795000000100, "PT1795000000.1S"},
	}
	for _, tc := range tests {
		if got := string(appendXSDuration(nil, tc.ms)); got != tc.want {
			t.Errorf("appendXSDuration(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
}

func TestAppendDateTime(t *testing.T) {
	tests := []struct {
		ms   uint64
		want string
	}{
		{0, "1970-01-01T00:00:00.000Z"},
		{1795000000123, "2026-11-18T11:06:40.123Z"},
		{maxMillis, "9999-12-31T23:59:59.999Z"},
		{951782400000, "2000-02-29T00:00:00.000Z"},
		{4107542399999, "2100-02-28T23:59:59.999Z"},
		{4107542400000, "2100-03-01T00:00:00.000Z"},
	}
	for _, tc := range tests {
		if got := string(appendDateTime(nil, tc.ms)); got != tc.want {
			t.Errorf("appendDateTime(%d) = %s, want %s", tc.ms, got, tc.want)
		}
	}
	// The hand-written calendar agrees with package time across leap years,
	// centuries and every time of day: a deterministic walk over the range.
	for ms := uint64(0); ms <= maxMillis; ms += 7_777_777_777 {
		for _, v := range []uint64{ms, ms + 86_399_999, ms + 1} {
			if v > maxMillis {
				continue
			}
			want := time.UnixMilli(int64(v)).UTC().Format(dateTimeLayout)
			if got := string(appendDateTime(nil, v)); got != want {
				t.Fatalf("appendDateTime(%d) = %s, want %s", v, got, want)
			}
		}
	}
}

func TestTickConversions(t *testing.T) {
	tests := []struct {
		v                   uint64
		ts                  uint32
		floor, nearest, cei uint64
	}{
		{180000, 90000, 2000, 2000, 2000},
		{96256, 48000, 2005, 2005, 2006}, // 2005.333 ms
		{95232, 48000, 1984, 1984, 1984},
		{177000, 90000, 1966, 1967, 1967}, // 1966.667 ms
		{1, 90000, 0, 0, 1},
		{45, 90000, 0, 1, 1}, // exactly 0.5 ms rounds up
		{161550018011070, 90000, 1795000200123, 1795000200123, 1795000200123},
	}
	for _, tc := range tests {
		f, n, c := floorMillis(tc.v, tc.ts), nearestMillis(tc.v, tc.ts), ceilMillis(tc.v, tc.ts)
		if f != tc.floor || n != tc.nearest || c != tc.cei {
			t.Errorf("%d/%d: floor %d nearest %d ceil %d, want %d %d %d", tc.v, tc.ts, f, n, c, tc.floor, tc.nearest, tc.cei)
		}
	}
}

func TestMillisToTicks(t *testing.T) {
	tests := []struct {
		ms   uint64
		ts   uint32
		want uint64
		ok   bool
	}{
		{1795000000123, 90000, 161550000011070, true},
		{1795000000123, 48000, 86160000005904, true},
		{1795000000123, 44100, 79159500005424, true}, // 0.123 s = 5424.3 samples, rounded down
		{maxMillis, math.MaxUint32, 0, false},
		{math.MaxUint64, 1000, math.MaxUint64, true},
		{math.MaxUint64, 1001, 0, false},
		{0, 0, 0, true},
	}
	for _, tc := range tests {
		got, ok := millisToTicks(tc.ms, tc.ts)
		if got != tc.want || ok != tc.ok {
			t.Errorf("millisToTicks(%d, %d) = %d, %v; want %d, %v", tc.ms, tc.ts, got, ok, tc.want, tc.ok)
		}
	}
}

func TestAppendFrameRate(t *testing.T) {
	tests := []struct {
		fr   float64
		want string
	}{
		{30, "30"}, {29.999, "30"}, {25, "25"}, {60, "60"},
		{29.97003, "30000/1001"}, {29.97, "30000/1001"}, {59.94, "60000/1001"}, {23.976, "24000/1001"},
		{12.5, "25/2"}, {14.985, "15000/1001"}, {12.345, "2469/200"}, {0.5, "1/2"},
	}
	for _, tc := range tests {
		if got := string(appendFrameRate(nil, tc.fr)); got != tc.want {
			t.Errorf("appendFrameRate(%v) = %s, want %s", tc.fr, got, tc.want)
		}
	}
	for _, fr := range []float64{0, -1, math.NaN(), math.Inf(1), 1e9} {
		if validFrameRate(fr) {
			t.Errorf("validFrameRate(%v) = true", fr)
		}
	}
}

func TestAppendEscaped(t *testing.T) {
	tests := []struct {
		in, want string
	}{
		{"/time", "/time"},
		{"a&b<c>d\"e'f", "a&amp;b&lt;c&gt;d&quot;e&apos;f"},
		{"tab\tnl\ncr\r", "tab&#x9;nl&#xA;cr&#xD;"},
		{"nul\x00esc\x1b", "nul\uFFFDesc\uFFFD"},
		{"bad\xffutf8", "bad\uFFFDutf8"},
		{"ünïcödé", "ünïcödé"},
		{"\uFFFE", "\uFFFD"},
	}
	for _, tc := range tests {
		got := string(appendEscaped(nil, tc.in))
		if got != tc.want {
			t.Errorf("appendEscaped(%q) = %q, want %q", tc.in, got, tc.want)
		}
		// The escaped value must survive an XML parser unchanged but for
		// the replaced characters.
		var v struct {
			A string `xml:"a,attr"`
		}
		if err := xml.Unmarshal([]byte(`<x a="`+got+`"/>`), &v); err != nil {
			t.Errorf("appendEscaped(%q): %v", tc.in, err)
		}
	}
}

func TestSegmentTimeline(t *testing.T) {
	seg := func(start, dur uint64) *packager.Segment {
		return &packager.Segment{Start: start, Duration: dur, Timescale: 1000}
	}
	tests := []struct {
		name string
		segs []*packager.Segment
		want []string
	}{
		{"one", []*packager.Segment{seg(10, 2)}, []string{`<S t="10" d="2"/>`}},
		{"run", []*packager.Segment{seg(10, 2), seg(12, 2), seg(14, 2)}, []string{`<S t="10" d="2" r="2"/>`}},
		{"changes", []*packager.Segment{seg(10, 2), seg(12, 3), seg(15, 3), seg(18, 2)},
			[]string{`<S t="10" d="2"/>`, `<S d="3" r="1"/>`, `<S d="2"/>`}},
		{"gap", []*packager.Segment{seg(10, 2), seg(12, 2), seg(20, 2), seg(22, 2)},
			[]string{`<S t="10" d="2" r="1"/>`, `<S t="20" d="2" r="1"/>`}},
		{"overlap", []*packager.Segment{seg(10, 2), seg(11, 2)},
			[]string{`<S t="10" d="2"/>`, `<S t="11" d="2"/>`}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, l := range strings.Split(string(appendSegmentTimeline(nil, tc.segs)), "\n") {
				if l = strings.TrimSpace(l); strings.HasPrefix(l, "<S ") {
					got = append(got, l)
				}
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

func TestTargetSeconds(t *testing.T) {
	tests := []struct {
		d    time.Duration
		want uint64
	}{
		{0, 0}, {-time.Second, 0}, {2 * time.Second, 2}, {2500 * time.Millisecond, 3}, {time.Nanosecond, 1},
	}
	for _, tc := range tests {
		if got := targetSeconds(tc.d); got != tc.want {
			t.Errorf("targetSeconds(%v) = %d, want %d", tc.d, got, tc.want)
		}
	}
}
