package origin

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/manifest"
	"github.com/liveorigin/liveorigin/packager"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// A real 320x240 H.264 SPS/PPS pair (libx264).
var (
	testSPS, _ = hex.DecodeString("6764000dacd94141fb0110000003001000000303c0f1429960")
	testPPS, _ = hex.DecodeString("68ebe3cb22c0")
	testASC    = []byte{0x11, 0x90} // AAC-LC, 48 kHz, stereo
)

type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// fixture is a registry with one stream fed with synthetic media, and an
// origin serving it.
type fixture struct {
	clock    *fakeClock
	registry *packager.Registry
	server   *Server
	handler  http.Handler
	reg      *prometheus.Registry
	session  ingest.Session
	frame    int64 // next video frame number; its DTS is frame*1000/30 ms
	audio    int64 // next audio DTS in ms
}

func newFixture(t testing.TB) *fixture {
	t.Helper()
	clock := &fakeClock{now: time.Date(2026, 11, 26, 2, 0, 0, 0, time.UTC)}
	reg := prometheus.NewRegistry()
	r, err := packager.NewRegistry(packager.Options{
		SegmentTarget:  time.Second,
		Window:         3 * time.Second,
		ReconnectGrace: 5 * time.Second,
		Now:            clock.Now,
		Registerer:     reg,
		Logger:         slog.New(slog.DiscardHandler),
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	s, err := New(Options{Streams: r, SegmentTarget: time.Second, CORSOrigin: "*", Now: clock.Now, Registerer: reg})
	if err != nil {
		t.Fatal(err)
	}
	return &fixture{clock: clock, registry: r, server: s, handler: s.Handler(), reg: reg}
}

// publish starts stream "demo" with H.264 and AAC tracks.
func (f *fixture) publish(t testing.TB) {
	t.Helper()
	sess, err := f.registry.Publish(context.Background(), ingest.PublishInfo{Name: "demo", Protocol: "rtmp", RemoteAddr: "127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	v, err := ingest.H264Track([][]byte{testSPS}, [][]byte{testPPS}, 1000)
	if err != nil {
		t.Fatal(err)
	}
	a, err := ingest.AACTrack(testASC, 1000)
	if err != nil {
		t.Fatal(err)
	}
	if err := sess.Start([]ingest.Track{v, a}); err != nil {
		t.Fatal(err)
	}
	f.session = sess
}

// newestPartAt is when the video's newest part was made.
func (f *fixture) newestPartAt(t testing.TB) time.Time {
	t.Helper()
	tl, err := f.registry.Timeline("demo")
	if err != nil {
		t.Fatal(err)
	}
	tt, err := tl.Track("v0")
	if err != nil {
		t.Fatal(err)
	}
	return tt.LastPartAt
}

// feedToPart feeds frames until a video part has just been made: a
// playlist request without directives then answers at once (the edge is
// fresh, blocking.go freshEdge) instead of waiting for the next part.
func (f *fixture) feedToPart(t testing.TB) {
	t.Helper()
	before := f.newestPartAt(t)
	for f.newestPartAt(t) == before {
		f.feedFrames(t, 1)
	}
}

// feed writes d of media: 30 fps video with a keyframe every second, and
// 48 kHz AAC frames, interleaved by time, advancing the clock along.
func (f *fixture) feed(t testing.TB, d time.Duration) {
	t.Helper()
	end := f.frame + int64(d*30/time.Second)
	for ; f.frame < end; f.frame++ {
		dts := f.frame * 1000 / 30
		for f.audio <= dts {
			if err := f.session.WriteAU(ingest.AccessUnit{Track: 1, DTS: f.audio, PTS: f.audio, Key: true, Data: make([]byte, 200)}); err != nil {
				t.Fatal(err)
			}
			f.audio += 1024 * 1000 / 48000
		}
		nal := make([]byte, 4+1000)
		nal[3] = 1000 & 0xff
		nal[2] = 1000 >> 8
		nal[4] = 0x41 // non-IDR slice
		key := f.frame%30 == 0
		if key {
			nal[4] = 0x65 // IDR slice
		}
		if err := f.session.WriteAU(ingest.AccessUnit{Track: 0, DTS: dts, PTS: dts, Key: key, Data: nal}); err != nil {
			t.Fatal(err)
		}
		f.clock.Advance(time.Second / 30)
	}
}

func (f *fixture) do(t testing.TB, method, path string, hdr ...string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(method, path, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	f.handler.ServeHTTP(rec, req)
	return rec.Result()
}

func body(t testing.TB, resp *http.Response) string {
	t.Helper()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

var reSegment = regexp.MustCompile(`(?m)^(v0/[0-9]+\.m4s)$`)
var reInit = regexp.MustCompile(`#EXT-X-MAP:URI="([^"]+)"`)

func TestStatusAndCachePolicy(t *testing.T) {
	f := newFixture(t)

	// Unknown stream and unknown paths: a short-lived 404, never an empty 200.
	for _, p := range []string{"/live/nope/index.m3u8", "/live/nope/manifest.mpd", "/live/nope/v0/123.m4s", "/", "/live/demo", "/favicon.ico"} {
		resp := f.do(t, "GET", p)
		if resp.StatusCode != http.StatusNotFound || resp.Header.Get("Cache-Control") != "public, max-age=2" || body(t, resp) == "" {
			t.Errorf("GET %s: %d %q", p, resp.StatusCode, resp.Header.Get("Cache-Control"))
		}
	}

	// Published but no complete segment yet: 503, not cacheable.
	f.publish(t)
	f.feed(t, 500*time.Millisecond)
	resp := f.do(t, "GET", "/live/demo/index.m3u8")
	if resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Retry-After") == "" {
		t.Errorf("before the first segment: %d %v", resp.StatusCode, resp.Header)
	}

	f.feed(t, 6*time.Second)
	for _, tc := range []struct {
		path, ctype, cache string
	}{
		{"/live/demo/index.m3u8", "application/vnd.apple.mpegurl", "public, max-age=1"},
		{"/live/demo/v0.m3u8", "application/vnd.apple.mpegurl", "public, max-age=1"},
		{"/live/demo/a0.m3u8", "application/vnd.apple.mpegurl", "public, max-age=1"},
		{"/live/demo/manifest.mpd", "application/dash+xml", "public, max-age=1"},
	} {
		resp := f.do(t, "GET", tc.path)
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("GET %s: %d %s", tc.path, resp.StatusCode, body(t, resp))
		}
		h := resp.Header
		if h.Get("Content-Type") != tc.ctype || h.Get("Cache-Control") != tc.cache || h.Get("ETag") == "" ||
			h.Get("Access-Control-Allow-Origin") != "*" || h.Get("Set-Cookie") != "" {
			t.Errorf("GET %s headers: %v", tc.path, h)
		}
		// Conditional GET.
		resp2 := f.do(t, "GET", tc.path, "If-None-Match", h.Get("ETag"))
		if resp2.StatusCode != http.StatusNotModified {
			t.Errorf("GET %s If-None-Match: %d", tc.path, resp2.StatusCode)
		}
	}

	media := body(t, f.do(t, "GET", "/live/demo/v0.m3u8"))
	segs := reSegment.FindAllString(media, -1)
	if len(segs) < 3 {
		t.Fatalf("media playlist has %d segments:\n%s", len(segs), media)
	}
	for _, p := range []string{"/live/demo/" + segs[0], "/live/demo/" + reInit.FindStringSubmatch(media)[1]} {
		resp := f.do(t, "GET", p)
		b := body(t, resp)
		if resp.StatusCode != http.StatusOK || resp.Header.Get("Cache-Control") != "public, max-age=31536000, immutable" ||
			resp.Header.Get("Content-Type") != "video/mp4" || resp.Header.Get("ETag") == "" || len(b) < 8 {
			t.Fatalf("GET %s: %d %v", p, resp.StatusCode, resp.Header)
		}
		// Range.
		rr := f.do(t, "GET", p, "Range", "bytes=0-7")
		if rr.StatusCode != http.StatusPartialContent || body(t, rr) != b[:8] {
			t.Errorf("GET %s Range: %d", p, rr.StatusCode)
		}
		// HEAD: headers without a body.
		hr := f.do(t, "HEAD", p)
		if hr.StatusCode != http.StatusOK || body(t, hr) != "" || hr.Header.Get("Content-Length") == "" {
			t.Errorf("HEAD %s: %d %v", p, hr.StatusCode, hr.Header)
		}
	}

	// A segment in the future, an unknown rendition, a bad object name.
	for p, want := range map[string]int{
		"/live/demo/v0/99999999999999999.m4s": http.StatusServiceUnavailable,
		"/live/demo/v9.m3u8":                  http.StatusNotFound,
		"/live/demo/v9/1.m4s":                 http.StatusNotFound,
		"/live/demo/v0/abc.m4s":               http.StatusNotFound,
		"/live/demo/v0/init-nothere.mp4":      http.StatusNotFound,
		"/live/demo/v0/1.txt":                 http.StatusNotFound,
	} {
		if resp := f.do(t, "GET", p); resp.StatusCode != want {
			t.Errorf("GET %s: %d, want %d", p, resp.StatusCode, want)
		}
	}

	// Two windows later the first segment is gone: 410.
	f.feed(t, 10*time.Second)
	resp = f.do(t, "GET", "/live/demo/"+segs[0])
	if resp.StatusCode != http.StatusGone || resp.Header.Get("Cache-Control") != "public, max-age=60" {
		t.Errorf("old segment: %d %q", resp.StatusCode, resp.Header.Get("Cache-Control"))
	}
}

func TestCORSPreflightAndTime(t *testing.T) {
	f := newFixture(t)
	resp := f.do(t, "OPTIONS", "/live/demo/index.m3u8", "Origin", "https://player.example", "Access-Control-Request-Method", "GET")
	if resp.StatusCode != http.StatusNoContent || !strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "GET") {
		t.Errorf("preflight: %d %v", resp.StatusCode, resp.Header)
	}
	resp = f.do(t, "GET", "/time")
	if got := body(t, resp); got != "2026-11-26T02:00:00.000Z" || resp.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("/time: %q %v", got, resp.Header)
	}
}

// Render once, serve many: every request for the same snapshot shares one
// rendered document.
func TestRenderOncePerSnapshot(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 3*time.Second)
	tl, err := f.registry.Timeline("demo")
	if err != nil {
		t.Fatal(err)
	}
	d1, err := f.server.cache.forTimeline(tl).mediaDoc("v0", manifest.SkipNone)
	if err != nil {
		t.Fatal(err)
	}
	d2, _ := f.server.cache.forTimeline(tl).mediaDoc("v0", manifest.SkipNone)
	if d1 != d2 {
		t.Error("same snapshot rendered twice")
	}
	f.feed(t, 2*time.Second)
	tl2, _ := f.registry.Timeline("demo")
	d3, _ := f.server.cache.forTimeline(tl2).mediaDoc("v0", manifest.SkipNone)
	if d3 == d1 || string(d3.body) == string(d1.body) {
		t.Error("a new snapshot did not get a new rendering")
	}
}

func TestAdmin(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 3*time.Second)
	f.do(t, "GET", "/live/demo/index.m3u8")
	ready := true
	h := f.server.AdminHandler(AdminOptions{Gatherer: f.reg, Ready: func() bool { return ready },
		PullSources: func() any { return []map[string]string{{"name": "cam", "state": "retrying"}} }})
	get := func(p string) (int, string) {
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, httptest.NewRequest("GET", p, nil))
		return rec.Code, rec.Body.String()
	}
	if code, b := get("/healthz"); code != 200 || b != "ok\n" {
		t.Errorf("/healthz: %d %q", code, b)
	}
	if code, _ := get("/readyz"); code != 200 {
		t.Errorf("/readyz: %d", code)
	}
	ready = false
	if code, _ := get("/readyz"); code != http.StatusServiceUnavailable {
		t.Errorf("/readyz while shutting down: %d", code)
	}
	if code, b := get("/metrics"); code != 200 || !strings.Contains(b, `liveorigin_http_requests_total{code="200",kind="multivariant"} 1`) {
		t.Errorf("/metrics: %d\n%s", code, b)
	}
	code, b := get("/api/v1/streams")
	var doc struct{ Streams []packager.StreamInfo }
	if err := json.Unmarshal([]byte(b), &doc); code != 200 || err != nil || len(doc.Streams) != 1 || doc.Streams[0].Name != "demo" ||
		len(doc.Streams[0].Tracks) != 2 || doc.Streams[0].Tracks[0].Width != 320 {
		t.Errorf("/api/v1/streams: %d %v %s", code, err, b)
	}
	if !strings.Contains(b, `"pull_sources"`) || !strings.Contains(b, `"retrying"`) {
		t.Errorf("/api/v1/streams lacks the pull sources: %s", b)
	}
	if code, b := get("/api/v1/sources"); code != 200 || !strings.Contains(b, `"state": "retrying"`) {
		t.Errorf("/api/v1/sources: %d %s", code, b)
	}
	if code, _ := get("/api/v1/streams/demo"); code != 200 {
		t.Errorf("/api/v1/streams/demo: %d", code)
	}
	if code, _ := get("/api/v1/streams/nope"); code != 404 {
		t.Errorf("/api/v1/streams/nope: %d", code)
	}
}

