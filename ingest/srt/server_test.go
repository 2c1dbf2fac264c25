package srt

import (
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

func TestMain(m *testing.M) {
	// gosrt's dialer (our test caller, not the server) can leave its UDP
	// reader blocked on an unbuffered channel that Close polls only once
	// (gosrt v0.11.0 dial.go).
	opts := append(transportLeakOptions(), goleak.IgnoreTopFunction("github.com/datarhei/gosrt.Dial.func1"),
		goleak.Cleanup(func(code int) {
			transportCleanup()
			os.Exit(code)
		}))
	goleak.VerifyTestMain(m, opts...)
}

// connEnd is how a connection ended, reported by the test hook.
type connEnd struct {
	name   string
	reason string
	cause  error
	bytes  int64
}

// testServer runs a Server on 127.0.0.1:0 and reports every ended
// connection on ends.
type testServer struct {
	*Server
	pub     *fakePublisher
	reg     *prometheus.Registry
	addr    string
	ends    chan connEnd
	refusal chan string // refused_total reasons, as they are counted
}

func startServer(t *testing.T, o Options) *testServer {
	t.Helper()
	ts := &testServer{pub: newFakePublisher(), reg: prometheus.NewRegistry(), ends: make(chan connEnd, 64), refusal: make(chan string, 64)}
	if o.Publisher == nil {
		o.Publisher = ts.pub
	}
	o.Addr = "127.0.0.1:0"
	o.Registerer = ts.reg
	if testing.Verbose() {
		o.Logger = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.onConnEnd = func(name, reason string, cause error, bytes int64) {
		ts.ends <- connEnd{name, reason, cause, bytes}
	}
	s.onRefused = func(reason string) { ts.refusal <- reason }
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts.Server = s
	ts.addr = fmt.Sprintf("127.0.0.1:%d", s.Addr().(*net.UDPAddr).Port)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := s.Serve(); err != nil {
			t.Errorf("Serve: %v", err)
		}
	}()
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("Close: %v", err)
		}
		wg.Wait()
	})
	return ts
}

// nextEnd waits for a connection to end.
func (ts *testServer) nextEnd(t testing.TB) connEnd {
	t.Helper()
	select {
	case e := <-ts.ends:
		return e
	case <-time.After(waitTimeout):
		t.Fatal("no connection ended")
		return connEnd{}
	}
}

// nextRefusal waits for a refusal.
func (ts *testServer) nextRefusal(t testing.TB) string {
	t.Helper()
	select {
	case r := <-ts.refusal:
		return r
	case <-time.After(waitTimeout):
		t.Fatal("no refusal")
		return ""
	}
}

// metricValue reads a counter or gauge.
func metricValue(t testing.TB, m prometheus.Metric) float64 {
	t.Helper()
	var pb dto.Metric
	if err := m.Write(&pb); err != nil {
		t.Fatal(err)
	}
	if c := pb.GetCounter(); c != nil {
		return c.GetValue()
	}
	return pb.GetGauge().GetValue()
}

func TestNewValidates(t *testing.T) {
	pub := newFakePublisher()
	for _, tc := range []struct {
		name string
		o    Options
		want string
	}{
		{"no publisher", Options{}, "Publisher is required"},
		{"short passphrase", Options{Publisher: pub, Passphrase: "short"}, "srt-passphrase: passphrase must be 10 to 79 characters, got 5"},
		{"long passphrase", Options{Publisher: pub, Passphrase: strings.Repeat("x", 80)}, "srt-passphrase: passphrase must be 10 to 79 characters, got 80"},
		{"short stream passphrase", Options{Publisher: pub, StreamPassphrases: map[string]string{"cam": "123"}}, "srt-stream-passphrase cam: passphrase must be 10 to 79"},
		{"empty stream passphrase", Options{Publisher: pub, StreamPassphrases: map[string]string{"cam": ""}}, "srt-stream-passphrase cam: empty"},
		{"bad stream name", Options{Publisher: pub, StreamPassphrases: map[string]string{"a b": "0123456789"}}, "srt-stream-passphrase a b: invalid stream name"},
		{"negative latency", Options{Publisher: pub, Latency: -time.Second}, "Latency is negative"},
		{"negative read timeout", Options{Publisher: pub, ReadTimeout: -time.Second}, "ReadTimeout is negative"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := New(tc.o)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("New: %v, want an error containing %q", err, tc.want)
			}
		})
	}
	ok := []Options{
		{Publisher: pub, Passphrase: strings.Repeat("x", 10)},
		{Publisher: pub, Passphrase: strings.Repeat("x", 79), StreamPassphrases: map[string]string{"cam": "0123456789"}},
	}
	for _, o := range ok {
		if _, err := New(o); err != nil {
			t.Errorf("New(%+v): %v", o, err)
		}
	}
	reg := prometheus.NewRegistry()
	if _, err := New(Options{Publisher: pub, Registerer: reg}); err != nil {
		t.Fatal(err)
	}
	if _, err := New(Options{Publisher: pub, Registerer: reg}); err == nil {
		t.Error("registering the metrics twice: no error")
	}
}

