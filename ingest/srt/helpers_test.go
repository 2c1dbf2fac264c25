package srt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	gosrt "github.com/datarhei/gosrt"

	"github.com/liveorigin/liveorigin/ingest"
)

// waitTimeout bounds every wait for an event; reaching it fails the test.
const waitTimeout = 15 * time.Second

// fakePublisher stands in for the packager's Registry: it enforces one
// publisher per name and records what each session receives.
type fakePublisher struct {
	mu       sync.Mutex
	live     map[string]*fakeSession
	sessions chan *fakeSession // every session handed out
}

func newFakePublisher() *fakePublisher {
	return &fakePublisher{live: map[string]*fakeSession{}, sessions: make(chan *fakeSession, 16)}
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

// hold marks name as published elsewhere (another protocol's publisher).
func (p *fakePublisher) hold(name string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.live[name] = newFakeSession(ingest.PublishInfo{Name: name, Protocol: "rtmp"})
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

// fakeSession records Start and WriteAU calls and checks the contract:
// WriteAU after Start, track indexes in range, DTS not decreasing within a
// track (except for jumps back longer than jumpBack, which are passed on).
type fakeSession struct {
	p    *fakePublisher
	info ingest.PublishInfo

	mu       sync.Mutex
	starts   [][]ingest.Track
	aus      []ingest.AccessUnit
	closed   bool
	closeErr error
	violated error // the first contract violation

	events chan struct{} // a non-blocking nudge after every change
	done   chan struct{} // closed by Close
}

func newFakeSession(info ingest.PublishInfo) *fakeSession {
	return &fakeSession{info: info, events: make(chan struct{}, 1), done: make(chan struct{})}
}

func (s *fakeSession) nudge() {
	select {
	case s.events <- struct{}{}:
	default:
	}
}

func (s *fakeSession) violate(format string, args ...any) {
	if s.violated == nil {
		s.violated = fmt.Errorf(format, args...)
	}
}

func (s *fakeSession) Start(tracks []ingest.Track) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	defer s.nudge()
	if s.closed {
		return ingest.ErrClosed
	}
	if len(s.starts) > 0 && len(tracks) != len(s.starts[0]) {
		s.violate("Start with %d tracks after %d", len(tracks), len(s.starts[0]))
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
	switch {
	case len(s.starts) == 0:
		s.violate("WriteAU before Start")
	case au.Track < 0 || au.Track >= len(s.starts[len(s.starts)-1]):
		s.violate("WriteAU to track %d of %d", au.Track, len(s.starts[len(s.starts)-1]))
	case len(au.Data) == 0:
		s.violate("WriteAU with empty data")
	}
	for i := len(s.aus) - 1; i >= 0; i-- {
		if prev := s.aus[i]; prev.Track == au.Track {
			if au.DTS < prev.DTS && prev.DTS-au.DTS < jumpBack {
				s.violate("track %d: DTS %d after %d", au.Track, au.DTS, prev.DTS)
			}
			break
		}
	}
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

func (s *fakeSession) snapshot() ([][]ingest.Track, []ingest.AccessUnit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([][]ingest.Track(nil), s.starts...), append([]ingest.AccessUnit(nil), s.aus...), s.violated
}

// auStats summarises the access units of one track.
type auStats struct {
	count, keys int
	firstKey    bool // the first access unit is a keyframe
	minDTS      int64
	maxDTS      int64
	bFrames     int // PTS > DTS
}

func statsOf(aus []ingest.AccessUnit, track int) auStats {
	var st auStats
	for _, au := range aus {
		if au.Track != track {
			continue
		}
		if st.count == 0 {
			st.firstKey, st.minDTS = au.Key, au.DTS
		}
		st.count++
		if au.Key {
			st.keys++
		}
		if au.PTS > au.DTS {
			st.bFrames++
		}
		st.minDTS, st.maxDTS = min(st.minDTS, au.DTS), max(st.maxDTS, au.DTS)
	}
	return st
}

// readCapture reads a TS capture from testdata (see testdata/README.md).
func readCapture(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// goCaller is an SRT caller in Go (gosrt), whichever transport the server
// uses.
type goCaller struct {
	gosrt.Conn
}

// dial connects a caller; passphrase "" means no encryption.
func dial(addr, streamID, passphrase string, keyLen int) (*goCaller, error) {
	cfg := gosrt.DefaultConfig()
	cfg.StreamId = streamID
	cfg.Passphrase = passphrase
	if keyLen > 0 {
		cfg.PBKeylen = keyLen
	}
	c, err := gosrt.Dial("srt", addr, cfg)
	if err != nil {
		return nil, err
	}
	return &goCaller{c}, nil
}

// send writes data in 1316-byte messages, one a millisecond: SRT live mode
// sends at the pace it is given and has only a small queue.
func (c *goCaller) send(data []byte, stop <-chan struct{}) error {
	tick := time.NewTicker(time.Millisecond)
	defer tick.Stop()
	for len(data) > 0 {
		n := min(1316, len(data))
		if _, err := c.Write(data[:n]); err != nil {
			return err
		}
		data = data[n:]
		select {
		case <-stop:
			return nil
		case <-tick.C:
		}
	}
	return nil
}

var rejectRE = regexp.MustCompile(`REJECT \(([0-9a-v]+)\)`)

// rejectCode extracts the rejection reason from a gosrt dial error (gosrt
// prints the handshake type, 1000 + reason, in base 32).
func rejectCode(err error) rejectReason {
	if err == nil {
		return 0
	}
	m := rejectRE.FindStringSubmatch(err.Error())
	if m == nil {
		return -1
	}
	v, _ := strconv.ParseUint(m[1], 32, 32)
	return rejectReason(v) - 1000
}
