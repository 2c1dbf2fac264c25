package packager

import (
	"bytes"
	"errors"
	"sort"
	"testing"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
)

// partLog records every part and next-part hint that any snapshot showed,
// to check them against the segments that finally hold them.
type partLog struct {
	seen  map[string]map[uint64][]byte // track → part start → bytes
	seqs  map[string]map[uint64]uint64 // track → pending part start → PendingSeq
	hints map[string]map[string]bool   // track → hinted names
	snaps int
}

func newPartLog() *partLog {
	return &partLog{seen: map[string]map[uint64][]byte{}, seqs: map[string]map[uint64]uint64{}, hints: map[string]map[string]bool{}}
}

func (l *partLog) record(tl *Timeline) {
	l.snaps++
	for _, tt := range tl.Tracks {
		if l.seen[tt.Name] == nil {
			l.seen[tt.Name], l.seqs[tt.Name], l.hints[tt.Name] = map[uint64][]byte{}, map[uint64]uint64{}, map[string]bool{}
		}
		for _, p := range tt.Pending {
			l.seen[tt.Name][p.Start] = p.Data
			l.seqs[tt.Name][p.Start] = tt.PendingSeq
		}
		if tt.NextPart != "" {
			l.hints[tt.Name][tt.NextPart] = true
		}
	}
}

// writeLogged writes access units, recording every new snapshot.
func writeLogged(t testing.TB, e *testEnv, name string, sess ingest.Session, aus []ingest.AccessUnit, log *partLog) {
	t.Helper()
	last := e.timeline(name)
	for _, au := range aus {
		if err := sess.WriteAU(au); err != nil {
			t.Fatal(err)
		}
		if tl := e.timeline(name); tl != last {
			select {
			case <-last.Changed():
			default:
				t.Fatalf("snapshot %d replaced without closing Changed", last.Version)
			}
			last = tl
			log.record(tl)
		}
	}
}

func TestParts(t *testing.T) {
	const s = time.Second
	tests := []struct {
		name       string
		opts       Options
		fps        float64
		gop        int           // video frames; 0: audio only
		audioAhead time.Duration // audio arrives this much before video of the same time
		seconds    int
		wantTarget time.Duration
	}{
		{name: "30 fps 1s GOP interleaved", fps: 30, gop: 30, seconds: 12, wantTarget: 334 * time.Millisecond},
		{name: "audio 700ms ahead", fps: 30, gop: 60, audioAhead: 700 * time.Millisecond, seconds: 12, wantTarget: 334 * time.Millisecond},
		{name: "video 400ms ahead", fps: 25, gop: 50, audioAhead: -400 * time.Millisecond, seconds: 12, wantTarget: 334 * time.Millisecond},
		// 6 frames are 200.2 ms and 5 less than 85%: the target grows to 201 ms.
		{name: "29.97 fps 200ms parts", opts: Options{PartTarget: 200 * time.Millisecond}, fps: 30000.0 / 1001, gop: 60, seconds: 10,
			wantTarget: 201 * time.Millisecond},
		{name: "8s GOP forced cuts", opts: Options{MaxTargetDuration: 4 * s}, fps: 30, gop: 240, seconds: 20, wantTarget: 334 * time.Millisecond},
		{name: "2 fps: a frame per part", opts: Options{PartTarget: 400 * time.Millisecond}, fps: 2, gop: 4, seconds: 12, wantTarget: 500 * time.Millisecond},
		{name: "audio only", gop: 0, seconds: 10, wantTarget: 334 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, tc.opts)
			var tracks []ingest.Track
			var all []ingest.AccessUnit
			ahead := int64(tc.audioAhead / (time.Second / 90000))
			if tc.gop > 0 {
				tracks = append(tracks, videoTrack(t, 90000))
				all = append(all, synthVideo(0, int(float64(tc.seconds)*tc.fps), tc.fps, tc.gop, 0)...)
			}
			tracks = append(tracks, aacTrack(t, 90000))
			for _, au := range synthAAC(len(tracks)-1, tc.seconds*48000/1024, 0) {
				all = append(all, au)
			}
			arrival := func(au ingest.AccessUnit) int64 {
				if tracks[au.Track].Kind == ingest.Audio {
					return au.DTS - ahead
				}
				return au.DTS
			}
			sort.SliceStable(all, func(i, j int) bool { return arrival(all[i]) < arrival(all[j]) })

			sess := e.publish("ll", tracks...)
			log := newPartLog()
			writeLogged(t, e, "ll", sess, all, log)
			live := e.timeline("ll")
			sess.Close(nil)
			tl := e.timeline("ll")
			checkInvariants(t, tl, false)
			if tl.PartTarget != tc.wantTarget {
				t.Errorf("PartTarget %v, want %v", tl.PartTarget, tc.wantTarget)
			}
			if log.snaps < tc.seconds*2 {
				t.Errorf("only %d snapshots: not one per part", log.snaps)
			}
			for _, tt := range live.Tracks {
				if tt.NextPart == "" || tt.PendingStart == 0 {
					t.Errorf("%s: live stream without a next part (%q) or pending start", tt.Name, tt.NextPart)
				}
			}
			for _, tt := range tl.Tracks {
				if tt.NextPart != "" || len(tt.Pending) != 0 {
					t.Errorf("%s: publisher gone but next part %q, %d pending", tt.Name, tt.NextPart, len(tt.Pending))
				}
				checkTrackParts(t, tl, tt, log)
			}
		})
	}
}

