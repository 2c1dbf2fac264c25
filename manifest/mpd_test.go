package manifest

import (
	"encoding/xml"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// A test-only model of the MPD elements we write, for an encoding/xml
// round trip and a check of every value against the snapshot.

type xmlMPD struct {
	XMLName                    xml.Name     `xml:"urn:mpeg:dash:schema:mpd:2011 MPD"`
	Profiles                   string       `xml:"profiles,attr"`
	Type                       string       `xml:"type,attr"`
	AvailabilityStartTime      string       `xml:"availabilityStartTime,attr"`
	PublishTime                string       `xml:"publishTime,attr"`
	MediaPresentationDuration  string       `xml:"mediaPresentationDuration,attr,omitempty"`
	MinimumUpdatePeriod        string       `xml:"minimumUpdatePeriod,attr,omitempty"`
	TimeShiftBufferDepth       string       `xml:"timeShiftBufferDepth,attr"`
	SuggestedPresentationDelay string       `xml:"suggestedPresentationDelay,attr"`
	MaxSegmentDuration         string       `xml:"maxSegmentDuration,attr,omitempty"`
	MinBufferTime              string       `xml:"minBufferTime,attr"`
	ServiceDescription         *xmlService  `xml:"ServiceDescription"`
	Periods                    []xmlPeriod  `xml:"Period"`
	UTCTiming                  []xmlElement `xml:"UTCTiming"`
}

type xmlPeriod struct {
	ID             string             `xml:"id,attr"`
	Start          string             `xml:"start,attr"`
	Duration       string             `xml:"duration,attr,omitempty"`
	AdaptationSets []xmlAdaptationSet `xml:"AdaptationSet"`
}

type xmlAdaptationSet struct {
	ID               string              `xml:"id,attr"`
	ContentType      string              `xml:"contentType,attr"`
	MimeType         string              `xml:"mimeType,attr"`
	SegmentAlignment string              `xml:"segmentAlignment,attr"`
	StartWithSAP     string              `xml:"startWithSAP,attr,omitempty"`
	MaxWidth         string              `xml:"maxWidth,attr,omitempty"`
	MaxHeight        string              `xml:"maxHeight,attr,omitempty"`
	MaxFrameRate     string              `xml:"maxFrameRate,attr,omitempty"`
	PRT              *xmlPRT             `xml:"ProducerReferenceTime"`
	SegmentTemplate  xmlTemplate         `xml:"SegmentTemplate"`
	Representations  []xmlRepresentation `xml:"Representation"`
}

type xmlTemplate struct {
	Timescale              uint64 `xml:"timescale,attr"`
	PresentationTimeOffset uint64 `xml:"presentationTimeOffset,attr"`
	Initialization         string `xml:"initialization,attr"`
	Media                  string `xml:"media,attr"`
	ATO                    string `xml:"availabilityTimeOffset,attr,omitempty"`
	ATC                    string `xml:"availabilityTimeComplete,attr,omitempty"`
	S                      []xmlS `xml:"SegmentTimeline>S"`
}

type xmlService struct {
	ID      string `xml:"id,attr"`
	Latency struct {
		ReferenceID string `xml:"referenceId,attr"`
		Target      uint64 `xml:"target,attr"`
		Min         uint64 `xml:"min,attr"`
		Max         uint64 `xml:"max,attr"`
	} `xml:"Latency"`
	PlaybackRate struct {
		Min string `xml:"min,attr"`
		Max string `xml:"max,attr"`
	} `xml:"PlaybackRate"`
}

type xmlPRT struct {
	ID               string `xml:"id,attr"`
	Inband           string `xml:"inband,attr"`
	Type             string `xml:"type,attr"`
	WallClockTime    string `xml:"wallClockTime,attr"`
	PresentationTime uint64 `xml:"presentationTime,attr"`
}

type xmlS struct {
	T *uint64 `xml:"t,attr"`
	D uint64  `xml:"d,attr"`
	R int     `xml:"r,attr,omitempty"`
}

type xmlRepresentation struct {
	ID                string       `xml:"id,attr"`
	Bandwidth         int          `xml:"bandwidth,attr"`
	Codecs            string       `xml:"codecs,attr,omitempty"`
	Width             int          `xml:"width,attr,omitempty"`
	Height            int          `xml:"height,attr,omitempty"`
	FrameRate         string       `xml:"frameRate,attr,omitempty"`
	AudioSamplingRate int          `xml:"audioSamplingRate,attr,omitempty"`
	Channels          []xmlElement `xml:"AudioChannelConfiguration"`
}

type xmlElement struct {
	SchemeIDURI string `xml:"schemeIdUri,attr"`
	Value       string `xml:"value,attr"`
}

// parseXSSeconds reads the "PT<seconds>S" form we write, exactly, in ms.
func parseXSSeconds(t *testing.T, s string) uint64 {
	t.Helper()
	v, ok := strings.CutPrefix(s, "PT")
	v, ok2 := strings.CutSuffix(v, "S")
	whole, frac, _ := strings.Cut(v, ".")
	if !ok || !ok2 || len(frac) > 3 {
		t.Fatalf("xs:duration %q is not PT<seconds>S", s)
	}
	w, err := strconv.ParseUint(whole, 10, 64)
	if err != nil {
		t.Fatalf("xs:duration %q: %v", s, err)
	}
	ms := w * 1000
	if frac != "" {
		f, err := strconv.ParseUint((frac + "00")[:3], 10, 64)
		if err != nil {
			t.Fatalf("xs:duration %q: %v", s, err)
		}
		ms += f
	}
	return ms
}

func decodeMPD(t *testing.T, b []byte) xmlMPD {
	t.Helper()
	var m xmlMPD
	if err := xml.Unmarshal(b, &m); err != nil {
		t.Fatalf("MPD does not parse as XML: %v", err)
	}
	return m
}

// checkMPD round-trips the MPD through encoding/xml and checks that it
// describes exactly the snapshot's window.
func checkMPD(t *testing.T, b []byte, tl *packager.Timeline) {
	t.Helper()
	m := decodeMPD(t, b)
	again, err := xml.Marshal(m)
	if err != nil {
		t.Fatalf("marshal: %v", err)
	}
	if m2 := decodeMPD(t, again); !reflect.DeepEqual(m, m2) {
		t.Errorf("MPD changed in an encoding/xml round trip:\n%+v\n%+v", m, m2)
	}

	if m.Type != "dynamic" || m.AvailabilityStartTime != "1970-01-01T00:00:00Z" {
		t.Errorf("type %q, availabilityStartTime %q", m.Type, m.AvailabilityStartTime)
	}
	if pt, err := time.Parse(time.RFC3339Nano, m.PublishTime); err != nil || !pt.Equal(tl.Updated.Truncate(time.Millisecond)) {
		t.Errorf("publishTime %q, want %v", m.PublishTime, tl.Updated)
	}
	if tl.Ended != (m.MinimumUpdatePeriod == "") || tl.Ended != (m.MediaPresentationDuration != "") {
		t.Errorf("ended %v: minimumUpdatePeriod %q, mediaPresentationDuration %q", tl.Ended, m.MinimumUpdatePeriod, m.MediaPresentationDuration)
	}
	if len(m.UTCTiming) != 1 || m.UTCTiming[0].SchemeIDURI != utcTimingHTTP {
		t.Errorf("UTCTiming %+v", m.UTCTiming)
	}
	ll := tl.PartTarget > 0 && !tl.Ended
	checkServiceDescription(t, m, tl, ll)

	var latestEnd uint64
	var earliest = ^uint64(0)
	for _, tt := range tl.Tracks {
		first, last := tt.Segments[0], tt.Segments[len(tt.Segments)-1]
		earliest = min(earliest, uint64(first.StartOffset().Milliseconds()))
		latestEnd = max(latestEnd, uint64((last.StartOffset() + last.Length()).Milliseconds()))
	}
	if tsbd := parseXSSeconds(t, m.TimeShiftBufferDepth); tsbd < latestEnd-earliest || tsbd < uint64(tl.Window.Milliseconds()) {
		t.Errorf("timeShiftBufferDepth %s shorter than the window", m.TimeShiftBufferDepth)
	}
	if tl.Ended {
		// The end of the last segment, or the start of the last period
		// when a coarse timescale puts that end before it.
		lp := m.Periods[len(m.Periods)-1]
		wantEnd := max(latestEnd, parseXSSeconds(t, lp.Start))
		if d := parseXSSeconds(t, m.MediaPresentationDuration); d < wantEnd || d > wantEnd+1 {
			t.Errorf("mediaPresentationDuration %s, want the end of the last segment (%d ms)", m.MediaPresentationDuration, wantEnd)
		}
		if lp.Duration == "" || parseXSSeconds(t, lp.Start)+parseXSSeconds(t, lp.Duration) != parseXSSeconds(t, m.MediaPresentationDuration) {
			t.Errorf("last period start %s + duration %q is not the presentation end", lp.Start, lp.Duration)
		}
	}

	// Every segment of every track appears once, in its period, at its
	// time; nothing else appears.
	seen := map[string]int{}
	for _, p := range m.Periods {
		var period *packager.Period
		for _, tp := range tl.Periods {
			if tp.ID == p.ID {
				period = tp
			}
		}
		if period == nil {
			t.Fatalf("period %q is not in the snapshot", p.ID)
		}
		startMs := parseXSSeconds(t, p.Start)
		if startMs != uint64(period.Start.Milliseconds()) {
			t.Errorf("period %s start %s, want %v", p.ID, p.Start, period.Start)
		}
		for _, as := range p.AdaptationSets {
			if len(as.Representations) != 1 {
				t.Fatalf("period %s: %d representations", p.ID, len(as.Representations))
			}
			rep := as.Representations[0]
			tt, err := tl.Track(rep.ID)
			if err != nil {
				t.Fatalf("representation %q: %v", rep.ID, err)
			}
			if as.ID != strconv.Itoa(trackIndex(tl, tt)) {
				t.Errorf("adaptation set id %s for track %s", as.ID, tt.Name)
			}
			st := as.SegmentTemplate
			var want []*packager.Segment
			for _, s := range tt.Segments {
				if s.Period == p.ID {
					want = append(want, s)
				}
			}
			if len(want) == 0 {
				t.Fatalf("period %s lists track %s without segments", p.ID, tt.Name)
			}
			if st.Timescale != uint64(want[0].Timescale) {
				t.Errorf("timescale %d", st.Timescale)
			}
			if pto, _ := millisToTicks(startMs, want[0].Timescale); st.PresentationTimeOffset != pto {
				t.Errorf("presentationTimeOffset %d, want %d", st.PresentationTimeOffset, pto)
			}
			if st.Initialization != tt.Name+"/"+want[0].Init.Name {
				t.Errorf("initialization %q", st.Initialization)
			}
			if rep.Bandwidth != tt.PeakBandwidth {
				t.Errorf("bandwidth %d, want %d", rep.Bandwidth, tt.PeakBandwidth)
			}
			if (as.StartWithSAP == "1") != segmentsIndependent(want) {
				t.Errorf("period %s track %s: startWithSAP %q", p.ID, tt.Name, as.StartWithSAP)
			}
			checkLowLatencySet(t, as, tl, want[0], ll)
			wantCount := len(want)
			if ll && p.ID == m.Periods[len(m.Periods)-1].ID {
				// The segment being produced is listed last.
				if s := expectedPending(tt, want[len(want)-1]); s != nil {
					want = append(want, s)
				}
			}
			// Expand the timeline and resolve the template as a client does.
			var got []string
			var next uint64
			for i, s := range st.S {
				if s.T != nil {
					next = *s.T
				} else if i == 0 {
					t.Fatalf("first S without t")
				}
				for r := 0; r <= s.R; r++ {
					url := strings.NewReplacer("$RepresentationID$", rep.ID, "$Time$", strconv.FormatUint(next, 10)).Replace(st.Media)
					got = append(got, url+" "+strconv.FormatUint(s.D, 10))
					next += s.D
				}
			}
			if len(got) != len(want) {
				t.Fatalf("period %s track %s: %d segments listed, want %d", p.ID, tt.Name, len(got), len(want))
			}
			for i, s := range want {
				if w := tt.Name + "/" + s.Name() + " " + strconv.FormatUint(s.Duration, 10); got[i] != w {
					t.Errorf("period %s segment %d: %s, want %s", p.ID, i, got[i], w)
				}
				if i < wantCount {
					seen[tt.Name]++
				}
			}
		}
	}
	for _, tt := range tl.Tracks {
		if seen[tt.Name] != len(tt.Segments) {
			t.Errorf("track %s: %d of %d segments in the MPD", tt.Name, seen[tt.Name], len(tt.Segments))
		}
	}
}

// expectedPending is the SegmentTimeline entry of the segment being
// produced after last, if the MPD lists it: with a part or an earliest end, in the same period
// and init segment, as long as the packager's earliest end for it or what it
// has, whichever is longer.
func expectedPending(tt *packager.TrackTimeline, last *packager.Segment) *packager.Segment {
	if tt.NextPart == "" || tt.PendingDiscontinuity || tt.PendingInit != last.Init ||
		len(tt.Pending) == 0 && tt.PendingMinEnd <= tt.PendingStart {
		return nil
	}
	s := &packager.Segment{Start: tt.PendingStart, Timescale: last.Timescale}
	for _, p := range tt.Pending {
		s.Duration += p.Duration
	}
	if tt.PendingMinEnd > s.Start+s.Duration {
		s.Duration = tt.PendingMinEnd - s.Start
	}
	return s
}

// checkServiceDescription: with low latency, the latency target is three
// parts and latencyPad, within 3/4 and twice of it, with catch-up rates
// of 4%; without, no ServiceDescription.
func checkServiceDescription(t *testing.T, m xmlMPD, tl *packager.Timeline, ll bool) {
	t.Helper()
	sd := m.ServiceDescription
	if !ll {
		if sd != nil {
			t.Errorf("ServiceDescription without low latency")
		}
		return
	}
	target := 3*uint64(tl.PartTarget.Milliseconds()) + uint64(latencyPad.Milliseconds())
	if sd == nil || sd.Latency.ReferenceID != "0" || sd.Latency.Target != target || sd.Latency.Min != target*3/4 || sd.Latency.Max != 2*target ||
		sd.PlaybackRate.Min != "0.96" || sd.PlaybackRate.Max != "1.08" {
		t.Errorf("ServiceDescription %+v, want latency target %d", sd, target)
	}
	if got := parseXSSeconds(t, m.SuggestedPresentationDelay); got != target {
		t.Errorf("suggestedPresentationDelay %s with a latency target of %d ms", m.SuggestedPresentationDelay, target)
	}
}

// checkLowLatencySet: with low latency, an adaptation set has the
// ProducerReferenceTime the Latency refers to (the wall clock of its first
// segment, which is its media time) and a SegmentTemplate that makes
// segments available a part after they start.
func checkLowLatencySet(t *testing.T, as xmlAdaptationSet, tl *packager.Timeline, first *packager.Segment, ll bool) {
	t.Helper()
	st := as.SegmentTemplate
	if !ll {
		if as.PRT != nil || st.ATO != "" || st.ATC != "" {
			t.Errorf("low-latency attributes without low latency: %+v %q %q", as.PRT, st.ATO, st.ATC)
		}
		return
	}
	if p := as.PRT; p == nil || p.ID != "0" || p.Type != "encoder" || p.Inband != "true" || p.PresentationTime != first.Start ||
		p.WallClockTime != first.StartTime().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z") {
		t.Errorf("ProducerReferenceTime %+v, want presentationTime %d at %v", as.PRT, first.Start, first.StartTime())
	}
	ato, err := strconv.ParseFloat(st.ATO, 64)
	seg := tl.SegmentTarget
	if seg <= 0 {
		seg = tl.TargetDuration
	}
	// Whole milliseconds, and never negative.
	want := max(seg.Round(time.Millisecond)-tl.PartTarget.Round(time.Millisecond), 0).Seconds()
	if err != nil || math.Abs(ato-want) > 1e-9 || st.ATC != "false" {
		t.Errorf("availabilityTimeOffset %q (want %.3f), availabilityTimeComplete %q", st.ATO, want, st.ATC)
	}
}

