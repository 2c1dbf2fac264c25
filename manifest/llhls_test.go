package manifest

import (
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/packager"
)

// TestLowLatencyGolden renders every document of the low-latency fixtures,
// with each delta update they ask for, compares them with their golden
// files and reads them back with the strict readers.
func TestLowLatencyGolden(t *testing.T) {
	for _, fx := range llFixtures() {
		t.Run(fx.name, func(t *testing.T) {
			mv, err := Multivariant(fx.tl)
			if err != nil {
				t.Fatalf("Multivariant: %v", err)
			}
			checkGolden(t, fx.name+".index.m3u8", mv)
			checkMultivariant(t, mv, fx.tl)
			for _, tt := range fx.tl.Tracks {
				for _, skip := range fx.skips {
					mp, err := MediaPlaylist(fx.tl, tt.Name, MediaOptions{Skip: skip})
					if err != nil {
						t.Fatalf("MediaPlaylist(%s, %v): %v", tt.Name, skip, err)
					}
					name := fx.name + "." + tt.Name
					if skip != SkipNone {
						name += ".skip-" + skip.String()
					}
					checkGolden(t, name+".m3u8", mp)
					checkLLPlaylist(t, mp, fx.tl, tt, skip)
				}
			}
			mpd, err := MPD(fx.tl, MPDOptions{Now: fx.tl.Updated})
			if err != nil {
				t.Fatalf("MPD: %v", err)
			}
			checkGolden(t, fx.name+".mpd", mpd)
			checkMPD(t, mpd, fx.tl)
		})
	}
}

type readPart struct {
	uri         string
	dur         float64
	independent bool
}

type llSegment struct {
	readSegment
	parts []readPart
}

