package purge

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
)

// guard fails a test that waits on a channel for too long: a bug, not a
// way to synchronise.
const guard = 10 * time.Second

func recv[T any](t *testing.T, ch <-chan T, what string) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(guard):
		t.Fatalf("timed out waiting for %s", what)
		panic("unreachable")
	}
}

func newTestQueue(t *testing.T, backends []Backend, o Options) (*Queue, *prometheus.Registry, *logBuffer) {
	t.Helper()
	reg := prometheus.NewRegistry()
	logs := &logBuffer{}
	o.Registerer = reg
	o.Logger = newLogger(logs)
	if o.After == nil {
		o.After = (&instant{}).after
	}
	q, err := NewQueue(backends, o)
	if err != nil {
		t.Fatal(err)
	}
	return q, reg, logs
}

func cancelled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}

func req(stream string) Request {
	return Request{Stream: stream, Scope: ScopeManifests, Reason: ReasonStreamEnd}
}

// A dead CDN (it never answers) does not delay another backend; at the
// shutdown deadline its requests are counted as dropped.
func TestQueueFanOutDeadBackend(t *testing.T) {
	got := make(chan string, 10)
	good := &fakeBackend{name: "good", purge: func(_ context.Context, r Request) error {
		got <- r.Stream
		return nil
	}}
	dead := &fakeBackend{name: "dead", purge: func(ctx context.Context, _ Request) error {
		<-ctx.Done()
		return ctx.Err()
	}}
	q, reg, _ := newTestQueue(t, []Backend{dead, good}, Options{AttemptTimeout: time.Hour})
	for _, s := range []string{"a", "b", "c"} {
		q.Enqueue(req(s))
	}
	for _, want := range []string{"a", "b", "c"} {
		if s := recv(t, got, "the good backend"); s != want {
			t.Fatalf("good backend got %q, want %q", s, want)
		}
	}
	err := q.Close(cancelled())
	if err == nil || !strings.Contains(err.Error(), "3 requests") {
		t.Fatalf("Close = %v, want 3 requests dropped", err)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"backend": "good", "result": "ok"}); v != 3 {
		t.Errorf("good ok = %v, want 3", v)
	}
	if v := metricValue(t, reg, "liveorigin_purge_dropped_total", map[string]string{"backend": "dead"}); v != 3 {
		t.Errorf("dead dropped = %v, want 3", v)
	}
	if v := metricValue(t, reg, "liveorigin_purge_dropped_total", map[string]string{"backend": "good"}); v != 0 {
		t.Errorf("good dropped = %v, want 0", v)
	}
}

