package origin

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/manifest"
	"github.com/liveorigin/liveorigin/packager"
)

// llFixture is a fixture whose server's timers are fired by the test and
// which reports every request that starts to wait.
type llFixture struct {
	*fixture
	timeouts chan time.Time // closed to fire every wait timer
	waits    chan *packager.Timeline
}

func newLLFixture(t testing.TB, window time.Duration) *llFixture {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	r, err := packager.NewRegistry(packager.Options{
		SegmentTarget: time.Second, Window: window, ReconnectGrace: 5 * time.Second,
		Now: clock.Now, Registerer: reg, Logger: slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	f := &llFixture{timeouts: make(chan time.Time), waits: make(chan *packager.Timeline, 1<<14)}
	s, err := New(Options{Streams: r, SegmentTarget: time.Second, CORSOrigin: "*", Now: clock.Now, Registerer: reg,
		Logger: slog.New(slog.DiscardHandler), After: func(time.Duration) <-chan time.Time { return f.timeouts }})
	if err != nil {
		t.Fatal(err)
	}
	s.waiting = func(tl *packager.Timeline) { f.waits <- tl }
	f.fixture = &fixture{clock: clock, registry: r, server: s, handler: s.Handler(), reg: reg}
	return f
}

// inflight is a request being served on its own goroutine.
type inflight struct {
	rec    *httptest.ResponseRecorder
	done   chan struct{}
	cancel context.CancelFunc
}

func (f *llFixture) start(path string) *inflight {
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", path, nil).WithContext(ctx)
	in := &inflight{rec: httptest.NewRecorder(), done: make(chan struct{}), cancel: cancel}
	go func() {
		defer close(in.done)
		f.handler.ServeHTTP(in.rec, req)
	}()
	return in
}

func (in *inflight) finished() bool {
	select {
	case <-in.done:
		return true
	default:
		return false
	}
}

func (in *inflight) wait(t testing.TB) *http.Response {
	t.Helper()
	select {
	case <-in.done:
		return in.rec.Result()
	case <-time.After(10 * time.Second):
		t.Fatal("request not answered within 10 s")
		return nil
	}
}

// awaitWaiting waits until n requests have started to wait.
func (f *llFixture) awaitWaiting(t testing.TB, n int) *packager.Timeline {
	t.Helper()
	var tl *packager.Timeline
	for range n {
		select {
		case tl = <-f.waits:
		case <-time.After(10 * time.Second):
			t.Fatal("no request started to wait within 10 s")
		}
	}
	return tl
}

// driveUntil feeds one video frame at a time (with its audio) until the
// request is answered, waiting after each new snapshot until the request
// has either answered or gone back to waiting, so that it answers from the
// first snapshot that satisfies it. It returns the frames fed.
func (f *llFixture) driveUntil(t testing.TB, in *inflight, maxFrames int) int {
	t.Helper()
	for n := 1; n <= maxFrames; n++ {
		before, _ := f.registry.Timeline("demo")
		f.feedFrames(t, 1)
		if after, _ := f.registry.Timeline("demo"); after == before {
			continue
		}
		select {
		case <-in.done:
			return n
		case <-f.waits:
		case <-time.After(10 * time.Second):
			t.Fatal("request neither answered nor waiting after a new snapshot")
		}
	}
	t.Fatalf("request not answered after %d frames", maxFrames)
	return 0
}

var (
	reMediaSeq = regexp.MustCompile(`#EXT-X-MEDIA-SEQUENCE:(\d+)`)
	reSkipped  = regexp.MustCompile(`#EXT-X-SKIP:SKIPPED-SEGMENTS=(\d+)`)
)

// playlistEdge reads the MSN of a playlist's last segment and how many
// parts follow it (the segment being produced).
func playlistEdge(t testing.TB, body string) (lastMSN uint64, trailing int) {
	t.Helper()
	segs := readPlaylist(t, body)
	last := segs[len(segs)-1]
	if last.complete {
		return last.msn, 0
	}
	return segs[len(segs)-2].msn, last.parts
}

// listed is a segment of a playlist read back: its MSN, its parts, and
// whether it is complete (the trailing parts of the segment being produced
// are not).
type listed struct {
	msn      uint64
	parts    int
	complete bool
}

func readPlaylist(t testing.TB, body string) []listed {
	t.Helper()
	m := reMediaSeq.FindStringSubmatch(body)
	if m == nil {
		t.Fatalf("no media sequence in\n%s", body)
	}
	seq, _ := strconv.ParseUint(m[1], 10, 64)
	if s := reSkipped.FindStringSubmatch(body); s != nil {
		n, _ := strconv.ParseUint(s[1], 10, 64)
		seq += n
	}
	var out []listed
	cur := listed{msn: seq}
	for _, l := range strings.Split(body, "\n") {
		switch {
		case strings.HasPrefix(l, "#EXT-X-PART:"):
			cur.parts++
		case l != "" && !strings.HasPrefix(l, "#"):
			cur.complete = true
			out = append(out, cur)
			cur = listed{msn: cur.msn + 1}
		}
	}
	return append(out, cur)
}

// newestPart is the MSN and index of the last part a playlist lists.
func newestPart(t testing.TB, body string) (uint64, int) {
	t.Helper()
	segs := readPlaylist(t, body)
	for i := len(segs) - 1; i >= 0; i-- {
		if segs[i].parts > 0 {
			return segs[i].msn, segs[i].parts - 1
		}
	}
	t.Fatalf("no part in\n%s", body)
	return 0, 0
}

// holds reports whether a playlist has segment msn or, with part >= 0,
// part (msn, part), reading a part index past the end of a complete
// segment as part 0 of the next (rfc8216bis 6.2.5.2).
func holds(t testing.TB, body string, msn uint64, part int) bool {
	t.Helper()
	for _, s := range readPlaylist(t, body) {
		switch {
		case s.msn < msn:
		case s.msn > msn:
			return true
		case part < 0:
			return s.complete
		case part < s.parts:
			return true
		case s.complete:
			msn, part = msn+1, 0
		}
	}
	return false
}

// edge is the live edge of the v0 rendition: its last segment, the Seq of
// the segment being produced and its parts so far.
type edge struct {
	last, pending uint64
	parts         int
	next          string
}

func (f *llFixture) edge(t testing.TB) edge {
	t.Helper()
	tl, err := f.registry.Timeline("demo")
	if err != nil {
		t.Fatal(err)
	}
	tt, _ := tl.Track("v0")
	return edge{last: tt.Segments[len(tt.Segments)-1].Seq, pending: tt.PendingSeq, parts: len(tt.Pending), next: tt.NextPart}
}

func TestBlockingReload(t *testing.T) {
	tests := []struct {
		name  string
		query func(e edge) string
		want  int
		// waits: the answer needs media that does not exist yet; it must
		// come with the first snapshot that has it.
		waits bool
		// msn and part name what the answer must hold (part -1: a
		// segment).
		msn  func(e edge) uint64
		part int
	}{
		{name: "segment in the playlist", query: func(e edge) string { return q("_HLS_msn", e.last) }, want: 200,
			msn: func(e edge) uint64 { return e.last }, part: -1},
		{name: "segment gone from the playlist", query: func(e edge) string { return q("_HLS_msn", e.last-3) }, want: 200,
			msn: func(e edge) uint64 { return e.last }, part: -1},
		{name: "next segment", query: func(e edge) string { return q("_HLS_msn", e.last+1) }, want: 200, waits: true,
			msn: func(e edge) uint64 { return e.last + 1 }, part: -1},
		{name: "next part", query: func(e edge) string { return q("_HLS_msn", e.pending) + "&" + q("_HLS_part", uint64(e.parts)) },
			want: 200, waits: true, msn: func(e edge) uint64 { return e.pending }, part: 1},
		{name: "existing part", query: func(e edge) string { return q("_HLS_msn", e.pending) + "&" + q("_HLS_part", 0) }, want: 200,
			msn: func(e edge) uint64 { return e.pending }, part: 0},
		{name: "part past the end of a segment is part 0 of the next",
			query: func(e edge) string { return q("_HLS_msn", e.last) + "&" + q("_HLS_part", 99) }, want: 200,
			msn: func(e edge) uint64 { return e.pending }, part: 0},
		{name: "first part of the segment after next", query: func(e edge) string { return q("_HLS_msn", e.pending+1) + "&" + q("_HLS_part", 0) },
			want: 200, waits: true, msn: func(e edge) uint64 { return e.pending + 1 }, part: 0},
		{name: "two segments ahead is allowed", query: func(e edge) string { return q("_HLS_msn", e.last+2) }, want: 200, waits: true,
			msn: func(e edge) uint64 { return e.last + 2 }, part: -1},
		{name: "three segments ahead", query: func(e edge) string { return q("_HLS_msn", e.last+3) }, want: 400},
		{name: "beyond the advance part limit", query: func(e edge) string {
			return q("_HLS_msn", e.pending) + "&" + q("_HLS_part", uint64(e.parts)+9)
		}, want: 400},
		{name: "within the advance part limit", query: func(e edge) string {
			return q("_HLS_msn", e.pending) + "&" + q("_HLS_part", uint64(e.parts)+1)
		}, want: 200, waits: true, msn: func(e edge) uint64 { return e.pending }, part: 2},
		{name: "part without msn", query: func(edge) string { return "_HLS_part=1" }, want: 400},
		{name: "msn not a number", query: func(edge) string { return "_HLS_msn=abc" }, want: 400},
		{name: "negative msn", query: func(edge) string { return "_HLS_msn=-1" }, want: 400},
		{name: "msn twice", query: func(e edge) string { return q("_HLS_msn", e.last) + "&" + q("_HLS_msn", e.last) }, want: 400},
		{name: "bad skip", query: func(e edge) string { return q("_HLS_msn", e.last) + "&_HLS_skip=NO" }, want: 400},
		{name: "other parameters are ignored", query: func(e edge) string { return "token=a%20b&" + q("_HLS_msn", e.last) + "&_HLS_future=1" },
			want: 200, msn: func(e edge) uint64 { return e.last }, part: -1},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLLFixture(t, 3*time.Second)
			f.publish(t)
			f.feed(t, 3*time.Second+400*time.Millisecond) // a part into the fourth segment
			e := f.edge(t)
			if e.parts != 1 || e.pending != e.last+1 {
				t.Fatalf("fixture edge %+v: want one part of the segment being produced", e)
			}
			in := f.start("/live/demo/v0.m3u8?" + tc.query(e))
			if tc.waits {
				f.awaitWaiting(t, 1)
				if in.finished() {
					t.Fatalf("answered before the media existed: %d", in.rec.Code)
				}
				f.driveUntil(t, in, 120)
			}
			resp := in.wait(t)
			b := body(t, resp)
			if resp.StatusCode != tc.want {
				t.Fatalf("status %d, want %d: %s", resp.StatusCode, tc.want, b)
			}
			cc := resp.Header.Get("Cache-Control")
			if tc.want != 200 {
				if cc != "no-store" {
					t.Errorf("error cached: %q", cc)
				}
				return
			}
			if cc != "public, max-age=6" || resp.Header.Get("ETag") == "" {
				t.Errorf("blocking answer: Cache-Control %q, ETag %q; want six target durations", cc, resp.Header.Get("ETag"))
			}
			msn := tc.msn(e)
			if !holds(t, b, msn, tc.part) {
				t.Fatalf("answer lacks segment %d part %d:\n%s", msn, tc.part, b)
			}
			if !tc.waits {
				return
			}
			// Answered by the first snapshot that has it: nothing newer.
			if tc.part < 0 {
				if last, _ := playlistEdge(t, b); last != msn {
					t.Errorf("answer ends with segment %d, want %d", last, msn)
				}
			} else if m, p := newestPart(t, b); m != msn || p != tc.part {
				t.Errorf("newest part of the answer is %d.%d, want %d.%d\n%s", m, p, msn, tc.part, b)
			}
		})
	}
}