// checkLLPlaylist reads a low-latency media playlist strictly and checks it
// against the snapshot and rfc8216bis: the server control values, the
// skipped segments, the parts listed (and where), the preload hints, the
// rendition reports, and the end.
func checkLLPlaylist(t *testing.T, b []byte, tl *packager.Timeline, tt *packager.TrackTimeline, skip Skip) {
	t.Helper()
	lines := playlistLines(t, b)
	var (
		version, target, skipped = -1, -1, 0
		seq, discSeq             = int64(-1), int64(-1)
		control, partInf         map[string]string
		skipAttrs                map[string]string
		segs                     []llSegment
		cur                      llSegment
		haveInf, haveDate, ended bool
		hints                    []map[string]string
		reports                  = map[string]map[string]string{}
	)
	for _, l := range lines {
		if ended {
			t.Fatalf("%q after EXT-X-ENDLIST", l)
		}
		tag, value, _ := strings.Cut(l, ":")
		if len(hints) > 0 && tag != "#EXT-X-PRELOAD-HINT" && tag != "#EXT-X-RENDITION-REPORT" {
			t.Fatalf("%q after the preload hint", l)
		}
		var err error
		switch tag {
		case "#EXT-X-VERSION":
			version, err = strconv.Atoi(value)
		case "#EXT-X-TARGETDURATION":
			target, err = strconv.Atoi(value)
		case "#EXT-X-SERVER-CONTROL":
			control = attrList(t, value)
		case "#EXT-X-PART-INF":
			partInf = attrList(t, value)
		case "#EXT-X-MEDIA-SEQUENCE":
			seq, err = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-DISCONTINUITY-SEQUENCE":
			discSeq, err = strconv.ParseInt(value, 10, 64)
		case "#EXT-X-INDEPENDENT-SEGMENTS":
		case "#EXT-X-SKIP":
			if len(segs) > 0 || haveDate {
				t.Fatalf("EXT-X-SKIP after a segment")
			}
			skipAttrs = attrList(t, value)
			skipped, err = strconv.Atoi(skipAttrs["SKIPPED-SEGMENTS"])
		case "#EXT-X-MAP":
			if len(cur.parts) > 0 {
				t.Fatalf("EXT-X-MAP between the parts of a segment (4.4.4.9)")
			}
			cur.mapURI = attrList(t, value)["URI"]
		case "#EXT-X-DISCONTINUITY":
			if len(cur.parts) > 0 {
				t.Fatalf("EXT-X-DISCONTINUITY between the parts of a segment (4.4.4.9)")
			}
			cur.disc = true
		case "#EXT-X-PROGRAM-DATE-TIME":
			if len(cur.parts) > 0 {
				t.Fatalf("EXT-X-PROGRAM-DATE-TIME after the first part of its segment (4.4.4.9)")
			}
			cur.date, err = time.Parse(time.RFC3339Nano, value)
			haveDate = true
		case "#EXT-X-PART":
			if !haveDate || cur.mapURI == "" {
				t.Fatalf("part %q without the date or map of its segment", value)
			}
			a := attrList(t, value)
			p := readPart{uri: a["URI"], independent: a["INDEPENDENT"] == "YES"}
			p.dur, err = strconv.ParseFloat(a["DURATION"], 64)
			n := 2
			if v, ok := a["INDEPENDENT"]; ok {
				n++
				if v != "YES" {
					t.Errorf("EXT-X-PART INDEPENDENT=%s", v)
				}
			}
			if len(a) != n || a["URI"] == "" {
				t.Errorf("EXT-X-PART attributes %q", value)
			}
			cur.parts = append(cur.parts, p)
		case "#EXTINF":
			d, _ := strings.CutSuffix(value, ",")
			cur.dur, err = strconv.ParseFloat(d, 64)
			haveInf = true
		case "#EXT-X-PRELOAD-HINT":
			hints = append(hints, attrList(t, value))
		case "#EXT-X-RENDITION-REPORT":
			a := attrList(t, value)
			reports[a["URI"]] = a
		case "#EXT-X-ENDLIST":
			ended = true
		default:
			if strings.HasPrefix(l, "#") {
				t.Fatalf("unexpected tag %q", l)
			}
			if !haveInf || !haveDate || cur.mapURI == "" {
				t.Fatalf("segment %q without EXTINF, date or map", l)
			}
			cur.uri = l
			segs = append(segs, cur)
			cur = llSegment{readSegment: readSegment{mapURI: cur.mapURI}}
			haveInf, haveDate = false, false
		}
		if err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
	}
	pending := cur // the parts after the last segment, with their tags

	td := time.Duration(target) * time.Second
	if target <= 0 || uint64(seq) != tt.MediaSequence() || uint64(discSeq) != tt.DiscontinuitySequence {
		t.Fatalf("header: target %d, media sequence %d, discontinuity sequence %d", target, seq, discSeq)
	}
	if want := 7; skipped > 0 && version != 9 || skipped == 0 && version != want {
		t.Errorf("EXT-X-VERSION %d with %d segments skipped", version, skipped)
	}
	// 4.4.3.8: the rules for each value, and the values we promise.
	partTarget := durationMillis(tl.PartTarget)
	wantControl := map[string]string{
		"CAN-BLOCK-RELOAD": "YES",
		"CAN-SKIP-UNTIL":   string(appendFixed3(nil, 6*uint64(target)*1000)),
		"HOLD-BACK":        string(appendFixed3(nil, 3*uint64(target)*1000)),
		"PART-HOLD-BACK":   string(appendFixed3(nil, 3*partTarget)),
	}
	if len(control) != len(wantControl) {
		t.Errorf("EXT-X-SERVER-CONTROL %v", control)
	}
	for k, v := range wantControl {
		if control[k] != v {
			t.Errorf("EXT-X-SERVER-CONTROL %s=%q, want %q", k, control[k], v)
		}
	}
	if got := partInf["PART-TARGET"]; got != string(appendFixed3(nil, partTarget)) || len(partInf) != 1 {
		t.Errorf("EXT-X-PART-INF %v, want PART-TARGET %v", partInf, tl.PartTarget)
	}

	// Delta updates (6.2.5.1): only when asked and live; every segment
	// skipped ends more than CAN-SKIP-UNTIL before the last one, and the
	// next would not.
	if skip == SkipNone || tl.Ended {
		if skipAttrs != nil {
			t.Errorf("EXT-X-SKIP %v not asked for (or ended)", skipAttrs)
		}
	} else if skipped > 0 {
		last := tt.Segments[len(tt.Segments)-1]
		end := last.StartOffset() + last.Length()
		for i, s := range tt.Segments[:skipped+1] {
			far := end-(s.StartOffset()+s.Length()) >= 6*td
			if far != (i < skipped) {
				t.Errorf("segment %d skipped %v, %v from the end", i, i < skipped, end-(s.StartOffset()+s.Length()))
			}
		}
		if _, v2 := skipAttrs["RECENTLY-REMOVED-DATERANGES"]; v2 != (skip == SkipV2) || len(skipAttrs) != 1+btoi(v2) {
			t.Errorf("EXT-X-SKIP %v for _HLS_skip=%v", skipAttrs, skip)
		}
	}
	want := tt.Segments[skipped:]
	if len(segs) != len(want) {
		t.Fatalf("%d segments, want %d (%d skipped)", len(segs), len(want), skipped)
	}

	// Parts: exactly the segment's, listed for the segments near the end
	// (6.2.2: within three target durations, and for the last two at least).
	end := tt.Segments[len(tt.Segments)-1].StartOffset() + tt.Segments[len(tt.Segments)-1].Length()
	if n := len(tt.Pending); n > 0 && !tl.Ended {
		p := tt.Pending[n-1]
		ts := uint64(p.Timescale)
		end = time.Duration(p.End()/ts)*time.Second + time.Duration(p.End()%ts)*time.Second/time.Duration(ts)
	}
	for i, s := range want {
		got := segs[i]
		if got.uri != tt.Name+"/"+s.Name() || got.mapURI != tt.Name+"/"+s.Init.Name || got.disc != s.Discontinuity ||
			!got.date.Equal(s.StartTime().Truncate(time.Millisecond)) || math.Abs(got.dur-s.Length().Seconds()) > 0.0005+1e-9 {
			t.Errorf("segment %d: read %+v, want %s", i, got.readSegment, s.Name())
		}
		listed := len(got.parts) > 0
		switch {
		case listed && end-s.StartOffset() > 3*td:
			t.Errorf("segment %d lists parts %v from the end", i, end-s.StartOffset())
		case !listed && end-s.StartOffset() <= 2*td:
			t.Errorf("segment %d lists no parts, %v from the end", i, end-s.StartOffset())
		case listed:
			checkReadParts(t, tt.Name, got.parts, s.Parts, tl.PartTarget)
		}
	}

	// The live edge.
	if tl.Ended {
		if !ended || len(hints) > 0 || len(pending.parts) > 0 {
			t.Errorf("ended: EXT-X-ENDLIST %v, %d hints, %d trailing parts", ended, len(hints), len(pending.parts))
		}
		return
	}
	if ended {
		t.Errorf("EXT-X-ENDLIST in a live playlist")
	}
	checkReadParts(t, tt.Name, pending.parts, tt.Pending, tl.PartTarget)
	if len(tt.Pending) > 0 {
		p0 := tt.Pending[0]
		if pending.disc != tt.PendingDiscontinuity || pending.mapURI != tt.Name+"/"+tt.PendingInit.Name ||
			!pending.date.Equal(time.Unix(0, 0).Add(time.Duration(floorMillis(p0.Start, p0.Timescale))*time.Millisecond)) {
			t.Errorf("tags of the segment being produced: %+v", pending.readSegment)
		}
	}
	var partHint, mapHint string
	for _, h := range hints {
		switch h["TYPE"] {
		case "PART":
			partHint = h["URI"]
		case "MAP":
			mapHint = h["URI"]
		default:
			t.Errorf("preload hint %v", h)
		}
	}
	if partHint != tt.Name+"/"+tt.NextPart || len(hints) > 2 {
		t.Errorf("preload hints %v, want the part %s", hints, tt.NextPart)
	}
	if wantMap := tt.Name + "/" + tt.PendingInit.Name; (mapHint != "") != (pending.mapURI != wantMap) || mapHint != "" && mapHint != wantMap {
		t.Errorf("MAP hint %q; the next part's init is %s, the last one's %s", mapHint, wantMap, pending.mapURI)
	}
	// Appendix B.1: a report for every other rendition.
	for _, o := range tl.Tracks {
		r, ok := reports[o.Name+".m3u8"]
		if o == tt {
			if ok {
				t.Errorf("a rendition report for the playlist itself")
			}
			continue
		}
		msn, part := o.Segments[len(o.Segments)-1].Seq, len(o.Segments[len(o.Segments)-1].Parts)-1
		if len(o.Pending) > 0 {
			msn, part = o.PendingSeq, len(o.Pending)-1
		}
		if !ok || r["LAST-MSN"] != strconv.FormatUint(msn, 10) || r["LAST-PART"] != strconv.Itoa(part) {
			t.Errorf("rendition report for %s: %v, want LAST-MSN=%d LAST-PART=%d", o.Name, r, msn, part)
		}
	}
	if len(reports) != len(tl.Tracks)-1 {
		t.Errorf("%d rendition reports for %d other renditions", len(reports), len(tl.Tracks)-1)
	}
}

// checkReadParts compares the parts read with the snapshot's, and checks
// 4.4.4.9: none longer than PART-TARGET, the non-final ones without a key
// frame at least 85% of it.
func checkReadParts(t *testing.T, track string, got []readPart, want []*packager.Part, partTarget time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d parts, want %d", len(got), len(want))
		return
	}
	pt := partTarget.Seconds()
	for i, p := range want {
		g := got[i]
		if g.uri != track+"/"+p.Name() || g.independent != p.Independent || math.Abs(g.dur-p.Length().Seconds()) > 0.0005+1e-9 {
			t.Errorf("part %d: read %+v, want %s %v", i, g, p.Name(), p.Length())
		}
		if g.dur > pt+1e-9 {
			t.Errorf("part %d: DURATION %.3f above PART-TARGET %.3f", i, g.dur, pt)
		}
		// The last part of a segment is exempt; so is the newest part of
		// the segment being produced, which may turn out to be its last.
		if i != len(want)-1 && !g.independent && g.dur < 0.85*pt {
			t.Errorf("part %d: DURATION %.3f below 85%% of PART-TARGET %.3f", i, g.dur, pt)
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