// checkTrackParts: every segment is its parts; parts respect the part
// target and the 85% rule (rfc8216bis 4.4.4.9); every part a snapshot ever
// showed pending is in its segment with the same bytes, index and Seq; every
// hint named a part that came (or the one after the last).
func checkTrackParts(t *testing.T, tl *Timeline, tt *TrackTimeline, log *partLog) {
	t.Helper()
	all := append(append([]*Segment{}, tt.Retained...), tt.Segments...)
	final := map[uint64]bool{}
	names := map[string]bool{}
	for _, seg := range all {
		var cat []byte
		next := seg.Start
		for k, p := range seg.Parts {
			cat = append(cat, p.Data...)
			if p.Start != next || p.Index != k {
				t.Errorf("%s seg %d part %d: start %d index %d, want %d", tt.Name, seg.Seq, k, p.Start, p.Index, next)
			}
			next = p.End()
			names[p.Name()] = true
			if p.Length() > tl.PartTarget {
				t.Errorf("%s seg %d part %d: %v exceeds the part target %v", tt.Name, seg.Seq, k, p.Length(), tl.PartTarget)
			}
			last := k == len(seg.Parts)-1
			if !last && !p.Independent && p.Length()*100 < tl.PartTarget*85 {
				t.Errorf("%s seg %d part %d: %v, less than 85%% of %v", tt.Name, seg.Seq, k, p.Length(), tl.PartTarget)
			}
			if tt.Track.Kind == ingest.Audio && !p.Independent {
				t.Errorf("%s seg %d part %d: audio part not independent", tt.Name, seg.Seq, k)
			}
			if got, ok := log.seen[tt.Name][p.Start]; ok {
				final[p.Start] = true
				if !bytes.Equal(got, p.Data) {
					t.Errorf("%s seg %d part %d: published pending with other bytes", tt.Name, seg.Seq, k)
				}
				if seq := log.seqs[tt.Name][p.Start]; seq != seg.Seq {
					t.Errorf("%s seg %d part %d: published pending with PendingSeq %d", tt.Name, seg.Seq, k, seq)
				}
			}
			if got, err := tt.Part(p.Start); got != p || err != nil {
				t.Errorf("%s: Part(%d) = %v, %v", tt.Name, p.Start, got, err)
			}
		}
		if next != seg.Start+seg.Duration || !bytes.Equal(cat, seg.Data) || len(seg.Parts) == 0 {
			t.Errorf("%s seg %d: %d parts ending at %d, segment ends at %d; bytes equal %v", tt.Name, seg.Seq, len(seg.Parts), next,
				seg.Start+seg.Duration, bytes.Equal(cat, seg.Data))
		}
	}
	oldest := all[0].Start
	for start := range log.seen[tt.Name] {
		if start >= oldest && !final[start] {
			t.Errorf("%s: pending part %d never made it into a segment", tt.Name, start)
		}
	}
	lastEnd := all[len(all)-1].Start + all[len(all)-1].Duration
	for h := range log.hints[tt.Name] {
		start, ok := ParsePartName(h)
		if !ok || start >= oldest && start < lastEnd && !names[h] {
			t.Errorf("%s: hinted %s, which never came", tt.Name, h)
		}
	}
	if _, err := tt.Part(lastEnd); !errors.Is(err, ErrNotYet) {
		t.Errorf("%s: part at the end: %v, want ErrNotYet", tt.Name, err)
	}
	if _, err := tt.Part(all[0].Start - 1); !errors.Is(err, ErrGone) {
		t.Errorf("%s: part before the oldest: %v, want ErrGone", tt.Name, err)
	}
	if s := all[len(all)-1]; len(s.Parts) > 1 {
		if _, err := tt.Part(s.Parts[1].Start - 1); !errors.Is(err, ErrNotFound) {
			t.Errorf("%s: part inside a part: %v, want ErrNotFound", tt.Name, err)
		}
	}
}

