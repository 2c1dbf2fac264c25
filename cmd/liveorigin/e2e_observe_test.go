package main

// Observability end to end: no secret ever reaches the logs, and a publish
// and play produce the spans docs/tracing.md describes, received by an
// in-process OTLP/HTTP collector.

import (
	"compress/gzip"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	coltracepb "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/origin/purge"
)

// recorder is an HTTP server that keeps every request's headers and body
// and answers with answer.
type recorder struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []recordedRequest
}

type recordedRequest struct {
	method, path string
	header       http.Header
	body         []byte
}

func newRecorder(t *testing.T, answer func(w http.ResponseWriter, r *http.Request, body []byte)) *recorder {
	rec := &recorder{}
	rec.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rd io.Reader = r.Body
		if r.Header.Get("Content-Encoding") == "gzip" {
			zr, err := gzip.NewReader(r.Body)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			rd = zr
		}
		body, _ := io.ReadAll(rd)
		rec.mu.Lock()
		rec.reqs = append(rec.reqs, recordedRequest{method: r.Method, path: r.URL.Path, header: r.Header.Clone(), body: body})
		rec.mu.Unlock()
		answer(w, r, body)
	}))
	t.Cleanup(rec.Close)
	return rec
}

func (rec *recorder) requests() []recordedRequest {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]recordedRequest(nil), rec.reqs...)
}

// apiDo makes an admin API request with the given bearer token.
func apiDo(t *testing.T, a *testApp, token, method, path, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, a.admin+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// waitMetric polls /metrics until series reaches n (no event tells it).
func waitMetric(t *testing.T, a *testApp, series string, n float64) {
	t.Helper()
	deadline := time.NewTimer(20 * time.Second)
	defer deadline.Stop()
	tick := time.NewTicker(25 * time.Millisecond)
	defer tick.Stop()
	for metricValue(t, a, series) < n {
		select {
		case <-tick.C:
		case <-deadline.C:
			t.Fatalf("%s did not reach %v within 20s", series, n)
		}
	}
}

// Secrets (stream keys, tokens, passphrases, purge API tokens, webhook
// keys, camera passwords) never appear in the logs, at debug level, nor in
// the API's answers.
func TestSecretsNeverLogged(t *testing.T) {
	requireTools(t, "ffmpeg")
	const (
		adminToken   = "admin-token-AAAA1111aaaa"
		wrongToken   = "wrong-token-JJJJ0000jjjj"
		originSecret = "origin-secret-BBBB2222bbbb"
		wrongSecret  = "wrong-secret-KKKK1212kkkk"
		srtPass      = "srt-pass-CCCC3333"
		srtStream    = "srt-stream-DDDD4444"
		purgeToken   = "purge-token-EEEE5555"
		cameraPass   = "camera-pass-FFFF6666"
		hookSecret   = "hook-secret-GGGG7777gggg"
		publishKey   = "publish-key-HHHH8888"
		viewerToken  = "viewer-token-IIII9999"
	)
	secrets := []string{adminToken, wrongToken, originSecret, wrongSecret, srtPass, srtStream, purgeToken, cameraPass,
		hookSecret, publishKey, viewerToken}
	t.Setenv("LO_TEST_PURGE_TOKEN", purgeToken)
	t.Setenv("LO_TEST_HOOK_SECRET", hookSecret)
	// A hostile CDN API that repeats the token it got in its error.
	cdn := newRecorder(t, func(w http.ResponseWriter, r *http.Request, _ []byte) {
		http.Error(w, "bad token "+r.Header.Get("Fastly-Key"), http.StatusForbidden)
	})
	hook := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusNoContent) })
	const name = "secrets"
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.AdminToken, c.OriginSecret = adminToken, originSecret
		c.SRTPassphrase, c.SRTStreamPassphrases = srtPass, map[string]string{"other": srtStream}
		c.RTSPPulls = map[string]string{"cam": fmt.Sprintf("rtsp://viewer:%s@127.0.0.1:%d/stream?token=%s", cameraPass, freePort(t), cameraPass)}
		c.Purge = []purge.Config{{Type: purge.TypeFastly, ServiceID: "svc1", APIURL: cdn.URL, TokenEnv: "LO_TEST_PURGE_TOKEN"}}
		c.Webhooks = []hooks.Config{{URL: hook.URL, Events: []string{hooks.EventPublish, hooks.EventUnpublish, hooks.EventStreamEnd},
			SecretEnv: "LO_TEST_HOOK_SECRET"}}
	})
	// As run does: a level variable the API can change (the test's logger
	// stays at debug whatever it says).
	a.enableReload(func() (Config, []error) { return *a.live.Load(), nil }, new(slog.LevelVar))

	publish(t, a.rtmpURL+name+"?key="+publishKey, 30)
	waitFor(t, a, name, 20*time.Second, "two segments", twoSegments)
	if !strings.Contains(string(hook.requests()[0].body), publishKey) {
		t.Error("the publish hook did not get the key: the test does not exercise it")
	}

	// Playback: through the CDN (with the secret), around it (without, or a
	// wrong one), with a viewer token in the query.
	for _, secret := range []string{originSecret, "", wrongSecret} {
		req, _ := http.NewRequest("GET", a.base+"/live/"+name+"/v0.m3u8?token="+viewerToken+"&_HLS_skip=YES", nil)
		if secret != "" {
			req.Header.Set("X-Origin-Secret", secret)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if want := map[bool]int{true: 200, false: 403}[secret == originSecret]; resp.StatusCode != want {
			t.Errorf("playback with secret %q: %d", secret, resp.StatusCode)
		}
	}

	// The admin API, with and without the right token.
	if code, _ := apiDo(t, a, wrongToken, "GET", "/api/v1/streams", ""); code != http.StatusUnauthorized {
		t.Errorf("wrong token: %d", code)
	}
	for _, path := range []string{"/api/v1/streams", "/api/v1/server", "/api/v1/sources", "/api/v1/log-level"} {
		code, body := apiDo(t, a, adminToken, "GET", path, "")
		if code != 200 {
			t.Errorf("GET %s: %d %s", path, code, body)
		}
		for _, s := range secrets {
			if strings.Contains(body, s) {
				t.Errorf("GET %s shows the secret %q:\n%s", path, s, body)
			}
		}
	}
	if code, body := apiDo(t, a, adminToken, "PUT", "/api/v1/log-level", `{"level":"debug"}`); code != 200 {
		t.Errorf("PUT /api/v1/log-level: %d %s", code, body)
	}
	if code, body := apiDo(t, a, adminToken, "POST", "/api/v1/purge", `{"stream":"`+name+`"}`); code != http.StatusAccepted {
		t.Errorf("POST /api/v1/purge: %d %s", code, body)
	}
	// The CDN refuses the token (a 403 is not retried): the failure is logged.
	waitMetric(t, a, `liveorigin_purge_requests_total{backend="fastly",result="failed"}`, 1)
	if code, body := apiDo(t, a, adminToken, "DELETE", "/api/v1/streams/"+name, ""); code != 200 {
		t.Errorf("takedown: %d %s", code, body)
	}
	for _, c := range cdn.requests() {
		if c.header.Get("Fastly-Key") != purgeToken {
			t.Error("the CDN did not get the token: the test does not exercise it")
		}
	}
	metrics := string(mustGet(t, a.admin+"/metrics"))
	a.stop(t)

	logs := a.logs.String()
	for _, s := range secrets {
		if strings.Contains(logs, s) {
			for _, line := range strings.Split(logs, "\n") {
				if strings.Contains(line, s) {
					t.Errorf("the log shows the secret %q: %s", s, line)
				}
			}
		}
		if strings.Contains(metrics, s) {
			t.Errorf("/metrics shows the secret %q", s)
		}
	}
	// The paths that could leak were taken.
	for _, want := range []string{`query="token=REDACTED&_HLS_skip=YES"`, "status=403", "rtsp pull failed", "log level changed",
		"stream taken down", "fastly"} {
		if !strings.Contains(logs, want) {
			t.Errorf("the log lacks %q: the test does not exercise that path", want)
		}
	}
}