func TestCloseWithoutServe(t *testing.T) {
	s, err := New(Options{Publisher: newFakePublisher(), Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if s.Addr() != nil {
		t.Error("Addr before Listen is not nil")
	}
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	if a, ok := s.Addr().(*net.UDPAddr); !ok || a.Port == 0 {
		t.Errorf("Addr after Listen on :0 = %v, want the bound UDP port", s.Addr())
	}
	if s.Transport() != transportName {
		t.Errorf("Transport() = %q", s.Transport())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Serve(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Serve after Close: %v, want ErrServerClosed", err)
	}
	if err := s.Listen(); !errors.Is(err, ErrServerClosed) {
		t.Errorf("Listen after Close: %v, want ErrServerClosed", err)
	}
}

// publishCapture sends a capture over a Go caller and waits until the
// session has its video; the caller then disconnects. It returns the
// session and the bytes the connection received.
func publishCapture(t *testing.T, ts *testServer, streamID, passphrase, file string) (*fakeSession, int64) {
	t.Helper()
	c, err := dial(ts.addr, streamID, passphrase, 0)
	if err != nil {
		t.Fatalf("dial %s: %v", streamID, err)
	}
	s := ts.pub.nextSession(t)
	if err := c.send(readCapture(t, file), nil); err != nil {
		t.Fatalf("send: %v", err)
	}
	// The last frame only completes with the next PES or the end of the
	// stream: wait for all but that one before hanging up.
	s.waitFor(t, "59 video access units", func(s *fakeSession) bool { return statsOf(s.aus, 0).count >= 59 })
	c.Close()
	if cause := s.waitClosed(t); cause != nil {
		t.Errorf("session closed with %v, want a clean end", cause)
	}
	e := ts.nextEnd(t)
	if e.reason != "" || e.cause != nil {
		t.Errorf("connection end %+v, want clean", e)
	}
	// A caller that hangs up drops what it has not delivered yet.
	if size := int64(len(readCapture(t, file))); e.bytes > size || e.bytes < size-4*1456 {
		t.Errorf("connection received %d bytes of %d", e.bytes, size)
	}
	return s, e.bytes
}

// TestPublish: a Go caller publishes a capture; the session gets its
// tracks, the metrics count the connection and its bytes, and the link
// statistics of the stream are gone when it ends.
func TestPublish(t *testing.T) {
	ts := startServer(t, Options{})
	s, n := publishCapture(t, ts, "publish:live/demo", "", "h264_aac.ts")
	if s.info.Name != "demo" || s.info.Protocol != "srt" || !strings.HasPrefix(s.info.RemoteAddr, "127.0.0.1:") {
		t.Errorf("publish info %+v", s.info)
	}
	starts, aus, violated := s.snapshot()
	if violated != nil {
		t.Fatal(violated)
	}
	if len(starts) != 1 || len(starts[0]) != 2 || starts[0][0].Codec != ingest.H264 || starts[0][1].Codec != ingest.AAC {
		t.Fatalf("Start calls %+v", starts)
	}
	if v := statsOf(aus, 0); v.keys < 2 || !v.firstKey {
		t.Errorf("video %+v", v)
	}
	m := ts.metrics
	if got := metricValue(t, m.connections); got != 1 {
		t.Errorf("connections_total = %v, want 1", got)
	}
	if got := metricValue(t, m.connectionsActive); got != 0 {
		t.Errorf("connections_active = %v, want 0", got)
	}
	if got, want := metricValue(t, m.bytesReceived), float64(n); got != want {
		t.Errorf("bytes_received_total = %v, want %v", got, want)
	}
	families, err := ts.reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		for _, mm := range f.GetMetric() {
			for _, l := range mm.GetLabel() {
				if l.GetName() == "stream" {
					t.Errorf("%s{stream=%q} left after the session ended", f.GetName(), l.GetValue())
				}
			}
		}
	}
	// The name is free again.
	publishCapture(t, ts, "#!::r=live/demo,m=publish", "", "h265_aac.ts")
}

func TestLinkMetrics(t *testing.T) {
	m, err := newMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	l := m.link("cam")
	l.update(linkStats{rtt: 20 * time.Millisecond, lost: 5, retransmitted: 4, dropped: 1})
	l.update(linkStats{rtt: 30 * time.Millisecond, lost: 7, retransmitted: 4, dropped: 3})
	l.update(linkStats{rtt: 30 * time.Millisecond, lost: 2, retransmitted: 4, dropped: 3}) // the library reset its counter
	for _, c := range []struct {
		name string
		m    prometheus.Metric
		want float64
	}{
		{"rtt", m.rtt.WithLabelValues("cam"), 0.03},
		{"lost", m.lost.WithLabelValues("cam"), 9},
		{"retransmitted", m.retransmitted.WithLabelValues("cam"), 4},
		{"dropped", m.dropped.WithLabelValues("cam"), 3},
	} {
		if got := metricValue(t, c.m); got != c.want {
			t.Errorf("%s = %v, want %v", c.name, got, c.want)
		}
	}
	m.deleteLink("cam")
	if n := testCollectorCount(t, m.lost); n != 0 {
		t.Errorf("%d series left after deleteLink", n)
	}
}

func testCollectorCount(t *testing.T, c prometheus.Collector) int {
	t.Helper()
	ch := make(chan prometheus.Metric, 16)
	c.Collect(ch)
	close(ch)
	n := 0
	for range ch {
		n++
	}
	return n
}

// TestGarbageDatagrams: junk on the SRT port does not disturb the server:
// a caller publishes afterwards.
func TestGarbageDatagrams(t *testing.T) {
	ts := startServer(t, Options{})
	u, err := net.Dial("udp", ts.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer u.Close()
	r := rand.New(rand.NewPCG(3, 4)) //nolint:gosec // test data
	datagram := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.Uint32())
		}
		return b
	}
	var junk [][]byte
	for _, n := range []int{0, 1, 4, 15, 16, 17, 64, 100, 1316, 1500, 8000} {
		junk = append(junk, datagram(n))
		// Control packets (first bit set) of every type, and handshakes
		// with random contents addressed to the listener (socket id 0).
		for typ := range 8 {
			b := datagram(max(n, 16))
			b[0], b[1] = 0x80, byte(typ)
			junk = append(junk, b)
			h := append([]byte{0x80, 0, 0, 0}, datagram(max(n, 64))...)
			copy(h[12:16], []byte{0, 0, 0, 0})
			junk = append(junk, h)
		}
	}
	for _, b := range junk {
		if _, err := u.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	publishCapture(t, ts, "publish:live/after-garbage", "", "h264_aac.ts")
}

// TestNonTSCaller: a caller that sends something else than MPEG-TS is cut
// off with a log line and a metric.
func TestNonTSCaller(t *testing.T) {
	ts := startServer(t, Options{})
	c, err := dial(ts.addr, "publish:live/junk", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := ts.pub.nextSession(t)
	junk := make([]byte, 1<<20)
	r := rand.New(rand.NewPCG(5, 6)) //nolint:gosec // test data
	for i := range junk {
		junk[i] = byte(r.Uint32())
	}
	stop := make(chan struct{})
	sent := make(chan error, 1)
	go func() { sent <- c.send(junk, stop) }()
	e := ts.nextEnd(t)
	close(stop)
	<-sent
	if e.reason != reasonNotTS || !strings.Contains(e.cause.Error(), "not MPEG-TS") {
		t.Errorf("connection end %+v, want %s", e, reasonNotTS)
	}
	if cause := s.waitClosed(t); cause == nil {
		t.Error("session closed cleanly, want the failure")
	}
	if got := metricValue(t, ts.metrics.errors.WithLabelValues(reasonNotTS)); got != 1 {
		t.Errorf("errors{not_ts} = %v, want 1", got)
	}
}

// TestReadTimeout: a caller that stays connected but stops sending is cut
// off.
func TestReadTimeout(t *testing.T) {
	ts := startServer(t, Options{ReadTimeout: 300 * time.Millisecond})
	c, err := dial(ts.addr, "publish:live/quiet", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := ts.pub.nextSession(t)
	// The server may hang up before all of it is sent.
	_ = c.send(readCapture(t, "h264_aac.ts")[:20<<10], nil)
	e := ts.nextEnd(t)
	if e.reason != reasonReadTimeout {
		t.Errorf("connection end %+v, want %s", e, reasonReadTimeout)
	}
	if cause := s.waitClosed(t); cause == nil {
		t.Error("session closed cleanly, want the timeout")
	}
}

// TestCloseEndsSessions: Close ends a connected publisher's session with
// ErrClosed and returns.
func TestCloseEndsSessions(t *testing.T) {
	ts := startServer(t, Options{})
	c, err := dial(ts.addr, "publish:live/live", "", 0)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s := ts.pub.nextSession(t)
	if err := c.send(readCapture(t, "h264_aac.ts")[:40<<10], nil); err != nil {
		t.Fatal(err)
	}
	s.waitFor(t, "the session to start", func(s *fakeSession) bool { return len(s.starts) > 0 })
	if err := ts.Close(); err != nil {
		t.Fatal(err)
	}
	if cause := s.waitClosed(t); !errors.Is(cause, ingest.ErrClosed) {
		t.Errorf("session closed with %v, want ErrClosed", cause)
	}
	if got := metricValue(t, ts.metrics.connectionsActive); got != 0 {
		t.Errorf("connections_active = %v after Close", got)
	}
}