// When a backend's queue is full, the oldest request goes.
func TestQueueDropOldest(t *testing.T) {
	started := make(chan string, 10)
	release := make(chan struct{})
	b := &fakeBackend{name: "slow", purge: func(_ context.Context, r Request) error {
		started <- r.Stream
		<-release
		return nil
	}}
	q, reg, logs := newTestQueue(t, []Backend{b}, Options{Size: 2})
	q.Enqueue(req("s1"))
	if s := recv(t, started, "the first purge"); s != "s1" {
		t.Fatalf("first purge %q", s)
	}
	for _, s := range []string{"s2", "s3", "s4", "s5"} {
		q.Enqueue(req(s))
	}
	if v := metricValue(t, reg, "liveorigin_purge_dropped_total", nil); v != 2 {
		t.Errorf("dropped = %v, want 2", v)
	}
	if v := metricValue(t, reg, "liveorigin_purge_queue_length", nil); v != 2 {
		t.Errorf("queue length = %v, want 2", v)
	}
	close(release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	close(started)
	var order []string
	for s := range started {
		order = append(order, s)
	}
	if strings.Join(order, ",") != "s4,s5" {
		t.Errorf("after s1 the backend purged %v, want [s4 s5]", order)
	}
	if v := metricValue(t, reg, "liveorigin_purge_queue_length", nil); v != 0 {
		t.Errorf("queue length after Close = %v", v)
	}
	for _, s := range []string{`"stream":"s2"`, `"stream":"s3"`, `"error":"queue full"`} {
		if !strings.Contains(logs.String(), s) {
			t.Errorf("log has no %s:\n%s", s, logs)
		}
	}
}

// A failing CDN is retried with growing, jittered waits until it answers;
// 408 and 429 are retried, other 4xx are not.
func TestQueueRetries(t *testing.T) {
	for _, tc := range []struct {
		name     string
		replies  []reply
		attempts int
		result   string
		minWaits []time.Duration // lower bounds of each wait
	}{
		{"retry then success", []reply{{code: 503}, {code: 500}, {code: 200}}, 3, "ok",
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"408 and 429 are retried", []reply{{code: 408}, {code: 429}, {code: 204}}, 3, "ok",
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond}},
		{"retry-after lengthens the wait", []reply{{code: 429, header: map[string]string{"Retry-After": "1"}}, {code: 200}}, 2, "ok",
			[]time.Duration{time.Second}},
		{"gives up after MaxAttempts", []reply{{code: 502}}, 4, "failed",
			[]time.Duration{50 * time.Millisecond, 100 * time.Millisecond, 200 * time.Millisecond}},
		{"no retry on 403", []reply{{code: 403, body: `{"msg":"forbidden"}`}}, 1, "failed", nil},
		{"no retry on 400", []reply{{code: 400}}, 1, "failed", nil},
		{"no retry on a redirect", []reply{{code: 302, header: map[string]string{"Location": "http://example.invalid/"}}}, 1, "failed", nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec, srv := newRecorder(t, tc.replies...)
			b := newBackend(t, Config{Type: "http", Method: "POST", URL: srv.URL + "/purge/{key}"}, fakeEnv{})
			clock := &instant{}
			q, reg, _ := newTestQueue(t, []Backend{b}, Options{
				MaxAttempts: 4, MinBackoff: 100 * time.Millisecond, MaxBackoff: 5 * time.Second, After: clock.after,
			})
			q.Enqueue(req("s"))
			if err := q.Close(context.Background()); err != nil {
				t.Fatal(err)
			}
			if n := len(rec.requests()); n != tc.attempts {
				t.Errorf("CDN saw %d requests, want %d", n, tc.attempts)
			}
			if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": tc.result}); v != 1 {
				t.Errorf("requests{result=%s} = %v, want 1", tc.result, v)
			}
			if v := metricValue(t, reg, "liveorigin_purge_retries_total", nil); v != float64(tc.attempts-1) {
				t.Errorf("retries = %v, want %d", v, tc.attempts-1)
			}
			if v := metricValue(t, reg, "liveorigin_purge_duration_seconds", nil); v != 1 {
				t.Errorf("duration count = %v, want 1", v)
			}
			waits := clock.recorded()
			if len(waits) != len(tc.minWaits) {
				t.Fatalf("waits %v, want %d", waits, len(tc.minWaits))
			}
			for i, w := range waits {
				// ±50% jitter around MinBackoff·2^i, or the Retry-After.
				if w < tc.minWaits[i] || w > 3*tc.minWaits[i] {
					t.Errorf("wait %d = %s, want within [%s, %s]", i, w, tc.minWaits[i], 3*tc.minWaits[i])
				}
			}
		})
	}
}

// An attempt that hangs ends at AttemptTimeout and is retried.
func TestQueueAttemptTimeout(t *testing.T) {
	var mu sync.Mutex
	attempts := 0
	b := &fakeBackend{name: "hang", purge: func(ctx context.Context, _ Request) error {
		mu.Lock()
		attempts++
		mu.Unlock()
		<-ctx.Done()
		return ctx.Err()
	}}
	q, reg, logs := newTestQueue(t, []Backend{b}, Options{MaxAttempts: 2, AttemptTimeout: time.Millisecond})
	q.Enqueue(req("s"))
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if attempts != 2 {
		t.Errorf("attempts = %d, want 2", attempts)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": "failed"}); v != 1 {
		t.Errorf("failed = %v", v)
	}
	if !strings.Contains(logs.String(), "attempt timed out after 1ms") {
		t.Errorf("log does not say the attempt timed out:\n%s", logs)
	}
}