// otlpSpans decodes the spans of the OTLP/HTTP export requests received.
func otlpSpans(t *testing.T, rec *recorder) []*tracepb.Span {
	t.Helper()
	var spans []*tracepb.Span
	for _, r := range rec.requests() {
		if r.path != "/v1/traces" || r.header.Get("Content-Type") != "application/x-protobuf" {
			t.Errorf("OTLP request %s %s (%s)", r.method, r.path, r.header.Get("Content-Type"))
			continue
		}
		var req coltracepb.ExportTraceServiceRequest
		if err := proto.Unmarshal(r.body, &req); err != nil {
			t.Fatalf("OTLP export request: %v", err)
		}
		for _, rs := range req.ResourceSpans {
			service := ""
			for _, kv := range rs.GetResource().GetAttributes() {
				if kv.Key == "service.name" {
					service = kv.GetValue().GetStringValue()
				}
			}
			if service != "liveorigin" {
				t.Errorf("service.name %q", service)
			}
			for _, ss := range rs.ScopeSpans {
				spans = append(spans, ss.Spans...)
			}
		}
	}
	return spans
}

func spanAttrs(s *tracepb.Span) map[string]string {
	m := map[string]string{}
	for _, kv := range s.Attributes {
		v := kv.GetValue()
		switch {
		case v.GetStringValue() != "":
			m[kv.Key] = v.GetStringValue()
		default:
			m[kv.Key] = strconv.FormatInt(v.GetIntValue(), 10)
		}
	}
	return m
}

