package auth

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

const (
	demoKey  = "demo-key-7f3a91c2e5"
	otherKey = "other-key-0b8d44aa19"
)

type nextPublisher struct {
	mu    sync.Mutex
	names []string
}

func (p *nextPublisher) Publish(_ context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.names = append(p.names, info.Name)
	return session{}, nil
}

type session struct{}

func (session) Start([]ingest.Track) error      { return nil }
func (session) WriteAU(ingest.AccessUnit) error { return nil }
func (session) Close(error)                     {}

// clock is a manual clock; wait advances it and records the waits.
type clock struct {
	mu    sync.Mutex
	now   time.Time
	waits []time.Duration
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

func (c *clock) Wait(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.waits = append(c.waits, d)
	c.now = c.now.Add(d)
	c.mu.Unlock()
	return nil
}

func (c *clock) recorded() []time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]time.Duration(nil), c.waits...)
}

type fixture struct {
	pub  *Publisher
	next *nextPublisher
	reg  *prometheus.Registry
	logs *bytes.Buffer
	clk  *clock
}

func newFixture(t *testing.T, mode Mode, keys map[string]string) *fixture {
	t.Helper()
	set, errs := NewKeySet(Config{Mode: mode, Keys: keys})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f := &fixture{next: &nextPublisher{}, reg: prometheus.NewRegistry(), logs: &bytes.Buffer{}, clk: &clock{now: time.Unix(1_800_000_000, 0)}}
	f.pub = NewPublisher(f.next, set, Options{Logger: slog.New(slog.NewTextHandler(f.logs, nil)), Registerer: f.reg,
		Now: f.clk.Now, Wait: f.clk.Wait})
	return f
}

func (f *fixture) publish(name, proto, remote string, query url.Values) error {
	_, err := f.pub.Publish(context.Background(), ingest.PublishInfo{Name: name, Protocol: proto, RemoteAddr: remote, Query: query})
	return err
}

func key(k string) url.Values { return url.Values{"key": {k}} }

func TestPublish(t *testing.T) {
	keys := map[string]string{"demo": demoKey, "other": otherKey}
	for _, tc := range []struct {
		name   string
		mode   Mode
		stream string
		query  url.Values
		reason string // empty: allowed
	}{
		{"open, no key", ModeOpen, "demo", nil, ""},
		{"open, any name", ModeOpen, "anything", key("x"), ""},
		{"keys, right key", ModeKeys, "demo", key(demoKey), ""},
		{"keys, the other stream's key", ModeKeys, "demo", key(otherKey), ReasonWrongKey},
		{"keys, wrong key", ModeKeys, "demo", key("demo-key-7f3a91c2e6"), ReasonWrongKey},
		{"keys, key prefix", ModeKeys, "demo", key(demoKey[:10]), ReasonWrongKey},
		{"keys, missing key", ModeKeys, "demo", nil, ReasonNoKey},
		{"keys, empty key", ModeKeys, "demo", key(""), ReasonNoKey},
		{"keys, other parameter only", ModeKeys, "demo", url.Values{"user": {"u"}}, ReasonNoKey},
		{"keys, unknown stream", ModeKeys, "nokey", key(demoKey), ReasonUnknownStream},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, tc.mode, keys)
			err := f.publish(tc.stream, "rtmp", "192.0.2.7:50000", tc.query)
			if tc.reason == "" {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				if len(f.next.names) != 1 {
					t.Errorf("the wrapped publisher got %v", f.next.names)
				}
				return
			}
			if !errors.Is(err, ingest.ErrRefused) {
				t.Fatalf("err %v, want ErrRefused", err)
			}
			if len(f.next.names) != 0 {
				t.Errorf("a refused publisher reached the wrapped publisher: %v", f.next.names)
			}
			if got := counterValue(t, f.pub.failures.WithLabelValues("rtmp", tc.reason)); got != 1 {
				t.Errorf("failures{rtmp,%s} = %v", tc.reason, got)
			}
			line := f.logs.String()
			for _, want := range []string{"stream=" + tc.stream, "protocol=rtmp", "remote=192.0.2.7:50000", "reason=" + tc.reason} {
				if !strings.Contains(line, want) {
					t.Errorf("log %q lacks %s", line, want)
				}
			}
			if n := strings.Count(line, "\n"); n != 1 {
				t.Errorf("%d log lines, want 1", n)
			}
			for _, secret := range []string{demoKey, otherKey, demoKey[:10], "demo-key-7f3a91c2e6"} {
				if strings.Contains(line, secret) || strings.Contains(err.Error(), secret) {
					t.Errorf("the log or error shows a key: %s / %v", line, err)
				}
			}
		})
	}
}

