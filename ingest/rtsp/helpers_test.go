package rtsp

import (
	"context"
	"flag"
	"fmt"
	"github.com/liveorigin/liveorigin/internal/testkit"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/liveorigin/liveorigin/ingest"
)

var update = flag.Bool("update", false, "update golden files (re-record the RTP captures with ffmpeg)")

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 20 * time.Second

// fakePublisher stands in for the packager's Registry: it enforces one
// publisher per name and records what each session receives.
type fakePublisher struct {
	mu       sync.Mutex
	live     map[string]*fakeSession
	sessions chan *fakeSession // every session handed out
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{live: map[string]*fakeSession{}, sessions: make(chan *fakeSession, 64)}
}

func (p *fakePublisher) Publish(_ context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	if err := ingest.ValidateName(info.Name); err != nil {
		return nil, err
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, ok := p.live[info.Name]; ok {
		return nil, fmt.Errorf("stream %q: %w", info.Name, ingest.ErrAlreadyPublishing)
	}
	s := newFakeSession(info)
	s.p = p
	p.live[info.Name] = s
	select {
	case p.sessions <- s:
	default:
	}
	return s, nil
}

// nextSession waits for the next Publish.
func (p *fakePublisher) nextSession(t testing.TB) *fakeSession {
	t.Helper()
	select {
	case s := <-p.sessions:
		return s
	case <-time.After(waitTimeout):
		t.Fatal("no publish session")
		return nil
	}
}

// fakeSession records a session and checks the ingest contract as it goes:
// WriteAU after Start, tracks in range, DTS not decreasing per track,
// PTS >= DTS, data present. Violations are kept in errs.
type fakeSession struct {
	p    *fakePublisher
	info ingest.PublishInfo

	mu       sync.Mutex
	starts   [][]ingest.Track
	aus      []ingest.AccessUnit
	lastDTS  map[int]int64
	errs     []string
	closed   bool
	closeErr error

	events chan struct{} // a non-blocking nudge after every change
	done   chan struct{} // closed by Close
}

func newFakeSession(info ingest.PublishInfo) *fakeSession {
	return &fakeSession{info: info, lastDTS: map[int]int64{}, events: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *fakeSession) nudge() {
	select {
	case s.events <- struct{}{}:
	default:
	}
}

func (s *fakeSession) Start(tracks []ingest.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.nudge()
	if s.closed {
		return ingest.ErrClosed
	}
	if len(s.starts) > 0 {
		prev := s.starts[0]
		if len(prev) != len(tracks) {
			s.errs = append(s.errs, fmt.Sprintf("Start with %d tracks after %d", len(tracks), len(prev)))
		}
		for i := range min(len(prev), len(tracks)) {
			if prev[i].Kind != tracks[i].Kind {
				s.errs = append(s.errs, fmt.Sprintf("track %d changed kind", i))
			}
		}
	}
	for i, tr := range tracks {
		if tr.Codec == "" || tr.ClockRate == 0 || tr.CodecString == "" {
			s.errs = append(s.errs, fmt.Sprintf("Start: incomplete track %d: %+v", i, tr))
		}
	}
	s.starts = append(s.starts, tracks)
	return nil
}

func (s *fakeSession) WriteAU(au ingest.AccessUnit) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.nudge()
	if s.closed {
		return ingest.ErrClosed
	}
	if len(s.starts) == 0 {
		s.errs = append(s.errs, "WriteAU before Start")
		return fmt.Errorf("%w: WriteAU before Start", ingest.ErrBadTracks)
	}
	tracks := s.starts[len(s.starts)-1]
	switch {
	case au.Track < 0 || au.Track >= len(tracks):
		s.errs = append(s.errs, fmt.Sprintf("AU for track %d of %d", au.Track, len(tracks)))
	case len(au.Data) == 0:
		s.errs = append(s.errs, fmt.Sprintf("empty AU on track %d", au.Track))
	case au.PTS < au.DTS:
		s.errs = append(s.errs, fmt.Sprintf("track %d: PTS %d < DTS %d", au.Track, au.PTS, au.DTS))
	}
	if last, ok := s.lastDTS[au.Track]; ok && au.DTS <= last {
		s.errs = append(s.errs, fmt.Sprintf("track %d: DTS %d after %d", au.Track, au.DTS, last))
	}
	s.lastDTS[au.Track] = au.DTS
	s.aus = append(s.aus, au)
	return nil
}

func (s *fakeSession) Close(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return
	}
	s.closed, s.closeErr = true, err
	if s.p != nil {
		s.p.mu.Lock()
		delete(s.p.live, s.info.Name)
		s.p.mu.Unlock()
	}
	close(s.done)
	s.nudge()
}

// waitFor waits until cond holds for the session's state.
func (s *fakeSession) waitFor(t testing.TB, what string, cond func(s *fakeSession) bool) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		s.mu.Lock()
		ok := cond(s)
		s.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-s.events:
		case <-deadline:
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