// feedFrames feeds n video frames (1/30 s each) with their audio.
func (f *fixture) feedFrames(t testing.TB, n int) {
	t.Helper()
	f.feed(t, time.Duration(n)*time.Second/30+1)
}

func q(name string, v uint64) string { return name + "=" + strconv.FormatUint(v, 10) }

// The limits of waiting: 503 after three target durations, at once when the
// stream ends, nothing when the client leaves; the multivariant playlist
// ignores the directives.
func TestBlockingReloadEnds(t *testing.T) {
	tests := []struct {
		name   string
		path   string
		end    func(f *llFixture, in *inflight)
		want   int
		cache  string
		detail string
	}{
		{name: "timeout", path: "v0.m3u8?_HLS_msn=%d", end: func(f *llFixture, _ *inflight) { close(f.timeouts) },
			want: 503, cache: "no-store"},
		{name: "stream ends", path: "v0.m3u8?_HLS_msn=%d", end: func(f *llFixture, _ *inflight) { f.registry.Close() },
			want: 200, cache: "public, max-age=5", detail: "#EXT-X-ENDLIST"},
		{name: "hinted part times out", path: "v0/%s", end: func(f *llFixture, _ *inflight) { close(f.timeouts) },
			want: 503, cache: "no-store"},
		{name: "hinted part of an ended stream", path: "v0/%s", end: func(f *llFixture, _ *inflight) { f.registry.Close() },
			want: 200, cache: "public, max-age=31536000, immutable"},
		{name: "client leaves", path: "v0.m3u8?_HLS_msn=%d", end: func(_ *llFixture, in *inflight) { in.cancel() }},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newLLFixture(t, 3*time.Second)
			f.publish(t)
			f.feed(t, 3*time.Second+400*time.Millisecond)
			e := f.edge(t)
			path := "/live/demo/" + tc.path
			if strings.Contains(path, "%d") {
				path = strings.Replace(path, "%d", strconv.FormatUint(e.last+2, 10), 1)
			} else {
				path = strings.Replace(path, "%s", e.next, 1)
			}
			in := f.start(path)
			f.awaitWaiting(t, 1)
			tc.end(f, in)
			resp := in.wait(t)
			if tc.want == 0 {
				if in.rec.Body.Len() != 0 || in.rec.Header().Get("Content-Type") != "" {
					t.Errorf("wrote to a client that left: %d %v %q", in.rec.Code, in.rec.Header(), in.rec.Body)
				}
				return
			}
			b := body(t, resp)
			if resp.StatusCode != tc.want || resp.Header.Get("Cache-Control") != tc.cache || !strings.Contains(b, tc.detail) {
				t.Errorf("%d %q, want %d %q with %q:\n%s", resp.StatusCode, resp.Header.Get("Cache-Control"), tc.want, tc.cache, tc.detail, b)
			}
		})
	}

	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 2*time.Second)
	for _, p := range []string{"index.m3u8?_HLS_msn=999999999999", "manifest.mpd?_HLS_msn=999999999999&_HLS_part=1"} {
		if resp := f.do(t, "GET", "/live/demo/"+p); resp.StatusCode != 200 {
			t.Errorf("%s: %d", p, resp.StatusCode)
		}
	}
}

