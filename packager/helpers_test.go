package packager

import (
	"bytes"
	"context"
	"flag"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/Eyevinn/mp4ff/bits"
	"github.com/Eyevinn/mp4ff/hevc"
	"github.com/Eyevinn/mp4ff/mp4"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

var update = flag.Bool("update", false, "update golden files")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// epoch is the fake clock's start: a fixed instant makes golden files stable.
var epoch = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{t: epoch} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// testEnv is a Registry driven by a fake clock, without its ticker.
type testEnv struct {
	t     testing.TB
	r     *Registry
	clock *fakeClock
	reg   *prometheus.Registry
	logs  *bytes.Buffer
}

func newEnv(t testing.TB, o Options) *testEnv {
	t.Helper()
	e := &testEnv{t: t, clock: newFakeClock(), reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}}
	o.Now = e.clock.Now
	o.Registerer = e.reg
	o.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: e.logs}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.manualTick = true
	r, err := NewRegistry(o)
	if err != nil {
		t.Fatalf("NewRegistry: %v", err)
	}
	e.r = r
	t.Cleanup(r.Close)
	return e
}

type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func testInfo(name string) ingest.PublishInfo {
	return ingest.PublishInfo{Name: name, Protocol: "rtmp", RemoteAddr: "192.0.2.1:5000"}
}

func (e *testEnv) publish(name string, tracks ...ingest.Track) ingest.Session {
	e.t.Helper()
	sess, err := e.r.Publish(context.Background(), testInfo(name))
	if err != nil {
		e.t.Fatalf("Publish(%s): %v", name, err)
	}
	if err := sess.Start(tracks); err != nil {
		e.t.Fatalf("Start: %v", err)
	}
	return sess
}

func (e *testEnv) timeline(name string) *Timeline {
	e.t.Helper()
	tl, err := e.r.Timeline(name)
	if err != nil {
		e.t.Fatalf("Timeline(%s): %v", name, err)
	}
	return tl
}

// write feeds access units, advancing the fake clock to keep pace with
// their timestamps as a live source would.
func write(t testing.TB, sess ingest.Session, aus []ingest.AccessUnit) {
	t.Helper()
	for _, au := range aus {
		if err := sess.WriteAU(au); err != nil {
			t.Fatalf("WriteAU(track %d, dts %d): %v", au.Track, au.DTS, err)
		}
	}
}

// clip is one track read from a test file made with ffmpeg.
type clip struct {
	track ingest.Track
	aus   []ingest.AccessUnit
}

// loadClip reads a fragmented MP4 from testdata into a Track (in the clip's
// own timescale) and its access units. The Track is built from the clip's
// codec configuration with the ingest constructors, as every adapter does.
func loadClip(t testing.TB, file string) clip {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", file))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	mf, err := mp4.DecodeFile(f)
	if err != nil {
		t.Fatalf("decode %s: %v", file, err)
	}
	trak := mf.Init.Moov.Trak
	stsd := trak.Mdia.Minf.Stbl.Stsd
	clock := trak.Mdia.Mdhd.Timescale
	var c clip
	switch {
	case stsd.AvcX != nil:
		c.track, err = ingest.H264Track(stsd.AvcX.AvcC.SPSnalus, stsd.AvcX.AvcC.PPSnalus, clock)
	case stsd.HvcX != nil:
		hc := stsd.HvcX.HvcC
		c.track, err = ingest.H265Track(hc.GetNalusForType(hevc.NALU_VPS), hc.GetNalusForType(hevc.NALU_SPS), hc.GetNalusForType(hevc.NALU_PPS), clock)
	case stsd.Av01 != nil:
		rec := stsd.Av01.Av1C.CodecConfRec
		sw := bits.NewFixedSliceWriter(int(rec.Size()))
		if err := rec.EncodeSW(sw); err != nil {
			t.Fatal(err)
		}
		c.track, err = ingest.AV1TrackFromConfig(sw.Bytes(), clock)
	case stsd.Mp4a != nil:
		c.track, err = ingest.AACTrack(stsd.Mp4a.Esds.DecConfigDescriptor.DecSpecificInfo.DecConfig, clock)
	case stsd.Opus != nil:
		c.track, err = ingest.OpusTrack(int(stsd.Opus.Dops.OutputChannelCount), stsd.Opus.Dops.PreSkip, clock)
	default:
		t.Fatalf("%s: unexpected sample entry", file)
	}
	if err != nil {
		t.Fatalf("%s: build track: %v", file, err)
	}
	for _, seg := range mf.Segments {
		for _, frag := range seg.Fragments {
			fs, err := frag.GetFullSamples(mf.Init.Moov.Mvex.Trex)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range fs {
				c.aus = append(c.aus, ingest.AccessUnit{
					DTS: int64(s.DecodeTime), PTS: s.PresentationTime(),
					Key: c.track.Kind == ingest.Audio || s.IsSync(), Data: s.Data,
				})
			}
		}
	}
	if len(c.aus) == 0 {
		t.Fatalf("%s: no samples", file)
	}
	return c
}

var clipCache sync.Map

// cachedClip loads a clip once per test binary.
func cachedClip(t testing.TB, file string) clip {
	if c, ok := clipCache.Load(file); ok {
		return c.(clip)
	}
	c := loadClip(t, file)
	clipCache.Store(file, c)
	return c
}

// decoded is a segment decoded back with mp4ff.
type decoded struct {
	tfdt    uint64
	samples []mp4.FullSample
	frags   []*mp4.Fragment
	prft    *mp4.PrftBox
	file    *mp4.File
}