// discard is a ResponseWriter that drops the body, for benchmarks of the
// handler itself.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func benchmarkPath(b *testing.B, path func(f *fixture, media string) string) {
	f := newFixture(b)
	f.publish(b)
	f.feed(b, 6*time.Second)
	f.feedToPart(b) // a fresh edge: the playlist answers at once
	media := body(b, f.do(b, "GET", "/live/demo/v0.m3u8"))
	req := httptest.NewRequest("GET", path(f, media), nil)
	w := &discard{h: http.Header{}}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		clear(w.h)
		f.handler.ServeHTTP(w, req)
	}
}

func BenchmarkServeMediaPlaylist(b *testing.B) {
	benchmarkPath(b, func(*fixture, string) string { return "/live/demo/v0.m3u8" })
}

func BenchmarkServeMPD(b *testing.B) {
	benchmarkPath(b, func(*fixture, string) string { return "/live/demo/manifest.mpd" })
}

func BenchmarkServeSegment(b *testing.B) {
	benchmarkPath(b, func(_ *fixture, media string) string { return "/live/demo/" + reSegment.FindString(media) })
}

func TestConditionalRequests(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 4*time.Second)
	media := body(t, f.do(t, "GET", "/live/demo/v0.m3u8"))
	p := "/live/demo/" + reSegment.FindString(media)
	resp := f.do(t, "GET", p)
	etag, lm := resp.Header.Get("ETag"), resp.Header.Get("Last-Modified")
	if etag == "" || lm == "" {
		t.Fatalf("segment lacks validators: %v", resp.Header)
	}
	for _, tc := range []struct {
		hdr  []string
		want int
	}{
		{[]string{"If-None-Match", etag}, http.StatusNotModified},
		{[]string{"If-None-Match", `"other", ` + etag}, http.StatusNotModified},
		{[]string{"If-None-Match", "W/" + etag}, http.StatusNotModified},
		{[]string{"If-None-Match", "*"}, http.StatusNotModified},
		{[]string{"If-None-Match", `"other"`}, http.StatusOK},
		{[]string{"If-Modified-Since", lm}, http.StatusNotModified},
		{[]string{"If-Modified-Since", "Mon, 02 Jan 2006 15:04:05 GMT"}, http.StatusOK},
		// If-None-Match wins over If-Modified-Since (RFC 9110 13.2.2).
		{[]string{"If-None-Match", `"other"`, "If-Modified-Since", lm}, http.StatusOK},
		{[]string{"Range", "bytes=-4"}, http.StatusPartialContent},
		{[]string{"Range", "bytes=999999999-"}, http.StatusRequestedRangeNotSatisfiable},
	} {
		if got := f.do(t, "GET", p, tc.hdr...).StatusCode; got != tc.want {
			t.Errorf("%v: %d, want %d", tc.hdr, got, tc.want)
		}
	}
}