// Close lets the queue drain while its context lasts.
func TestQueueCloseDrains(t *testing.T) {
	gate := make(chan struct{})
	var mu sync.Mutex
	var done []string
	b := &fakeBackend{name: "b", purge: func(_ context.Context, r Request) error {
		<-gate
		mu.Lock()
		done = append(done, r.Stream)
		mu.Unlock()
		return nil
	}}
	q, reg, _ := newTestQueue(t, []Backend{b}, Options{})
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		q.Enqueue(req(s))
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	closed := make(chan error)
	go func() { closed <- q.Close(ctx) }()
	close(gate)
	if err := recv(t, closed, "Close"); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if strings.Join(done, "") != "abcde" {
		t.Errorf("purged %v, want a to e in order", done)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": "ok"}); v != 5 {
		t.Errorf("ok = %v, want 5", v)
	}
	// After Close, requests are dropped, not queued.
	q.Enqueue(req("late"))
	if v := metricValue(t, reg, "liveorigin_purge_dropped_total", nil); v != 1 {
		t.Errorf("dropped after Close = %v, want 1", v)
	}
	if err := q.Close(context.Background()); err != nil {
		t.Errorf("second Close = %v", err)
	}
}

// At the deadline Close cancels what is in progress and returns.
func TestQueueCloseDeadline(t *testing.T) {
	started := make(chan struct{}, 1)
	b := &fakeBackend{name: "dead", purge: func(ctx context.Context, _ Request) error {
		started <- struct{}{}
		<-ctx.Done()
		return ctx.Err()
	}}
	q, reg, logs := newTestQueue(t, []Backend{b}, Options{AttemptTimeout: time.Hour})
	q.Enqueue(req("a"))
	q.Enqueue(req("b"))
	recv(t, started, "the first attempt")
	ctx, cancel := context.WithCancel(context.Background())
	closed := make(chan error)
	go func() { closed <- q.Close(ctx) }()
	cancel()
	err := recv(t, closed, "Close")
	if !errors.Is(err, context.Canceled) || !strings.Contains(err.Error(), "2 requests") {
		t.Fatalf("Close = %v, want 2 requests dropped, context canceled", err)
	}
	if v := metricValue(t, reg, "liveorigin_purge_dropped_total", nil); v != 2 {
		t.Errorf("dropped = %v, want 2", v)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": "failed"}); v != 0 {
		t.Errorf("failed = %v, want 0 (dropped is not failed)", v)
	}
	if !strings.Contains(logs.String(), `"error":"shutdown deadline"`) {
		t.Errorf("log:\n%s", logs)
	}
}

func TestQueueZeroBackends(t *testing.T) {
	q, reg, _ := newTestQueue(t, nil, Options{})
	q.Enqueue(req("a"))
	if len(q.Backends()) != 0 {
		t.Errorf("Backends = %v", q.Backends())
	}
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if len(mf.GetMetric()) != 0 {
			t.Errorf("%s has series without backends", mf.GetName())
		}
	}
}

func TestNewQueueErrors(t *testing.T) {
	a := &fakeBackend{name: "a"}
	for _, tc := range []struct {
		backends []Backend
		o        Options
		want     string
	}{
		{[]Backend{a, &fakeBackend{name: "a"}}, Options{}, `name "a" is empty or used twice`},
		{[]Backend{&fakeBackend{}}, Options{}, "empty"},
		{[]Backend{nil}, Options{}, "nil"},
		{nil, Options{MinBackoff: time.Minute, MaxBackoff: time.Second}, "MinBackoff"},
	} {
		_, err := NewQueue(tc.backends, tc.o)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("NewQueue = %v, want %q", err, tc.want)
		}
	}
}