// Thousands of viewers waiting on the same segment wake on the same
// snapshot and get the same bytes from one render.
func TestBlockingReloadShared(t *testing.T) {
	const viewers = 2000
	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 3*time.Second+400*time.Millisecond)
	e := f.edge(t)
	path := "/live/demo/v0.m3u8?" + q("_HLS_msn", e.last+1)
	reqs := make([]*inflight, viewers)
	for i := range reqs {
		reqs[i] = f.start(path)
	}
	f.awaitWaiting(t, viewers)
	renders := f.server.cache.renders.Load()
	// Feed until the segment exists, and not a frame more: every viewer
	// answers from the snapshot that completed it.
	for {
		f.feedFrames(t, 1)
		tl, _ := f.registry.Timeline("demo")
		tt, _ := tl.Track("v0")
		if tt.Segments[len(tt.Segments)-1].Seq == e.last+1 {
			break
		}
	}
	var first []byte
	for i, in := range reqs {
		resp := in.wait(t)
		b, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 {
			t.Fatalf("viewer %d: %d", i, resp.StatusCode)
		}
		if first == nil {
			first = b
		} else if !bytes.Equal(b, first) {
			t.Fatalf("viewer %d got other bytes", i)
		}
	}
	if msn, _ := playlistEdge(t, string(first)); msn != e.last+1 {
		t.Errorf("answer ends with %d, want %d", msn, e.last+1)
	}
	if n := f.server.cache.renders.Load() - renders; n != 1 {
		t.Errorf("%d renders for %d viewers of one snapshot, want 1", n, viewers)
	}
}

