package purge

import (
	"bytes"
	"context"
	"errors"
	"github.com/liveorigin/liveorigin/internal/testkit"
	"io/fs"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// fakeEnv is the environment of New in tests.
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

// newBackend builds one backend from c or fails the test.
func newBackend(t *testing.T, c Config, env fakeEnv) Backend {
	t.Helper()
	bs, errs := New([]Config{c}, env.getenv, env.readFile)
	if len(errs) > 0 {
		t.Fatalf("New: %v", errors.Join(errs...))
	}
	b := bs[0]
	t.Cleanup(func() {
		if c, ok := b.(interface{ CloseIdleConnections() }); ok {
			c.CloseIdleConnections()
		}
	})
	return b
}

// captured is one request a test server saw.
type captured struct {
	Method string
	Path   string // escaped path and query, as sent
	Host   string
	Header http.Header
	Body   string
}

// recorder is a test CDN: it records every request and answers with the
// status and body of the next reply (the last one repeats).
type recorder struct {
	mu      sync.Mutex
	reqs    []captured
	replies []reply
	seen    chan captured // every request, unbuffered consumers may drain
}

type reply struct {
	code   int
	body   string
	header map[string]string
}

func newRecorder(t *testing.T, replies ...reply) (*recorder, *httptest.Server) {
	t.Helper()
	rec := &recorder{replies: replies, seen: make(chan captured, 100)}
	srv := httptest.NewServer(rec)
	t.Cleanup(srv.Close)
	return rec, srv
}

func (rec *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body bytes.Buffer
	_, _ = body.ReadFrom(r.Body)
	c := captured{Method: r.Method, Path: r.URL.RequestURI(), Host: r.Host, Header: r.Header.Clone(), Body: body.String()}
	rec.mu.Lock()
	rec.reqs = append(rec.reqs, c)
	rp := reply{code: http.StatusOK}
	if len(rec.replies) > 0 {
		rp = rec.replies[0]
		if len(rec.replies) > 1 {
			rec.replies = rec.replies[1:]
		}
	}
	rec.mu.Unlock()
	for k, v := range rp.header {
		w.Header().Set(k, v)
	}
	w.WriteHeader(rp.code)
	_, _ = w.Write([]byte(rp.body))
	select {
	case rec.seen <- c:
	default:
	}
}

func (rec *recorder) requests() []captured {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]captured(nil), rec.reqs...)
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

func newLogger(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

var metricValue = testkit.GatheredValue

// fakeBackend is a Backend whose answers a test controls.
type fakeBackend struct {
	name string
	// purge is called for every attempt; nil succeeds.
	purge func(ctx context.Context, r Request) error
}

func (f *fakeBackend) Name() string { return f.name }

func (f *fakeBackend) Purge(ctx context.Context, r Request) error {
	if f.purge == nil {
		return nil
	}
	return f.purge(ctx, r)
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