// Each finished purge is one log line with what ops need to find it.
func TestQueueLogLine(t *testing.T) {
	fail := &fakeBackend{name: "fail", purge: func(context.Context, Request) error {
		return Permanent(errors.New("refused"))
	}}
	ok := &fakeBackend{name: "ok"}
	q, _, logs := newTestQueue(t, []Backend{fail, ok}, Options{})
	q.Enqueue(Request{Stream: "cam1", Scope: ScopeStream, Reason: ReasonTakedown,
		TraceParent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("%d log lines, want 2:\n%s", len(lines), logs)
	}
	for _, l := range lines {
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"backend", "stream", "scope", "reason", "attempts", "outcome", "duration", "traceparent"} {
			if _, ok := m[k]; !ok {
				t.Errorf("log line has no %s: %s", k, l)
			}
		}
		want := map[string]string{"fail": "failed", "ok": "ok"}[m["backend"].(string)]
		if m["outcome"] != want || m["stream"] != "cam1" || m["scope"] != "stream" || m["reason"] != "takedown" {
			t.Errorf("log line %s", l)
		}
	}
}

// A backend that panics fails its request; the queue goes on.
func TestQueueBackendPanics(t *testing.T) {
	calls := 0
	b := &fakeBackend{name: "p", purge: func(context.Context, Request) error {
		calls++
		if calls == 1 {
			panic("boom")
		}
		return nil
	}}
	q, reg, _ := newTestQueue(t, []Backend{b}, Options{})
	q.Enqueue(req("a"))
	q.Enqueue(req("b"))
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": "failed"}); v != 1 {
		t.Errorf("failed = %v", v)
	}
	if v := metricValue(t, reg, "liveorigin_purge_requests_total", map[string]string{"result": "ok"}); v != 1 {
		t.Errorf("ok = %v", v)
	}
}

// An invalid request is refused at Enqueue, before any backend sees it.
func TestQueueInvalidRequest(t *testing.T) {
	calls := 0
	b := &fakeBackend{name: "b", purge: func(context.Context, Request) error { calls++; return nil }}
	q, _, logs := newTestQueue(t, []Backend{b}, Options{})
	q.Enqueue(Request{Stream: "../x", Scope: ScopeStream})
	q.Enqueue(Request{Stream: "x", Scope: ScopePaths, Paths: []string{"/live/*"}})
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if calls != 0 {
		t.Errorf("backend called %d times", calls)
	}
	if n := strings.Count(logs.String(), "purge request ignored"); n != 2 {
		t.Errorf("%d ignored lines:\n%s", n, logs)
	}
}

// The metrics follow Prometheus' conventions (promtool check metrics, when
// promtool is installed: Debian's prometheus package).
func TestMetricsLint(t *testing.T) {
	b := &fakeBackend{name: "varnish"}
	q, reg, _ := newTestQueue(t, []Backend{b}, Options{})
	q.Enqueue(req("a"))
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var text bytes.Buffer
	enc := expfmt.NewEncoder(&text, expfmt.NewFormat(expfmt.TypeTextPlain))
	names := map[string]bool{}
	for _, mf := range mfs {
		names[mf.GetName()] = true
		if err := enc.Encode(mf); err != nil {
			t.Fatal(err)
		}
	}
	for _, n := range []string{"liveorigin_purge_requests_total", "liveorigin_purge_retries_total",
		"liveorigin_purge_dropped_total", "liveorigin_purge_queue_length", "liveorigin_purge_duration_seconds"} {
		if !names[n] {
			t.Errorf("no metric %s", n)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &text
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\n%s", err, out, text.String())
	}
}

// Requests are independent copies: a caller reusing its Paths slice does not
// change a queued purge.
func TestQueueCopiesPaths(t *testing.T) {
	release := make(chan struct{})
	got := make(chan []string, 1)
	b := &fakeBackend{name: "b", purge: func(_ context.Context, r Request) error {
		<-release
		got <- r.Paths
		return nil
	}}
	q, _, _ := newTestQueue(t, []Backend{b}, Options{})
	paths := []string{"/live/x/v0.m3u8"}
	q.Enqueue(Request{Stream: "x", Scope: ScopePaths, Paths: paths})
	paths[0] = "/changed"
	close(release)
	if err := q.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if p := recv(t, got, "paths"); p[0] != "/live/x/v0.m3u8" {
		t.Errorf("queued path changed to %q", p[0])
	}
}
