package observe

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"go.opentelemetry.io/otel/codes"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func TestSaneRequestID(t *testing.T) {
	for id, want := range map[string]bool{
		"":                                     false,
		"a":                                    true,
		"0af76519-16cd-43dd-8448-eb211c80319c": true,
		"Root=1-5759e988-bd862e3fe1be46a994272793;Parent=x": false, // ';'
		"8b1d2c3e4f5a6b7c-FRA":                              true,
		"YWJjZA==":                                          true,
		"a b":                                               false,
		"a\nb":                                              false,
		`a"b`:                                               false,
		strings.Repeat("x", MaxRequestIDLen):                true,
		strings.Repeat("x", MaxRequestIDLen+1):              false,
		"ünïcode":                                           false,
	} {
		if got := SaneRequestID(id); got != want {
			t.Errorf("SaneRequestID(%q) = %v", id, got)
		}
	}
}

func TestNewRequestID(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		var b [16]byte
		NewRequestID(&b)
		id := string(b[:])
		if !SaneRequestID(id) || len(id) != 16 || strings.Trim(id, "0123456789abcdef") != "" || seen[id] {
			t.Fatalf("request id %q", id)
		}
		seen[id] = true
	}
	if n := testing.AllocsPerRun(100, func() { var b [16]byte; NewRequestID(&b) }); n != 0 {
		t.Errorf("NewRequestID allocates %v times", n)
	}
}

