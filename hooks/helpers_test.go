package hooks

import (
	"bytes"
	"context"
	"encoding/json"
	"github.com/liveorigin/liveorigin/internal/testkit"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

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

const testSecret = "whsec-0123456789abcdef"

// fakeEnv is the environment of Build in tests.
type fakeEnv struct {
	vars  map[string]string
	files map[string]string
}

func (e fakeEnv) getenv(k string) string { return e.vars[k] }

func (e fakeEnv) readFile(name string) ([]byte, error) {
	if s, ok := e.files[name]; ok {
		return []byte(s), nil
	}
	return nil, &fs.PathError{Op: "open", Path: name, Err: fs.ErrNotExist}
}

var testEnv = fakeEnv{vars: map[string]string{"HOOK_SECRET": testSecret}}

// hit is one request a test receiver saw.
type hit struct {
	Header http.Header
	Body   []byte
	Event  Event
}

// receiver is a test webhook endpoint. answer decides each request's
// status from the event; it may block until the request's context ends.
type receiver struct {
	srv     *httptest.Server
	arrived chan hit // each request as it arrives, before it is answered
	hits    chan hit // each request once answered
	mu      sync.Mutex
	answer  func(r *http.Request, ev Event) int
	all     []hit
}

func newReceiver(t *testing.T, answer func(r *http.Request, ev Event) int) *receiver {
	t.Helper()
	rc := &receiver{arrived: make(chan hit, 100), hits: make(chan hit, 100), answer: answer}
	rc.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var ev Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("body is not an Event: %v: %s", err, body)
		}
		h := hit{Header: r.Header.Clone(), Body: body, Event: ev}
		rc.mu.Lock()
		rc.all = append(rc.all, h)
		answer := rc.answer
		rc.mu.Unlock()
		select {
		case rc.arrived <- h:
		default:
		}
		code := http.StatusNoContent
		if answer != nil {
			code = answer(r, ev)
		}
		select {
		case rc.hits <- h:
		default:
		}
		w.WriteHeader(code)
	}))
	t.Cleanup(rc.srv.Close)
	return rc
}

func (rc *receiver) requests() []hit {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]hit(nil), rc.all...)
}

// status answers every request with code.
func status(code int) func(*http.Request, Event) int {
	return func(*http.Request, Event) int { return code }
}

// hang never answers: the request ends with the caller's timeout.
func hang(r *http.Request, _ Event) int {
	<-r.Context().Done()
	return http.StatusServiceUnavailable
}

// logBuffer is a goroutine-safe log sink.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// instant is an Options.After that fires at once and records the waits.
type instant struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (i *instant) after(d time.Duration) <-chan time.Time {
	i.mu.Lock()
	i.waits = append(i.waits, d)
	i.mu.Unlock()
	ch := make(chan time.Time, 1)
	ch <- time.Time{}
	return ch
}

func (i *instant) recorded() []time.Duration {
	i.mu.Lock()
	defer i.mu.Unlock()
	return append([]time.Duration(nil), i.waits...)
}

// fixture is a Dispatcher with its registry and logs.
type fixture struct {
	d    *Dispatcher
	reg  *prometheus.Registry
	logs *logBuffer
	wait *instant
}

func newFixture(t *testing.T, cfgs []Config, o Options) *fixture {
	t.Helper()
	hs, errs := Build(cfgs, testEnv.getenv, testEnv.readFile)
	if len(errs) > 0 {
		t.Fatalf("Build: %v", errs)
	}
	f := &fixture{reg: prometheus.NewRegistry(), logs: &logBuffer{}, wait: &instant{}}
	o.Registerer = f.reg
	o.Logger = slog.New(slog.NewJSONHandler(f.logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	if o.After == nil {
		o.After = f.wait.after
	}
	d, err := New(hs, o)
	if err != nil {
		t.Fatal(err)
	}
	f.d = d
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = d.Close(ctx)
		if t.Failed() {
			t.Logf("logs:\n%s", f.logs.String())
		}
	})
	return f
}

// hookConfig is a valid hook to rc for the given events.
func hookConfig(name string, rc *receiver, events ...string) Config {
	return Config{Name: name, URL: rc.srv.URL + "/hook", Events: events, SecretEnv: "HOOK_SECRET"}
}

var metricValue = testkit.GatheredValue

// hasSeries reports whether any series of name has the label hook=name.
func hasSeries(t *testing.T, g prometheus.Gatherer, metric, hook string) bool {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != metric {
			continue
		}
		for _, m := range mf.GetMetric() {
			for _, lp := range m.GetLabel() {
				if lp.GetName() == "hook" && lp.GetValue() == hook {
					return true
				}
			}
		}
	}
	return false
}

// fakePublisher stands for the packager's Registry.
type fakePublisher struct {
	mu     sync.Mutex
	infos  []ingest.PublishInfo
	refuse error
}

func (p *fakePublisher) Publish(_ context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.infos = append(p.infos, info)
	if p.refuse != nil {
		return nil, p.refuse
	}
	return &fakeSession{id: info.SessionID}, nil
}

func (p *fakePublisher) published() []ingest.PublishInfo {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]ingest.PublishInfo(nil), p.infos...)
}

type fakeSession struct {
	id     string
	mu     sync.Mutex
	closed []error
	links  []ingest.LinkStats
}

func (s *fakeSession) ID() string                      { return s.id }
func (s *fakeSession) Start([]ingest.Track) error      { return nil }
func (s *fakeSession) WriteAU(ingest.AccessUnit) error { return nil }
func (s *fakeSession) Close(err error) {
	s.mu.Lock()
	s.closed = append(s.closed, err)
	s.mu.Unlock()
}
func (s *fakeSession) ReportLink(st ingest.LinkStats) {
	s.mu.Lock()
	s.links = append(s.links, st)
	s.mu.Unlock()
}

func publishInfo(name string) ingest.PublishInfo {
	return ingest.PublishInfo{Name: name, Protocol: "rtmp", RemoteAddr: "192.0.2.1:1935"}
}