// A publish and play, traced: the publish span with its segment spans, the
// playback spans in the caller's trace, and the takedown's span whose
// traceparent the CDN purge carries.
func TestTracingEndToEnd(t *testing.T) {
	requireTools(t, "ffmpeg")
	collector := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/x-protobuf")
		b, _ := proto.Marshal(&coltracepb.ExportTraceServiceResponse{})
		_, _ = w.Write(b)
	})
	cdn := newRecorder(t, func(w http.ResponseWriter, _ *http.Request, _ []byte) { w.WriteHeader(http.StatusOK) })
	const (
		name       = "traced"
		token      = "trace-admin-token-0123"
		playTrace  = "4bf92f3577b34da6a3ce929d0e0e4736"
		playParent = "00f067aa0ba902b7"
		apiTrace   = "0af7651916cd43dd8448eb211c80319c"
	)
	a := startApp(t, func(c *Config) {
		c.SegmentTarget = time.Second
		c.AdminToken = token
		c.OTelEndpoint = collector.URL
		c.Purge = []purge.Config{{Name: "cdn", Type: purge.TypeHTTP, URL: cdn.URL + "/purge/{stream}"}}
	})
	publish(t, a.rtmpURL+name, 30)
	waitFor(t, a, name, 20*time.Second, "two segments", twoSegments)

	req, _ := http.NewRequest("GET", a.base+"/live/"+name+"/v0.m3u8", nil)
	req.Header.Set("traceparent", "00-"+playTrace+"-"+playParent+"-01")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	reqID := resp.Header.Get("X-Request-Id")

	var info struct {
		SessionID string `json:"session_id"`
	}
	_, body := apiDo(t, a, token, "GET", "/api/v1/streams/"+name, "")
	if err := json.Unmarshal([]byte(body), &info); err != nil || info.SessionID == "" {
		t.Fatalf("stream: %v %s", err, body)
	}
	del, _ := http.NewRequest("DELETE", a.admin+"/api/v1/streams/"+name, nil)
	del.Header.Set("Authorization", "Bearer "+token)
	del.Header.Set("traceparent", "00-"+apiTrace+"-b7ad6b7169203331-01")
	resp, err = http.DefaultClient.Do(del)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("takedown: %v %v", err, resp)
	}
	resp.Body.Close()
	a.stop(t) // drains the purges, flushes the spans

	spans := otlpSpans(t, collector)
	var publishSpan *tracepb.Span
	for _, s := range spans {
		if s.Name == "publish "+name {
			publishSpan = s
		}
	}
	if publishSpan == nil {
		t.Fatalf("no publish span among %d", len(spans))
	}
	if at := spanAttrs(publishSpan); at["liveorigin.stream"] != name || at["liveorigin.protocol"] != "rtmp" ||
		at["liveorigin.session"] != info.SessionID || at["network.peer.address"] != "127.0.0.1" ||
		publishSpan.Kind != tracepb.Span_SPAN_KIND_SERVER || len(publishSpan.ParentSpanId) != 0 {
		t.Errorf("publish span: kind %v attributes %v", publishSpan.Kind, at)
	}
	segments, playback, api := 0, 0, 0
	for _, s := range spans {
		switch {
		case strings.HasPrefix(s.Name, "segment "):
			segments++
			if string(s.TraceId) != string(publishSpan.TraceId) || string(s.ParentSpanId) != string(publishSpan.SpanId) {
				t.Errorf("segment span %q is not a child of the publish span", s.Name)
			}
			if at := spanAttrs(s); at["liveorigin.session"] != info.SessionID || at["liveorigin.track"] != strings.TrimPrefix(s.Name, "segment ") {
				t.Errorf("segment span attributes %v", at)
			}
		case s.Name == "GET media_playlist":
			playback++
			if hex.EncodeToString(s.TraceId) != playTrace || hex.EncodeToString(s.ParentSpanId) != playParent ||
				s.Kind != tracepb.Span_SPAN_KIND_SERVER || spanAttrs(s)["liveorigin.request_id"] != reqID {
				t.Errorf("playback span: trace %x parent %x kind %v attributes %v", s.TraceId, s.ParentSpanId, s.Kind, spanAttrs(s))
			}
		case s.Name == "DELETE /api/v1/streams/{name}":
			api++
			if hex.EncodeToString(s.TraceId) != apiTrace {
				t.Errorf("API span in trace %x", s.TraceId)
			}
		}
	}
	if segments < 4 || playback != 1 || api != 1 {
		t.Errorf("%d segment spans, %d playback spans, %d API spans", segments, playback, api)
	}
	// The takedown's CDN purge carries the API request's trace.
	purged := false
	for _, r := range cdn.requests() {
		if strings.HasPrefix(r.header.Get("traceparent"), "00-"+apiTrace+"-") {
			purged = true
		}
	}
	if !purged {
		t.Errorf("no purge carried the takedown's traceparent: %d purge requests", len(cdn.requests()))
	}
}