// A reconnect: parts continue in the new period, the hint follows the new
// period's start, and the part lookups span both.
func TestPartsAcrossReconnect(t *testing.T) {
	e := newEnv(t, Options{})
	sess := e.publish("re", videoTrack(t, 90000), aacTrack(t, 90000))
	log := newPartLog()
	writeLogged(t, e, "re", sess, avMedia(6, 0), log)
	sess.Close(nil)
	e.clock.Advance(2 * time.Second)
	sess = e.publish("re", videoTrack(t, 90000), aacTrack(t, 90000))
	writeLogged(t, e, "re", sess, avMedia(6, 0), log)
	sess.Close(nil)
	tl := e.timeline("re")
	if len(tl.Periods) != 2 {
		t.Fatalf("%d periods", len(tl.Periods))
	}
	for _, tt := range tl.Tracks {
		checkTrackParts(t, tl, tt, log)
	}
}

func TestPartNames(t *testing.T) {
	for _, tc := range []struct {
		name  string
		start uint64
		ok    bool
	}{
		{"part-0.m4s", 0, true},
		{"part-159059074050000.m4s", 159059074050000, true},
		{"part-18446744073709551615.m4s", 18446744073709551615, true},
		{"part-18446744073709551616.m4s", 0, false},
		{"part-.m4s", 0, false},
		{"part-01.m4s", 0, false},
		{"part-+1.m4s", 0, false},
		{"part--1.m4s", 0, false},
		{"part-1.mp4", 0, false},
		{"1.m4s", 0, false},
		{"part-1x.m4s", 0, false},
	} {
		start, ok := ParsePartName(tc.name)
		if start != tc.start || ok != tc.ok {
			t.Errorf("ParsePartName(%q) = %d, %v; want %d, %v", tc.name, start, ok, tc.start, tc.ok)
		}
		if ok && PartName(start) != tc.name {
			t.Errorf("PartName(%d) = %q", start, PartName(start))
		}
	}
}

// With parts off nothing of low latency appears in snapshots.
func TestPartsOff(t *testing.T) {
	e := newEnv(t, Options{PartsOff: true})
	sess := e.publish("off", videoTrack(t, 90000), aacTrack(t, 90000))
	write(t, sess, avMedia(5, 0))
	tl := e.timeline("off")
	if tl.PartTarget != 0 {
		t.Errorf("PartTarget %v", tl.PartTarget)
	}
	for _, tt := range tl.Tracks {
		if len(tt.Pending) != 0 || tt.NextPart != "" || tt.PendingSeq != 0 || len(tt.Segments) == 0 || len(tt.Segments[0].Parts) != 0 {
			t.Errorf("%s: low-latency state with parts off: %+v", tt.Name, tt)
		}
	}
}
