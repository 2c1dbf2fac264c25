package limits

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// newRegistry is a real packager behind the limits.
func newRegistry(t testing.TB, o packager.Options) *packager.Registry {
	t.Helper()
	o.Logger = slog.New(slog.DiscardHandler)
	o.Registerer = prometheus.NewRegistry()
	r, err := packager.NewRegistry(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.Close)
	return r
}

func aacTrack(t testing.TB) ingest.Track {
	t.Helper()
	tr, err := ingest.AACTrack([]byte{0x11, 0x90}, 48000) // AAC-LC, 48 kHz, stereo
	if err != nil {
		t.Fatal(err)
	}
	return tr
}

func publishFrom(p *Publisher, name, remote string) (ingest.Session, error) {
	return p.Publish(context.Background(), ingest.PublishInfo{Name: name, Protocol: "rtmp", RemoteAddr: remote})
}

func TestPublishersPerAddress(t *testing.T) {
	e := newEnv(t)
	p := NewPublisher(newRegistry(t, packager.Options{MaxStreams: 5}), e.hits, PublisherLimits{MaxPerAddress: 2})
	mustPublish := func(name, remote string) ingest.Session {
		t.Helper()
		s, err := publishFrom(p, name, remote)
		if err != nil {
			t.Fatalf("publish %s from %s: %v", name, remote, err)
		}
		return s
	}
	a := mustPublish("a", "192.0.2.1:1000")
	b := mustPublish("b", "192.0.2.1:1001")
	if _, err := publishFrom(p, "c", "192.0.2.1:1002"); !errors.Is(err, ingest.ErrRefused) ||
		!strings.Contains(err.Error(), "max-publishers-per-address") {
		t.Fatalf("third publisher from one address: %v, want a refusal naming max-publishers-per-address", err)
	}
	d := mustPublish("d", "192.0.2.2:1000") // another address
	if got := e.count(t, PublishersPerAddress); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if l := e.logLines(`"limit":"publishers_per_address"`, `"stream":"c"`, `"remote":"192.0.2.1:1002"`); len(l) != 1 {
		t.Errorf("want one log line naming the stream and the address, log:\n%s", e.logs.String())
	}

	// A closed session frees its place, once however often it is closed.
	a.Close(nil)
	a.Close(nil)
	c := mustPublish("c", "192.0.2.1:1002")
	if _, err := publishFrom(p, "e", "192.0.2.1:1003"); !errors.Is(err, ingest.ErrRefused) {
		t.Fatalf("publisher beyond the maximum after a close: %v", err)
	}

	// A reload raises the maximum: the next publisher gets in.
	p.SetLimits(PublisherLimits{MaxPerAddress: 3})
	e2 := mustPublish("e", "192.0.2.1:1003")

	// The packager's max-streams (5: a, b, c, d, e are held) refuses the
	// next one, counted as streams; its address place is given back.
	if _, err := publishFrom(p, "f", "192.0.2.3:1000"); !errors.Is(err, packager.ErrTooManyStreams) {
		t.Fatalf("sixth stream: %v, want ErrTooManyStreams", err)
	}
	if got := e.count(t, Streams); got != 1 {
		t.Errorf("streams hits = %v, want 1", got)
	}
	p.mu.Lock()
	if n := p.byHost["192.0.2.3"]; n != 0 {
		t.Errorf("a refused publisher holds %d places", n)
	}
	p.mu.Unlock()
	for _, s := range []ingest.Session{b, c, d, e2} {
		s.Close(nil)
	}
}

// Pulled cameras (configured by the operator) do not count per address:
// several may come from one NVR.
func TestPullsNotPerAddress(t *testing.T) {
	e := newEnv(t)
	p := NewPublisher(newRegistry(t, packager.Options{}), e.hits, PublisherLimits{MaxPerAddress: 1})
	for _, name := range []string{"cam1", "cam2"} {
		s, err := p.Publish(context.Background(), ingest.PublishInfo{Name: name, Protocol: "rtsp-pull", RemoteAddr: "10.0.0.9:554"})
		if err != nil {
			t.Fatalf("pull %s: %v", name, err)
		}
		defer s.Close(nil)
	}
	s, err := publishFrom(p, "g", "10.0.0.9:1000")
	if err != nil {
		t.Fatalf("a publisher from the NVR's address after two pulls: %v", err)
	}
	s.Close(nil)
}

// fakeClock is the bitrate windows' clock.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time { return c.t }