// The key comparison is subtle.ConstantTimeCompare.
func TestConstantTimeCompare(t *testing.T) {
	calls := 0
	orig := compare
	compare = func(a, b []byte) int { calls++; return orig(a, b) }
	defer func() { compare = orig }()
	f := newFixture(t, ModeKeys, map[string]string{"demo": demoKey})
	_ = f.publish("demo", "srt", "192.0.2.7:1", key(demoKey))
	_ = f.publish("demo", "srt", "192.0.2.7:1", key("wrong-wrong-wrong-wrong"))
	if calls != 2 {
		t.Errorf("constant-time compare called %d times, want 2", calls)
	}
}

// After FailureBurst failures in a minute, each attempt from the address
// waits, growing to MaxDelay; other addresses are not slowed; a success
// or a quiet minute forgets the address.
func TestSlowDown(t *testing.T) {
	f := newFixture(t, ModeKeys, map[string]string{"demo": demoKey})
	const bad = "198.51.100.9"
	for i := range FailureBurst {
		if err := f.publish("demo", "rtmp", fmt.Sprintf("%s:%d", bad, 40000+i), key("x")); err == nil {
			t.Fatal("allowed")
		}
	}
	if w := f.clk.recorded(); len(w) != 0 {
		t.Fatalf("waited %v within the burst", w)
	}
	for range 6 {
		_ = f.publish("demo", "rtmp", bad+":1", nil)
	}
	want := []time.Duration{time.Second, 2 * time.Second, 4 * time.Second, 8 * time.Second, 10 * time.Second, 10 * time.Second}
	if got := f.clk.recorded(); fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("waits %v, want %v", got, want)
	}
	// Another address is answered at once.
	if err := f.publish("demo", "rtmp", "203.0.113.1:2", key(demoKey)); err != nil {
		t.Fatal(err)
	}
	if n := len(f.clk.recorded()); n != len(want) {
		t.Errorf("another address waited")
	}
	// The right key still works, after the wait, and resets the address.
	if err := f.publish("demo", "rtmp", bad+":3", key(demoKey)); err != nil {
		t.Fatal(err)
	}
	n := len(f.clk.recorded())
	_ = f.publish("demo", "rtmp", bad+":4", nil)
	if got := len(f.clk.recorded()); got != n {
		t.Errorf("waited after a success reset the address")
	}
	// A quiet minute forgets it.
	for range FailureBurst {
		_ = f.publish("demo", "rtmp", bad+":5", nil)
	}
	f.clk.advance(FailureWindow + time.Second)
	n = len(f.clk.recorded())
	_ = f.publish("demo", "rtmp", bad+":6", nil)
	if got := len(f.clk.recorded()); got != n {
		t.Errorf("waited after a quiet minute")
	}
}

// The wait honours the publisher's context.
func TestSlowDownHonoursContext(t *testing.T) {
	set, _ := NewKeySet(Config{Mode: ModeKeys, Keys: map[string]string{"demo": demoKey}})
	p := NewPublisher(&nextPublisher{}, set, Options{})
	for range FailureBurst {
		_, _ = p.Publish(context.Background(), ingest.PublishInfo{Name: "demo", RemoteAddr: "192.0.2.1:1"})
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := p.Publish(ctx, ingest.PublishInfo{Name: "demo", RemoteAddr: "192.0.2.1:1", Query: key(demoKey)})
		done <- err
	}()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, ingest.ErrClosed) {
			t.Errorf("err %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the wait ignored the context")
	}
}

