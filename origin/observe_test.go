package origin

import (
	"context"
	"encoding/json"
	"fmt"
	"github.com/liveorigin/liveorigin/internal/testkit"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
)

type syncBuffer = testkit.SyncBuffer

// observedFixture is a fixture whose server logs at debug level into logs
// and records its spans.
func observedFixture(t *testing.T, o Options) (*fixture, *syncBuffer, *tracetest.SpanRecorder) {
	t.Helper()
	f := newFixture(t)
	logs := &syncBuffer{}
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(context.Background()) })
	o.Streams, o.SegmentTarget, o.Now = f.registry, time.Second, f.clock.Now
	o.Registerer = prometheus.NewRegistry()
	o.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	o.TracerProvider = tp
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	f.server, f.handler, f.reg = s, s.Handler(), o.Registerer.(*prometheus.Registry)
	return f, logs, rec
}

var reRequestID = regexp.MustCompile(`^[0-9a-f]{16}$`)

func TestRequestID(t *testing.T) {
	f, logs, _ := observedFixture(t, Options{OriginSecrets: []string{"cdn-secret-0123456789"}})
	f.publish(t)
	f.feed(t, 3*time.Second)
	ok := []string{"X-Origin-Secret", "cdn-secret-0123456789"}

	// Made up when absent or not sane; each request its own.
	seen := map[string]bool{}
	for _, in := range []string{"", "has space", strings.Repeat("x", 65), "new\nline", `quo"te`} {
		resp := f.do(t, "GET", "/live/demo/v0.m3u8", append(ok, "X-Request-Id", in)...)
		id := resp.Header.Get("X-Request-Id")
		if !reRequestID.MatchString(id) || seen[id] {
			t.Errorf("incoming %q: X-Request-Id %q, want a fresh 16-hex id", in, id)
		}
		seen[id] = true
	}
	// Kept when sane: a proxy's or CDN's id follows the request.
	for _, in := range []string{"abc-123", "0af76519-16cd-43dd-8448-eb211c80319c", "8b1d2c3e4f5a6b7c-FRA", "YWJj+/=", strings.Repeat("x", 64)} {
		resp := f.do(t, "GET", "/live/demo/v0.m3u8", append(ok, "X-Request-Id", in)...)
		if got := resp.Header.Get("X-Request-Id"); got != in {
			t.Errorf("incoming %q: X-Request-Id %q", in, got)
		}
		if !strings.Contains(logs.String(), "request_id="+in+" ") && !strings.Contains(logs.String(), `request_id="`+in+`" `) {
			t.Errorf("access log lacks request_id=%s:\n%s", in, logs.String())
		}
	}
	// Requests refused before routing carry one too, and are logged.
	resp := f.do(t, "GET", "/live/demo/v0.m3u8", "X-Request-Id", "refused-1")
	if resp.StatusCode != http.StatusForbidden || resp.Header.Get("X-Request-Id") != "refused-1" {
		t.Errorf("403: %d %q", resp.StatusCode, resp.Header.Get("X-Request-Id"))
	}
	if !regexp.MustCompile(`msg="http request" request_id=refused-1 method=GET path=/live/demo/v0.m3u8 status=403`).MatchString(logs.String()) {
		t.Errorf("403 not in the access log:\n%s", logs.String())
	}
}

// The access log line has what finds a request, and no secret from the query.
func TestAccessLog(t *testing.T) {
	f, logs, _ := observedFixture(t, Options{})
	f.publish(t)
	f.feed(t, 3*time.Second)
	f.do(t, "GET", "/live/demo/v0.m3u8?token=hunter2-secret&_HLS_skip=YES&sig=abc%3D&bare-secret-token", "X-Request-Id", "req-42")
	line := ""
	for _, l := range strings.Split(logs.String(), "\n") {
		if strings.Contains(l, "request_id=req-42") {
			line = l
		}
	}
	for _, want := range []string{"level=DEBUG", `msg="http request"`, "method=GET", "path=/live/demo/v0.m3u8",
		`query="token=REDACTED&_HLS_skip=YES&sig=REDACTED&REDACTED"`, "status=200", "bytes=", "duration=",
		"kind=media_playlist", "stream=demo", "remote="} {
		if !strings.Contains(line, want) {
			t.Errorf("access log line lacks %s:\n%s", want, line)
		}
	}
	for _, secret := range []string{"hunter2", "abc%3D", "bare-secret"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("the log shows %q:\n%s", secret, logs.String())
		}
	}
}