// A publisher sustaining twice the limit is cut off after about half the
// window (when the window's average crosses the limit); one below it goes
// on; a short burst (a key frame) does not count as sustained.
func TestIngestBitrate(t *testing.T) {
	e := newEnv(t)
	clock := &fakeClock{t: time.Unix(1_700_000_000, 0)}
	p := NewPublisher(newRegistry(t, packager.Options{}), e.hits, PublisherLimits{MaxBitrate: 800_000, BitrateWindow: 2 * time.Second})
	p.now = clock.now
	start := func(name, remote string) ingest.Session {
		t.Helper()
		s, err := publishFrom(p, name, remote)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Start([]ingest.Track{aacTrack(t)}); err != nil {
			t.Fatal(err)
		}
		return s
	}
	fast := start("fast", "192.0.2.1:1000") // 1000 B every 5 ms: 1.6 Mbit/s
	slow := start("slow", "192.0.2.2:1000") // 1000 B every 20 ms: 400 kbit/s
	burst := start("burst", "192.0.2.3:1000")
	var fastErr error
	var cutAt time.Duration
	for i := 0; i < 1000; i++ { // 5 s
		elapsed := time.Duration(i) * 5 * time.Millisecond
		clock.t = clock.t.Add(5 * time.Millisecond)
		au := ingest.AccessUnit{DTS: int64(i) * 240, PTS: int64(i) * 240, Key: true, Data: make([]byte, 1000)}
		if fastErr == nil {
			if fastErr = fast.WriteAU(au); fastErr != nil {
				cutAt = elapsed
			}
		}
		if i%4 == 0 {
			au.DTS, au.PTS = int64(i/4)*1024, int64(i/4)*1024
			if err := slow.WriteAU(au); err != nil {
				t.Fatalf("the publisher below the limit at %s: %v", elapsed, err)
			}
			// 80 kB at once every 2 s (128 Mbit/s for its 5 ms): with
			// the slow pace of the rest, 720 kbit/s over the window.
			if i%400 == 0 {
				au.Data = make([]byte, 80_000)
			}
			if err := burst.WriteAU(au); err != nil {
				t.Fatalf("the bursty publisher at %s: %v", elapsed, err)
			}
		}
	}
	if !errors.Is(fastErr, ErrExceeded) || !strings.Contains(fastErr.Error(), "max-ingest-bitrate 800 kbit/s") {
		t.Fatalf("fast publisher: %v, want ErrExceeded naming max-ingest-bitrate", fastErr)
	}
	// 1.6 Mbit/s fills the 2 s window's 800 kbit/s budget (200 kB) in 1 s.
	if cutAt < 950*time.Millisecond || cutAt > 1100*time.Millisecond {
		t.Errorf("cut off after %s, want about 1s", cutAt)
	}
	if got := e.count(t, IngestBitrate); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if l := e.logLines(`"limit":"ingest_bitrate"`, `"stream":"fast"`, `"max_kbps":800`); len(l) != 1 {
		t.Errorf("want one log line for the fast stream, log:\n%s", e.logs.String())
	}
	for _, s := range []ingest.Session{fast, slow, burst} {
		s.Close(nil)
	}
}

func TestMeterWindow(t *testing.T) {
	t0 := time.Unix(100, 0)
	m := newMeter(time.Second, t0)
	m.add(100, t0)
	if got := m.add(50, t0.Add(900*time.Millisecond)); got != 150 {
		t.Errorf("within the window: %d, want 150", got)
	}
	if got := m.add(10, t0.Add(1050*time.Millisecond)); got != 60 {
		t.Errorf("the first slot left the window: %d, want 60", got)
	}
	if got := m.add(1, t0.Add(time.Hour)); got != 1 {
		t.Errorf("after a long pause: %d, want 1", got)
	}
	if got := m.add(1, t0); got != 2 {
		t.Errorf("a clock step back: %d, want 2", got)
	}
}

// The packager's max-segment-size cut-off goes through the wrapper: it is
// counted, and the session's place is given back on Close.
func TestSegmentSizeCounted(t *testing.T) {
	e := newEnv(t)
	p := NewPublisher(newRegistry(t, packager.Options{MaxSegmentBytes: 64 << 10}), e.hits, PublisherLimits{MaxPerAddress: 1})
	s, err := publishFrom(p, "big", "192.0.2.1:1000")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start([]ingest.Track{aacTrack(t)}); err != nil {
		t.Fatal(err)
	}
	// 2000-byte AAC frames: a 2 s segment would hold 188 kB.
	for i := 0; ; i++ {
		err = s.WriteAU(ingest.AccessUnit{DTS: int64(i) * 1024, PTS: int64(i) * 1024, Key: true, Data: make([]byte, 2000)})
		if err != nil || i > 100 {
			break
		}
	}
	if !errors.Is(err, packager.ErrSegmentTooLarge) {
		t.Fatalf("WriteAU: %v, want ErrSegmentTooLarge", err)
	}
	s.Close(err)
	if got := e.count(t, SegmentSize); got != 1 {
		t.Errorf("hits = %v, want 1", got)
	}
	if l := e.logLines(`"limit":"segment_size"`, `"stream":"big"`); len(l) != 1 {
		t.Errorf("want one log line:\n%s", e.logs.String())
	}
	if _, err := publishFrom(p, "big", "192.0.2.1:1001"); err != nil {
		t.Errorf("the address's place was not given back: %v", err)
	}
}

// The wrapper passes the session id and the link statistics on to the
// packager's session.
func TestSessionCapabilities(t *testing.T) {
	e := newEnv(t)
	r := newRegistry(t, packager.Options{})
	p := NewPublisher(r, e.hits, PublisherLimits{})
	s, err := p.Publish(context.Background(), ingest.PublishInfo{Name: "cap", Protocol: "srt", RemoteAddr: "192.0.2.1:9", SessionID: "feedbeef"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close(nil)
	if id := ingest.SessionID(s); id != "feedbeef" {
		t.Errorf("SessionID = %q", id)
	}
	ingest.ReportLink(s, ingest.LinkStats{RTT: 42 * time.Millisecond})
	found := false
	for _, st := range r.Streams() {
		if st.Name == "cap" {
			found = true
			if st.Link == nil || st.Link.RTT != 0.042 {
				t.Errorf("link statistics %+v", st.Link)
			}
		}
	}
	if !found {
		t.Error("no stream cap")
	}
}