// The slow-down remembers a bounded number of addresses.
func TestLimiterBounded(t *testing.T) {
	l := newLimiter(8)
	now := time.Unix(0, 0)
	for i := range 100 {
		l.fail(fmt.Sprintf("192.0.2.%d", i), now)
		now = now.Add(time.Millisecond)
	}
	if n := l.tracked(); n > 8 {
		t.Errorf("%d addresses tracked, cap 8", n)
	}
	// The newest survive.
	if l.seen["192.0.2.99"] == nil {
		t.Error("the newest address was evicted")
	}
	// Expired entries go first.
	now = now.Add(2 * FailureWindow)
	l.fail("198.51.100.1", now)
	if n := l.tracked(); n != 1 {
		t.Errorf("%d tracked after expiry, want 1", n)
	}
}

// A reload swaps the set: the next publisher is checked against the new
// keys.
func TestSetKeys(t *testing.T) {
	f := newFixture(t, ModeKeys, map[string]string{"demo": demoKey})
	next, errs := NewKeySet(Config{Mode: ModeKeys, Keys: map[string]string{"demo": otherKey}})
	if len(errs) > 0 {
		t.Fatal(errs)
	}
	f.pub.SetKeys(next)
	if err := f.publish("demo", "rtmp", "192.0.2.1:1", key(demoKey)); !errors.Is(err, ingest.ErrRefused) {
		t.Errorf("old key: %v", err)
	}
	if err := f.publish("demo", "rtmp", "192.0.2.1:1", key(otherKey)); err != nil {
		t.Errorf("new key: %v", err)
	}
	open, _ := NewKeySet(Config{Mode: ModeOpen})
	f.pub.SetKeys(open)
	if err := f.publish("any", "rtmp", "192.0.2.1:1", nil); err != nil {
		t.Errorf("open: %v", err)
	}
}

func TestBadKeySets(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		want string
	}{
		{Config{Mode: "closed"}, `publish-auth: "closed" is not one of open, keys, jwt`},
		{Config{Mode: ModeKeys}, "no stream-key is set"},
		{Config{Mode: ModeKeys, Keys: map[string]string{"demo": "short-key"}}, "stream-key demo: the key must be at least 16 characters (got 9)"},
		{Config{Mode: ModeOpen, Keys: map[string]string{"bad/name": demoKey}}, "stream-key bad/name:"},
		{Config{Mode: ModeOpen, StreamModes: map[string]Mode{"demo": "secret"}}, `stream-auth demo: "secret" is not one of open, keys, jwt`},
		{Config{Mode: ModeOpen, StreamModes: map[string]Mode{"demo": ModeKeys}}, "stream-auth demo=keys: stream demo has no stream-key"},
		{Config{Mode: ModeOpen, StreamModes: map[string]Mode{"bad/name": ModeOpen}}, "stream-auth bad/name:"},
		{Config{Mode: ModeJWT}, "publish-auth jwt: no key to verify tokens with"},
		{Config{Mode: ModeOpen, StreamModes: map[string]Mode{"demo": ModeJWT}}, "publish-auth jwt: no key to verify tokens with"},
		{Config{Mode: ModeJWT, JWT: JWTConfig{Secret: []byte("short-key")}}, "publish-jwt-secret: must be at least 32 bytes (got 9)"},
	} {
		_, errs := NewKeySet(tc.c)
		if !strings.Contains(fmt.Sprint(errs), tc.want) {
			t.Errorf("NewKeySet(%+v): %v, want %q", tc.c, errs, tc.want)
		}
		if strings.Contains(fmt.Sprint(errs), "short-key") {
			t.Errorf("an error shows the key: %v", errs)
		}
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}