func TestRedactQuery(t *testing.T) {
	for in, want := range map[string]string{
		"":                                 "",
		"_HLS_msn=12&_HLS_part=3":          "_HLS_msn=12&_HLS_part=3",
		"key=s3cret":                       "key=REDACTED",
		"token=a%20b&_HLS_skip=YES":        "token=REDACTED&_HLS_skip=YES",
		"bare-secret":                      "REDACTED",
		"a=1&&b=":                          "a=REDACTED&REDACTED&b=REDACTED",
		"%5FHLS_msn=1":                     "%5FHLS_msn=REDACTED",
		"_lo_sid=abc&Signature=xyz&_HLS_x": "_lo_sid=REDACTED&Signature=REDACTED&_HLS_x",
	} {
		if got := RedactQuery(in); got != want {
			t.Errorf("RedactQuery(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestTracesURL(t *testing.T) {
	for in, want := range map[string]string{
		"http://collector:4318":              "http://collector:4318/v1/traces",
		"http://collector:4318/":             "http://collector:4318/v1/traces",
		"https://otel.example.com/v1/traces": "https://otel.example.com/v1/traces",
		"https://gw.example.com/otlp":        "https://gw.example.com/otlp/v1/traces",
		"collector:4318":                     "error",
		"ftp://collector":                    "error",
		"http://user:pass@collector:4318":    "error",
		"http://collector:4318/?token=x":     "error",
		"http://":                            "error",
	} {
		got, err := TracesURL(in)
		if err != nil {
			if want != "error" {
				t.Errorf("TracesURL(%q): %v", in, err)
			} else if strings.Contains(err.Error(), "pass") {
				t.Errorf("TracesURL(%q): the error shows the password: %v", in, err)
			}
			continue
		}
		if got != want {
			t.Errorf("TracesURL(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestNewTracerProvider(t *testing.T) {
	env := func(m map[string]string) func(string) string { return func(k string) string { return m[k] } }
	tp, err := NewTracerProvider(TracingOptions{Getenv: env(nil)})
	if tp != nil || err != nil {
		t.Errorf("off by default: %v %v", tp, err)
	}
	if _, err := NewTracerProvider(TracingOptions{Endpoint: "nope"}); err == nil || !strings.HasPrefix(err.Error(), "otel-endpoint: ") {
		t.Errorf("bad endpoint: %v", err)
	}
	for _, o := range []TracingOptions{
		{Endpoint: "http://127.0.0.1:1"},
		{Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1"})},
		{Getenv: env(map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://127.0.0.1:1/v1/traces"})},
	} {
		tp, err := NewTracerProvider(o)
		if tp == nil || err != nil {
			t.Errorf("%+v: %v %v", o, tp, err)
			continue
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		if err := tp.Shutdown(ctx); err != nil { // nothing to send: no connection
			t.Errorf("Shutdown: %v", err)
		}
		cancel()
	}
}

func TestTraceParentRoundTrip(t *testing.T) {
	const tp = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"
	if TraceParent(context.Background()) != "" {
		t.Error("a traceparent without a span")
	}
	h := http.Header{"Traceparent": {tp}}
	ctx := Extract(context.Background(), h)
	if got := TraceParent(ctx); got != tp {
		t.Errorf("TraceParent after Extract: %q", got)
	}
	out := http.Header{}
	Inject(ctx, out)
	if out.Get("traceparent") != tp {
		t.Errorf("Inject: %v", out)
	}
	if ctx := Extract(context.Background(), http.Header{"Traceparent": {"garbage"}}); TraceParent(ctx) != "" {
		t.Error("a malformed traceparent was taken")
	}
}

// fakePublisher records what reaches the inner Publisher.
type fakePublisher struct {
	ctx  context.Context
	info ingest.PublishInfo
	err  error
	sess *fakeSession
}

func (p *fakePublisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	p.ctx, p.info = ctx, info
	if p.err != nil {
		return nil, p.err
	}
	p.sess = &fakeSession{}
	return p.sess, nil
}

type fakeSession struct {
	closed error
	link   ingest.LinkStats
	tracks int
}

func (s *fakeSession) Start(tracks []ingest.Track) error { s.tracks = len(tracks); return nil }
func (s *fakeSession) WriteAU(ingest.AccessUnit) error   { return nil }
func (s *fakeSession) Close(err error) {
	if s.closed == nil {
		s.closed = err
	}
}
func (s *fakeSession) ReportLink(l ingest.LinkStats) { s.link = l }

// wrapper hides the fake's ReportLink behind a plain Session that unwraps,
// as the webhooks' session does.
type wrapper struct{ ingest.Session }

func (w wrapper) Unwrap() ingest.Session { return w.Session }

func TestPublisher(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	defer func() { _ = tp.Shutdown(context.Background()) }()
	inner := &fakePublisher{}
	p := NewPublisher(inner, tp)
	info := ingest.PublishInfo{Name: "demo", Protocol: "srt", RemoteAddr: "203.0.113.7:53211"}
	sess, err := p.Publish(context.Background(), info)
	if err != nil {
		t.Fatal(err)
	}
	// The session is named before the inner Publisher (the webhooks) sees
	// it, and its span is in the context the inner Publisher gets.
	id := inner.info.SessionID
	if len(id) != 8 || ingest.SessionID(sess) != id {
		t.Errorf("session id %q, ingest.SessionID %q", id, ingest.SessionID(sess))
	}
	sc := trace.SpanContextFromContext(inner.ctx)
	if !sc.IsValid() || TraceParent(inner.ctx) == "" {
		t.Fatal("the inner Publisher got no span")
	}
	if err := sess.Start(make([]ingest.Track, 2)); err != nil || inner.sess.tracks != 2 {
		t.Errorf("Start: %v", err)
	}
	ingest.ReportLink(sess, ingest.LinkStats{RTT: time.Millisecond})
	if inner.sess.link.RTT != time.Millisecond {
		t.Error("ReportLink did not reach the session")
	}
	if len(rec.Ended()) != 0 {
		t.Fatal("the publish span ended before the session")
	}
	sess.Close(errors.New("connection reset"))
	sess.Close(nil) // once
	if inner.sess.closed == nil {
		t.Error("Close did not reach the session")
	}
	spans := rec.Ended()
	if len(spans) != 1 {
		t.Fatalf("%d spans", len(spans))
	}
	s := spans[0]
	attrs := map[string]string{}
	for _, kv := range s.Attributes() {
		attrs[string(kv.Key)] = kv.Value.Emit()
	}
	want := map[string]string{"liveorigin.stream": "demo", "liveorigin.session": id, "liveorigin.protocol": "srt",
		"network.peer.address": "203.0.113.7", "network.peer.port": "53211"}
	for k, v := range want {
		if attrs[k] != v {
			t.Errorf("attribute %s = %q, want %q", k, attrs[k], v)
		}
	}
	if s.Name() != "publish demo" || s.SpanKind() != trace.SpanKindServer || s.SpanContext().SpanID() != sc.SpanID() ||
		s.Status().Code != codes.Error || len(s.Events()) != 2 { // tracks declared, the error
		t.Errorf("span %q kind %v status %v events %v", s.Name(), s.SpanKind(), s.Status(), s.Events())
	}

	// A refused publish ends its span at once, with the refusal.
	inner.err = fmt.Errorf("%w: taken down", ingest.ErrRefused)
	if _, err := p.Publish(context.Background(), info); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("refusal: %v", err)
	}
	if spans := rec.Ended(); len(spans) != 2 || spans[1].Status().Code != codes.Error {
		t.Errorf("refused publish span: %v", spans)
	}

	// Without tracing: no span, the id all the same; an id already set stays.
	p = NewPublisher(inner, nil)
	inner.err = nil
	info.SessionID = "0badcafe"
	sess, err = p.Publish(context.Background(), info)
	if err != nil || ingest.SessionID(sess) != "0badcafe" || trace.SpanContextFromContext(inner.ctx).IsValid() {
		t.Errorf("untraced: %v %q", err, ingest.SessionID(sess))
	}
	ingest.ReportLink(wrapper{sess}, ingest.LinkStats{PacketsLost: 9})
	if inner.sess.link.PacketsLost != 9 || ingest.SessionID(wrapper{sess}) != "0badcafe" {
		t.Error("the optional capabilities do not pass through an unwrapping wrapper")
	}
	sess.Close(nil)
}