func (s *fakeSession) waitClosed(t testing.TB) error {
	t.Helper()
	select {
	case <-s.done:
	case <-time.After(waitTimeout):
		t.Fatal("session not closed")
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.closeErr
}

func (s *fakeSession) snapshot() ([][]ingest.Track, []ingest.AccessUnit, []string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]ingest.Track(nil), s.starts...), append([]ingest.AccessUnit(nil), s.aus...), append([]string(nil), s.errs...)
}

// auStats summarises the access units of one track.
type auStats struct {
	count, keys int
	firstKey    bool // the first AU is a keyframe
	minDelta    int64
	maxDelta    int64 // DTS steps
	reordered   int   // AUs with PTS > DTS
}

func statsOf(aus []ingest.AccessUnit, track int) auStats {
	var st auStats
	var prev *ingest.AccessUnit
	for i := range aus {
		au := &aus[i]
		if au.Track != track {
			continue
		}
		if st.count == 0 {
			st.firstKey = au.Key
		}
		st.count++
		if au.Key {
			st.keys++
		}
		if au.PTS > au.DTS {
			st.reordered++
		}
		if prev != nil {
			d := au.DTS - prev.DTS
			if st.minDelta == 0 || d < st.minDelta {
				st.minDelta = d
			}
			st.maxDelta = max(st.maxDelta, d)
		}
		prev = au
	}
	return st
}

// testServer runs a Server on 127.0.0.1 with OS-chosen ports and reports
// every ended publish session on ends and every pull state on states.
type testServer struct {
	*Server
	pub    *fakePublisher
	reg    *prometheus.Registry
	addr   string
	ends   chan sessionEnd
	states *stateLog
	logs   *syncBuffer
}

// stateLog records every pull state change.
type stateLog struct {
	mu     sync.Mutex
	all    []PullState
	events chan struct{}
}

func (l *stateLog) add(p PullState) {
	l.mu.Lock()
	l.all = append(l.all, p)
	l.mu.Unlock()
	select {
	case l.events <- struct{}{}:
	default:
	}
}

// waitState waits for a state of name after the first from states seen,
// and returns it and the position after it.
func (l *stateLog) waitState(t testing.TB, from int, name, state string) (PullState, int) {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		l.mu.Lock()
		for i := from; i < len(l.all); i++ {
			if l.all[i].Name == name && l.all[i].State == state {
				p := l.all[i]
				l.mu.Unlock()
				return p, i + 1
			}
		}
		l.mu.Unlock()
		select {
		case <-l.events:
		case <-deadline:
			t.Fatalf("timed out waiting for pull %s to be %s", name, state)
		}
	}
}

func startServer(t *testing.T, o Options) *testServer {
	t.Helper()
	ts := &testServer{
		pub: newFakePublisher(), reg: prometheus.NewRegistry(),
		ends: make(chan sessionEnd, 64), states: &stateLog{events: make(chan struct{}, 1)}, logs: &syncBuffer{},
	}
	if o.Publisher == nil {
		o.Publisher = ts.pub
	}
	if o.Addr == "" {
		o.Addr = "127.0.0.1:0"
	}
	o.Registerer = ts.reg
	var w io.Writer = ts.logs
	if testing.Verbose() {
		w = io.MultiWriter(ts.logs, os.Stderr)
	}
	o.Logger = slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	s.onSessionEnd = func(e sessionEnd) { ts.ends <- e }
	s.onPullState = ts.states.add
	if err := s.Listen(); err != nil {
		t.Fatal(err)
	}
	ts.Server, ts.addr = s, s.Addr().String()
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

// nextEnd waits for a publish session to end.
func (ts *testServer) nextEnd(t testing.TB) sessionEnd {
	t.Helper()
	select {
	case e := <-ts.ends:
		return e
	case <-time.After(waitTimeout):
		t.Fatal("no session ended")
		return sessionEnd{}
	}
}

type syncBuffer = testkit.SyncBuffer

// freeUDPPair finds an even UDP port whose successor is free too, for the
// RTP/RTCP pair (gortsplib needs consecutive ports, so ":0" cannot work).
func freeUDPPair(t testing.TB) (rtp, rtcp string) {
	t.Helper()
	for range 100 {
		pc, err := net.ListenPacket("udp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		port := pc.LocalAddr().(*net.UDPAddr).Port
		_ = pc.Close()
		if port%2 != 0 || port >= 65535 {
			continue
		}
		a, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue
		}
		b, err := net.ListenPacket("udp", "127.0.0.1:"+strconv.Itoa(port+1))
		_ = a.Close()
		if err != nil {
			continue
		}
		_ = b.Close()
		return "127.0.0.1:" + strconv.Itoa(port), "127.0.0.1:" + strconv.Itoa(port+1)
	}
	t.Fatal("no free UDP port pair")
	return "", ""
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