// Delta updates: _HLS_skip=YES and v2 leave out the segments older than
// CAN-SKIP-UNTIL, with or without blocking.
func TestDeltaUpdates(t *testing.T) {
	f := newLLFixture(t, 12*time.Second)
	f.publish(t)
	f.feed(t, 14*time.Second+400*time.Millisecond)
	e := f.edge(t)
	full := body(t, f.do(t, "GET", "/live/demo/v0.m3u8"))
	for _, tc := range []struct {
		query, tag string
	}{
		{"_HLS_skip=YES", "#EXT-X-SKIP:SKIPPED-SEGMENTS="},
		{"_HLS_skip=v2", `,RECENTLY-REMOVED-DATERANGES=""`},
		{q("_HLS_msn", e.last) + "&_HLS_skip=YES", "#EXT-X-SKIP:SKIPPED-SEGMENTS="},
	} {
		resp := f.do(t, "GET", "/live/demo/v0.m3u8?"+tc.query)
		b := body(t, resp)
		if resp.StatusCode != 200 || !strings.Contains(b, tc.tag) || !strings.Contains(b, "#EXT-X-VERSION:9") || len(b) >= len(full) {
			t.Errorf("%s: %d, %d bytes (full: %d)\n%s", tc.query, resp.StatusCode, len(b), len(full), b)
		}
		if msn, _ := playlistEdge(t, b); msn != e.last {
			t.Errorf("%s: ends with %d, want %d", tc.query, msn, e.last)
		}
	}
}