// Without debug level there is no access log, and the serve path does not
// allocate for it (BenchmarkServe*).
func TestNoAccessLogAboveDebug(t *testing.T) {
	f := newFixture(t)
	logs := &syncBuffer{}
	s, err := New(Options{Streams: f.registry, Registerer: prometheus.NewRegistry(),
		Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))})
	if err != nil {
		t.Fatal(err)
	}
	f.handler = s.Handler()
	f.publish(t)
	f.feed(t, 3*time.Second)
	f.do(t, "GET", "/live/demo/v0.m3u8")
	if logs.String() != "" {
		t.Errorf("logged at info level:\n%s", logs.String())
	}
}

// A playback request is a server span, the child of the caller's span when
// it sends a traceparent.
func TestPlaybackSpans(t *testing.T) {
	f, _, rec := observedFixture(t, Options{})
	f.publish(t)
	f.feed(t, 3*time.Second)
	const parent = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	f.do(t, "GET", "/live/demo/v0.m3u8", "traceparent", parent, "X-Request-Id", "span-1")
	f.do(t, "GET", "/live/nope/index.m3u8")
	spans := rec.Ended()
	if len(spans) != 2 {
		t.Fatalf("%d spans, want 2", len(spans))
	}
	s := spans[0]
	if s.Name() != "GET media_playlist" || s.SpanKind() != trace.SpanKindServer {
		t.Errorf("span %q kind %v", s.Name(), s.SpanKind())
	}
	if s.SpanContext().TraceID().String() != "0af7651916cd43dd8448eb211c80319c" || s.Parent().SpanID().String() != "b7ad6b7169203331" || !s.Parent().IsRemote() {
		t.Errorf("span trace %s parent %s: the incoming traceparent was not honoured", s.SpanContext().TraceID(), s.Parent().SpanID())
	}
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	for k, v := range map[string]string{"http.request.method": "GET", "url.path": "/live/demo/v0.m3u8", "http.response.status_code": "200",
		"liveorigin.kind": "media_playlist", "liveorigin.stream": "demo", "liveorigin.request_id": "span-1"} {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q (all: %v)", k, attrs[k], v, attrs)
		}
	}
	if n := spans[1]; n.Parent().IsValid() || n.Name() != "GET multivariant" {
		t.Errorf("a request without traceparent: span %q with parent %v", n.Name(), n.Parent())
	}
}

func TestViewersEstimate(t *testing.T) {
	f := newFixture(t)
	f.publish(t)
	f.feed(t, 3*time.Second) // target duration 1 s
	v := f.server.viewers

	// Five players poll v0.m3u8 once a target duration for 20 s; three of
	// them name their session (two ways), and also fetch segments and the
	// audio playlist (which do not count for request_rate).
	for sec := 0; sec < 20; sec++ {
		for p := 0; p < 5; p++ {
			path, hdr := "/live/demo/v0.m3u8", []string{}
			switch p {
			case 0:
				path += "?_lo_sid=player-0&token=x"
			case 1:
				hdr = []string{"X-Playback-Session-Id", "8D1E9F3C-0000-4000-8000-000000000001"}
			case 2:
				path += "?a=b&_lo_sid=player-2"
				f.do(t, "GET", "/live/demo/a0.m3u8?_lo_sid=player-2")
			}
			if resp := f.do(t, "GET", path, hdr...); resp.StatusCode != http.StatusOK {
				t.Fatalf("%s: %d", path, resp.StatusCode)
			}
		}
		f.clock.Advance(time.Second)
	}
	e := v.estimate("demo", f.clock.Now())
	if e.Sessions != 3 {
		t.Errorf("sessions %d, want 3", e.Sessions)
	}
	if math.Abs(e.RequestRate-5) > 0.5 {
		t.Errorf("request_rate %.2f, want about 5", e.RequestRate)
	}
	if got := valueOf(t, gaugeOf(t, f.reg, "liveorigin_viewers_estimate", "method", "sessions")); got != 3 {
		t.Errorf("liveorigin_viewers_estimate{method=sessions} %v", got)
	}

	// The API's stream object carries it.
	h := f.server.AdminHandler(AdminOptions{Gatherer: f.reg})
	rec := doHandler(h, "GET", "/api/v1/streams/demo", "")
	var doc StreamDoc
	if err := json.Unmarshal(rec.Body.Bytes(), &doc); err != nil || doc.ViewersEstimate.Sessions != 3 || doc.Name != "demo" {
		t.Errorf("/api/v1/streams/demo: %v %s", err, rec.Body)
	}

	// Quiet for two generations: nobody is watching.
	f.clock.Advance(2 * viewerGeneration)
	if e := v.estimate("demo", f.clock.Now()); e.Sessions != 0 || e.RequestRate != 0 {
		t.Errorf("after a quiet spell: %+v", e)
	}
	// Requests that fail do not count.
	f.do(t, "GET", "/live/demo/v9.m3u8?_lo_sid=ghost")
	if e := v.estimate("demo", f.clock.Now()); e.Sessions != 0 {
		t.Errorf("a 404 counted: %+v", e)
	}
}