func trackIndex(tl *packager.Timeline, tt *packager.TrackTimeline) int {
	for i, x := range tl.Tracks {
		if x == tt {
			return i
		}
	}
	return -1
}

func TestMPDOptions(t *testing.T) {
	tl := fixtures()[0].tl
	tests := []struct {
		name  string
		o     MPDOptions
		want  string // the element as written
		value string // the value a client reads
	}{
		{"default", MPDOptions{}, `<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="/time"/>`, "/time"},
		{"absolute", MPDOptions{UTCTimingURL: "https://time.example.com/?iso&ms"},
			`<UTCTiming schemeIdUri="urn:mpeg:dash:utc:http-xsdate:2014" value="https://time.example.com/?iso&amp;ms"/>`,
			"https://time.example.com/?iso&ms"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			b, err := MPD(tl, tc.o)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tc.want) {
				t.Errorf("no %s in\n%s", tc.want, b)
			}
			m := decodeMPD(t, b)
			if got := m.UTCTiming[0].Value; got != tc.value {
				t.Errorf("UTCTiming value %q", got)
			}
		})
	}

	// publishTime falls back to Now when the snapshot has no time.
	tl.Updated = time.Time{}
	now := time.Date(2026, 11, 26, 2, 20, 10, 123456789, time.UTC)
	b, err := MPD(tl, MPDOptions{Now: now})
	if err != nil {
		t.Fatal(err)
	}
	if m := decodeMPD(t, b); m.PublishTime != "2026-11-26T02:20:10.123Z" {
		t.Errorf("publishTime %q", m.PublishTime)
	}
}