// The preload-hinted part is held until it exists and served whole; a part
// far ahead is 503 at once; parts are immutable.
func TestPartRequests(t *testing.T) {
	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 3*time.Second+400*time.Millisecond)
	e := f.edge(t)
	in := f.start("/live/demo/v0/" + e.next)
	f.awaitWaiting(t, 1)
	if in.finished() {
		t.Fatalf("hinted part answered before it existed: %d", in.rec.Code)
	}
	f.driveUntil(t, in, 30)
	resp := in.wait(t)
	got := body(t, resp)
	start, _ := packager.ParsePartName(e.next)
	tl, _ := f.registry.Timeline("demo")
	tt, _ := tl.Track("v0")
	part, err := tt.Part(start)
	if err != nil || resp.StatusCode != 200 || got != string(part.Data) || resp.Header.Get("ETag") != part.ETag ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" || resp.Header.Get("Content-Type") != "video/mp4" {
		t.Fatalf("hinted part: %d %v (lookup %v)", resp.StatusCode, resp.Header, err)
	}
	for name, want := range map[string]int{
		packager.PartName(start):            200,
		packager.PartName(start + 1):        404, // inside a part
		packager.PartName(start + 90000*60): 503,
		"part-01.m4s":                       404,
	} {
		resp := f.do(t, "GET", "/live/demo/v0/"+name)
		if resp.StatusCode != want {
			t.Errorf("%s: %d, want %d", name, resp.StatusCode, want)
		}
	}
}