// gaugeOf finds one series of a metric family by one label.
func gaugeOf(t *testing.T, reg *prometheus.Registry, name, label, value string) prometheus.Collector {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == label && l.GetValue() == value {
					g := prometheus.NewGauge(prometheus.GaugeOpts{Name: "x"})
					g.Set(m.GetGauge().GetValue())
					return g
				}
			}
		}
	}
	t.Fatalf("no %s{%s=%q}", name, label, value)
	return nil
}

func TestHyperLogLog(t *testing.T) {
	for _, n := range []int{0, 1, 2, 10, 100, 1000, 10000, 100000} {
		var a, b [hllRegisters]uint8
		v := newViewers(nil)
		for i := range n {
			h := v.seedHash(fmt.Sprintf("session-%d", i))
			if i%2 == 0 {
				hllAdd(&a, h)
			} else {
				hllAdd(&b, h)
			}
			hllAdd(&a, h) // seen again: no change
		}
		got := hllUnionCount(&a, &b)
		// About 1.6% standard error; the test's hash is deterministic.
		tol := max(0.04*float64(n), 1)
		if math.Abs(float64(got-n)) > tol {
			t.Errorf("%d distinct sessions counted as %d", n, got)
		}
	}
}

func (v *viewers) seedHash(id string) uint64 {
	var h uint64
	for _, c := range []byte(id) { // FNV-1a, then mixed: a stand-in for maphash in the test
		h ^= uint64(c)
		h *= 1099511628211
	}
	h ^= h >> 33
	h *= 0xff51afd7ed558ccd
	h ^= h >> 33
	h *= 0xc4ceb9fe1a85ec53
	h ^= h >> 33
	return h
}

func TestBlockingWaitMetrics(t *testing.T) {
	f := newLLFixture(t, 3*time.Second)
	f.publish(t)
	f.feed(t, 3*time.Second+400*time.Millisecond)
	e := f.edge(t)
	m := f.server.metrics.waits[KindBlockingList]
	in := f.start("/live/demo/v0.m3u8?" + q("_HLS_msn", e.last+1))
	f.awaitWaiting(t, 1)
	if got := valueOf(t, m.waiting); got != 1 {
		t.Errorf("blocked requests while one waits: %v", got)
	}
	f.driveUntil(t, in, 120)
	if resp := in.wait(t); resp.StatusCode != 200 {
		t.Fatalf("status %d", resp.StatusCode)
	}
	if got := valueOf(t, m.waiting); got != 0 {
		t.Errorf("blocked requests once answered: %v", got)
	}
	if n := countOf(f.server.metrics.waitDuration); n != len(waitKinds) {
		t.Errorf("%d wait histograms, want one per kind", n)
	}
	hist := histogramCount(t, f.reg, "liveorigin_http_blocking_wait_seconds", string(KindBlockingList))
	if hist != 1 {
		t.Errorf("blocking waits observed: %d, want 1", hist)
	}
	// A request answered at once is not a wait.
	f.do(t, "GET", "/live/demo/v0.m3u8?"+q("_HLS_msn", e.last))
	if hist := histogramCount(t, f.reg, "liveorigin_http_blocking_wait_seconds", string(KindBlockingList)); hist != 1 {
		t.Errorf("blocking waits observed: %d, want still 1", hist)
	}
}

func histogramCount(t *testing.T, reg *prometheus.Registry, name, kind string) uint64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.Metric {
			for _, l := range m.Label {
				if l.GetName() == "kind" && l.GetValue() == kind {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
	}
	return 0
}

// doHandler makes one request of h.
func doHandler(h http.Handler, method, path, body string, hdr ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec
}

// valueOf is the value of a collector's single gauge or counter.
func valueOf(t *testing.T, c prometheus.Collector) float64 {
	t.Helper()
	ch := make(chan prometheus.Metric, 1)
	c.Collect(ch)
	close(ch)
	var m dto.Metric
	if err := (<-ch).Write(&m); err != nil {
		t.Fatal(err)
	}
	if m.Gauge != nil {
		return m.Gauge.GetValue()
	}
	return m.Counter.GetValue()
}

// countOf counts the series a collector has.
func countOf(c prometheus.Collector) int {
	ch := make(chan prometheus.Metric, 64)
	go func() { c.Collect(ch); close(ch) }()
	n := 0
	for range ch {
		n++
	}
	return n
}