// decodeSegment parses init + segment bytes as mp4ff would see them on disk.
// A segment is one fragment (parts off) or one per part.
func decodeSegment(t testing.TB, init *Init, seg *Segment) decoded {
	t.Helper()
	data := append(append([]byte{}, init.Data...), seg.Data...)
	mf, err := mp4.DecodeFile(bytes.NewReader(data))
	if err != nil {
		t.Fatalf("decode segment %d: %v", seg.Start, err)
	}
	if len(mf.Segments) != 1 || len(mf.Segments[0].Fragments) == 0 {
		t.Fatalf("segment %d: want 1 segment with fragments", seg.Start)
	}
	d := decoded{file: mf, frags: mf.Segments[0].Fragments}
	for _, frag := range d.frags {
		fs, err := frag.GetFullSamples(mf.Init.Moov.Mvex.Trex)
		if err != nil {
			t.Fatal(err)
		}
		d.samples = append(d.samples, fs...)
	}
	for _, b := range mf.Children {
		if p, ok := b.(*mp4.PrftBox); ok && d.prft == nil {
			d.prft = p
		}
	}
	d.tfdt = d.frags[0].Moof.Traf.Tfdt.BaseMediaDecodeTime()
	return d
}

// videoTrack returns the H.264 clip's track description with a clock rate.
func videoTrack(t testing.TB, clock uint32) ingest.Track {
	tr := cachedClip(t, "h264.mp4").track
	tr.ClockRate = clock
	return tr
}

func aacTrack(t testing.TB, clock uint32) ingest.Track {
	tr := cachedClip(t, "aac.mp4").track
	tr.ClockRate = clock
	return tr
}

func opusTrack(t testing.TB, clock uint32) ingest.Track {
	tr := cachedClip(t, "opus.mp4").track
	tr.ClockRate = clock
	return tr
}

// synthVideo makes n frames at fps with a key frame every gop frames, in a
// 90 kHz clock, with two-frame B-frame reordering (PTS = DTS + 2 frames).
func synthVideo(track, n int, fps float64, gop int, startDTS int64) []ingest.AccessUnit {
	aus := make([]ingest.AccessUnit, n)
	frame := 90000 / fps
	for i := range aus {
		dts := startDTS + int64(float64(i)*frame+0.5)
		aus[i] = ingest.AccessUnit{Track: track, DTS: dts, PTS: dts + int64(2*frame+0.5), Key: i%gop == 0, Data: make([]byte, 5000)}
	}
	return aus
}

// synthAAC makes n AAC frames at 48 kHz in a 90 kHz clock.
func synthAAC(track, n int, startDTS int64) []ingest.AccessUnit {
	aus := make([]ingest.AccessUnit, n)
	for i := range aus {
		dts := startDTS + int64(i)*1024*90000/48000
		aus[i] = ingest.AccessUnit{Track: track, DTS: dts, PTS: dts, Key: true, Data: make([]byte, 300)}
	}
	return aus
}

// interleave merges access units of several tracks by DTS (same clock).
func interleave(lists ...[]ingest.AccessUnit) []ingest.AccessUnit {
	var all []ingest.AccessUnit
	for _, l := range lists {
		all = append(all, l...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].DTS < all[j].DTS })
	return all
}

// checkInvariants asserts what must hold for every timeline: segments no
// longer than TargetDuration, never overlapping, Seq +1, and (unless gaps
// are expected) contiguous within a period.
func checkInvariants(t testing.TB, tl *Timeline, allowGaps bool) {
	t.Helper()
	for n, tt := range tl.Tracks {
		limit := tl.TargetDuration
		if n > 0 {
			// Followers stay aligned with the leader and may end within one
			// of their samples (audio: at most 120 ms) after it.
			limit += 120 * time.Millisecond
		}
		all := append(append([]*Segment{}, tt.Retained...), tt.Segments...)
		for i, s := range all {
			if s.Length() > limit || (s.Length()+time.Second/2)/time.Second > tl.TargetDuration/time.Second {
				t.Errorf("%s seg %d (seq %d): %v longer than target duration %v", tt.Name, i, s.Seq, s.Length(), tl.TargetDuration)
			}
			if s.Duration == 0 {
				t.Errorf("%s seg %d: zero duration", tt.Name, i)
			}
			if i == 0 {
				continue
			}
			p := all[i-1]
			if s.Seq != p.Seq+1 {
				t.Errorf("%s seg %d: seq %d after %d", tt.Name, i, s.Seq, p.Seq)
			}
			if s.StartOffset() < p.StartOffset()+p.Length() {
				t.Errorf("%s seg %d: starts at %v before the previous ends at %v", tt.Name, i, s.StartOffset(), p.StartOffset()+p.Length())
			}
			if s.Period == p.Period && s.Start != p.Start+p.Duration && s.Timescale == p.Timescale && !allowGaps {
				t.Errorf("%s seg %d: gap within period: %d != %d", tt.Name, i, s.Start, p.Start+p.Duration)
			}
		}
	}
}

func golden(t testing.TB, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file (run go test -update and review the diff):\n%s", path, got)
	}
}

// metricValue reads one series from the test registry: the counter or gauge
// value (or histogram sample count) of name with the given labels; 0 when
// the series does not exist.
func (e *testEnv) metricValue(name string, labels ...string) float64 {
	e.t.Helper()
	mfs, err := e.reg.Gather()
	if err != nil {
		e.t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	series:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue series
				}
			}
			switch {
			case m.Counter != nil:
				return m.GetCounter().GetValue()
			case m.Gauge != nil:
				return m.GetGauge().GetValue()
			case m.Histogram != nil:
				return float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return 0
}