// LL-DASH: the segment being produced is sent while it grows, over real
// HTTP, and what arrives is exactly the finished segment.
func TestGrowingSegment(t *testing.T) {
	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 3*time.Second+400*time.Millisecond)
	tl, _ := f.registry.Timeline("demo")
	tt, _ := tl.Track("v0")
	start, first := tt.PendingStart, tt.Pending[0].Data
	srv := httptest.NewServer(f.handler)
	defer srv.Close()
	resp, err := srv.Client().Get(srv.URL + "/live/demo/v0/" + strconv.FormatUint(start, 10) + ".m4s")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != 200 || len(resp.TransferEncoding) == 0 || resp.TransferEncoding[0] != "chunked" ||
		resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" {
		t.Fatalf("growing segment: %d %v %v", resp.StatusCode, resp.TransferEncoding, resp.Header)
	}
	// The first chunk arrives before the segment is complete.
	head := make([]byte, len(first))
	if _, err := io.ReadFull(resp.Body, head); err != nil || !bytes.Equal(head, first) {
		t.Fatalf("first chunk: %v", err)
	}
	var rest []byte
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		rest, err = io.ReadAll(resp.Body)
	}()
	f.feed(t, 2*time.Second)
	wg.Wait()
	if err != nil {
		t.Fatal(err)
	}
	tl, _ = f.registry.Timeline("demo")
	tt, _ = tl.Track("v0")
	seg, err := tt.Segment(start)
	if err != nil {
		t.Fatal(err)
	}
	if got := append(head, rest...); !bytes.Equal(got, seg.Data) {
		t.Errorf("streamed %d bytes, the segment has %d", len(got), len(seg.Data))
	}

	// A growing segment that cannot complete in time is cut off, never
	// ended as if complete.
	tt, _ = tl.Track("v0")
	resp, err = srv.Client().Get(srv.URL + "/live/demo/v0/" + strconv.FormatUint(tt.PendingStart, 10) + ".m4s")
	if err != nil {
		t.Fatal(err)
	}
	f.awaitWaiting(t, 1)
	close(f.timeouts)
	if _, err := io.ReadAll(resp.Body); err == nil {
		t.Error("an incomplete growing segment ended cleanly")
	}
	resp.Body.Close()
}

func TestHLSQuery(t *testing.T) {
	for _, tc := range hlsQueryTests {
		got, err := parseHLSQuery(tc.raw)
		if (err != nil) != tc.err || err == nil && got != tc.want {
			t.Errorf("parseHLSQuery(%q) = %+v, %v; want %+v, error %v", tc.raw, got, err, tc.want, tc.err)
		}
	}
}

var hlsQueryTests = []struct {
	raw  string
	want hlsQuery
	err  bool
}{
	{raw: ""},
	{raw: "token=abc&x=%zz"},
	{raw: "_HLS_msn=12", want: hlsQuery{msn: 12, hasMSN: true}},
	{raw: "_HLS_msn=12&_HLS_part=3", want: hlsQuery{msn: 12, part: 3, hasMSN: true, hasPart: true}},
	{raw: "_HLS_part=3&_HLS_msn=12&_HLS_skip=YES", want: hlsQuery{msn: 12, part: 3, hasMSN: true, hasPart: true, skip: manifest.SkipYes}},
	{raw: "_HLS_skip=v2", want: hlsQuery{skip: manifest.SkipV2}},
	{raw: "%5FHLS%5Fmsn=7", want: hlsQuery{msn: 7, hasMSN: true}},
	{raw: "_HLS_msn=18446744073709551615", want: hlsQuery{msn: 18446744073709551615, hasMSN: true}},
	{raw: "_HLS_future=1&_HLS_msn=1", want: hlsQuery{msn: 1, hasMSN: true}},
	{raw: "_HLS_msn=18446744073709551616", err: true},
	{raw: "_HLS_msn=", err: true},
	{raw: "_HLS_msn", err: true},
	{raw: "_HLS_msn=+1", err: true},
	{raw: "_HLS_msn=1%20", err: true},
	{raw: "_HLS_msn=0x10", err: true},
	{raw: "_HLS_part=1", err: true},
	{raw: "_HLS_msn=1&_HLS_msn=2", err: true},
	{raw: "_HLS_msn=1&_HLS_part=1&_HLS_part=2", err: true},
	{raw: "_HLS_skip=yes", err: true},
	{raw: "_HLS_skip=YES&_HLS_skip=YES", err: true},
	{raw: "_HLS_msn=%zz", err: true},
}

// FuzzHLSQuery: any query string either parses into directives that print
// back to an equivalent query, or is refused; never a panic.
func FuzzHLSQuery(f *testing.F) {
	for _, tc := range hlsQueryTests {
		f.Add(tc.raw)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		q, err := parseHLSQuery(raw)
		if err != nil {
			return
		}
		if q.hasPart && !q.hasMSN {
			t.Fatalf("%q: part without msn accepted", raw)
		}
		var parts []string
		if q.hasMSN {
			parts = append(parts, "_HLS_msn="+strconv.FormatUint(q.msn, 10))
		}
		if q.hasPart {
			parts = append(parts, "_HLS_part="+strconv.FormatUint(q.part, 10))
		}
		if q.skip != manifest.SkipNone {
			parts = append(parts, "_HLS_skip="+q.skip.String())
		}
		again, err := parseHLSQuery(strings.Join(parts, "&"))
		if err != nil || again != q {
			t.Fatalf("%q: %+v does not round-trip: %+v, %v", raw, q, again, err)
		}
	})
}

// BenchmarkBlockingReload measures 200 viewers blocked on the next part:
// from feeding the frames that make the part to the last of the 200
// answers written, per part.
func BenchmarkBlockingReload(b *testing.B) {
	const viewers = 200
	f := newLLFixture(b, 3*time.Second)
	var waiting atomic.Int64
	ready := make(chan struct{}, 1)
	f.server.waiting = func(*packager.Timeline) {
		if waiting.Add(1) == viewers {
			ready <- struct{}{}
		}
	}
	f.publish(b)
	f.feed(b, 3*time.Second)
	w := make([]*discard, viewers)
	for i := range w {
		w[i] = &discard{h: http.Header{}}
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		tl, _ := f.registry.Timeline("demo")
		tt, _ := tl.Track("v0")
		path := "/live/demo/v0.m3u8?" + q("_HLS_msn", tt.PendingSeq) + "&" + q("_HLS_part", uint64(len(tt.Pending)))
		waiting.Store(0)
		var wg sync.WaitGroup
		for k := range viewers {
			wg.Add(1)
			clear(w[k].h)
			go func() {
				defer wg.Done()
				f.handler.ServeHTTP(w[k], httptest.NewRequest("GET", path, nil))
			}()
		}
		<-ready
		waiting.Store(-1 << 40) // later waits do not signal
		b.StartTimer()
		// Feed until the next part: the last frame's snapshot wakes them.
		for {
			f.feedFrames(b, 1)
			if now, _ := f.registry.Timeline("demo"); now != tl {
				tt2, _ := now.Track("v0")
				if len(tt2.Pending) != len(tt.Pending) || tt2.PendingSeq != tt.PendingSeq {
					break
				}
				tl = now
			}
		}
		wg.Wait()
	}
}

// BenchmarkServePart measures serving a part that exists.
func BenchmarkServePart(b *testing.B) {
	benchmarkPath(b, func(f *fixture, _ string) string {
		tl, _ := f.registry.Timeline("demo")
		tt, _ := tl.Track("v0")
		return "/live/demo/v0/" + tt.Segments[len(tt.Segments)-1].Parts[1].Name()
	})
}

// With parts off the playlists have no low-latency tags and the origin
// ignores the delivery directives: nothing blocks.
func TestPartsOffIgnoresDirectives(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	r, err := packager.NewRegistry(packager.Options{SegmentTarget: time.Second, Window: 3 * time.Second, PartsOff: true,
		Now: clock.Now, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	s, err := New(Options{Streams: r, Now: clock.Now, Registerer: reg, Logger: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{clock: clock, registry: r, server: s, handler: s.Handler(), reg: reg}
	f.publish(t)
	f.feed(t, 4*time.Second)
	for _, p := range []string{"v0.m3u8?_HLS_msn=999999999999", "v0.m3u8?_HLS_msn=999999999999&_HLS_part=3&_HLS_skip=YES"} {
		resp := f.do(t, "GET", "/live/demo/"+p)
		b := body(t, resp)
		if resp.StatusCode != 200 || resp.Header.Get("Cache-Control") != "public, max-age=1" ||
			strings.Contains(b, "EXT-X-PART") || strings.Contains(b, "SERVER-CONTROL") || strings.Contains(b, "EXT-X-SKIP") {
			t.Errorf("%s: %d %q\n%s", p, resp.StatusCode, resp.Header.Get("Cache-Control"), b)
		}
	}
	if b := body(t, f.do(t, "GET", "/live/demo/manifest.mpd")); strings.Contains(b, "availabilityTimeOffset") || strings.Contains(b, "ServiceDescription") {
		t.Errorf("LL-DASH with parts off:\n%s", b)
	}
}

// A playlist request without directives answers with a fresh edge: at once
// when the newest part is new, after the next part when it is older than a
// quarter of the part target, at once again when the stream has stalled
// (no part for two part targets).
func TestFreshEdge(t *testing.T) {
	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 2*time.Second)
	newest := func() time.Time { return f.newestPartAt(t) }
	f.feedToPart(t)
	const path = "/live/demo/v0.m3u8"
	resp := f.start(path).wait(t)
	if age := f.clock.Now().Sub(newest()); resp.StatusCode != 200 || age >= 334*time.Millisecond/4 {
		t.Fatalf("fresh edge (age %v): status %d", age, resp.StatusCode)
	}

	// Three frames later the newest part is 100 ms old: the request waits
	// for the next one and answers with it.
	f.feedFrames(t, 3)
	stale := newest()
	if age := f.clock.Now().Sub(stale); age < 334*time.Millisecond/4 {
		t.Fatalf("newest part only %v old after three frames", age)
	}
	e := f.edge(t)
	in := f.start(path)
	f.awaitWaiting(t, 1)
	if in.finished() {
		t.Fatal("answered with a stale edge")
	}
	f.driveUntil(t, in, 30)
	resp = in.wait(t)
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !newest().After(stale) {
		t.Fatalf("status %d; newest part %v, want after %v", resp.StatusCode, newest(), stale)
	}
	if msn, part := newestPart(t, string(b)); msn == e.pending && part == e.parts-1 {
		t.Errorf("answer's newest part %d.%d is the stale one", msn, part)
	}
	if n := histogramCount(t, f.reg, "liveorigin_http_blocking_wait_seconds", string(KindMediaList)); n != 1 {
		t.Errorf("%d media_playlist waits observed, want 1", n)
	}

	// A stalled stream (no part for two part targets) answers at once.
	f.clock.Advance(time.Second)
	if resp := f.start(path).wait(t); resp.StatusCode != 200 {
		t.Fatalf("stalled stream: status %d", resp.StatusCode)
	}
}
