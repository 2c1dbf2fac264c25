package limits

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/packager"
)

// ErrExceeded: a publisher went beyond a limit (a WriteAU error: the
// session ends).
var ErrExceeded = errors.New("limit exceeded")

// DefaultBitrateWindow is the sliding window of the bitrate limit when
// PublisherLimits.BitrateWindow is 0.
const DefaultBitrateWindow = 5 * time.Second

// PublisherLimits are the ingest limits; 0 means unlimited.
type PublisherLimits struct {
	// MaxPerAddress is the most publish sessions at once from one IP
	// address (across RTMP, SRT and RTSP); one more is refused. Cameras
	// pulled over RTSP (rtsp-pull) do not count.
	MaxPerAddress int
	// MaxBitrate, in bit/s, is the most media one session may send on
	// average over BitrateWindow; a session above it is cut off.
	MaxBitrate int64
	// BitrateWindow is the sliding window the bitrate is averaged over;
	// default DefaultBitrateWindow. A session keeps the window it started
	// with.
	BitrateWindow time.Duration
}

// Publisher enforces PublisherLimits in front of an ingest.Publisher.
type Publisher struct {
	next   ingest.Publisher
	hits   *Hits
	limits atomic.Pointer[PublisherLimits]
	// now is the clock of the bitrate windows (tests may replace it
	// before the first Publish).
	now func() time.Time

	mu     sync.Mutex
	byHost map[string]int // sessions per address
}

var _ ingest.Publisher = (*Publisher)(nil)

// NewPublisher wraps next with the limits l, counting hits on hits.
func NewPublisher(next ingest.Publisher, hits *Hits, l PublisherLimits) *Publisher {
	p := &Publisher{next: next, hits: hits, now: time.Now, byHost: make(map[string]int)}
	p.SetLimits(l)
	return p
}

// SetLimits puts l in effect (a reload): for the publishers that start from
// now on, and for the running sessions' bitrate.
func (p *Publisher) SetLimits(l PublisherLimits) {
	if l.BitrateWindow <= 0 {
		l.BitrateWindow = DefaultBitrateWindow
	}
	p.limits.Store(&l)
}

// Limits are the limits in effect.
func (p *Publisher) Limits() PublisherLimits { return *p.limits.Load() }

// pullProtocol is the PublishInfo.Protocol of the cameras liveorigin pulls
// itself (ingest/rtsp): configured by the operator, several may share a
// host (an NVR), so they do not count per address.
const pullProtocol = ingest.ProtocolRTSPPull

// Publish refuses a publisher whose address has MaxPerAddress sessions
// already (an error wrapping ingest.ErrRefused), then asks the wrapped
// Publisher.
func (p *Publisher) Publish(ctx context.Context, info ingest.PublishInfo) (ingest.Session, error) {
	l := p.limits.Load()
	if info.Protocol == pullProtocol {
		sess, err := p.next.Publish(ctx, info)
		if err != nil {
			return nil, p.refused(info, err)
		}
		return &session{Session: sess, p: p, name: info.Name, who: who(info), meter: newMeter(l.BitrateWindow, p.now())}, nil
	}
	host := ingest.RemoteHost(info.RemoteAddr)
	p.mu.Lock()
	if n := p.byHost[host]; l.MaxPerAddress > 0 && n >= l.MaxPerAddress {
		p.mu.Unlock()
		p.hits.Hit(PublishersPerAddress, "publish refused: too many publishers from one address",
			append(who(info), slog.Int("max", l.MaxPerAddress))...)
		return nil, fmt.Errorf("%w: %d publishers from %s already (max-publishers-per-address)", ingest.ErrRefused, n, host)
	}
	p.byHost[host]++
	p.mu.Unlock()

	sess, err := p.next.Publish(ctx, info)
	if err != nil {
		p.release(host)
		return nil, p.refused(info, err)
	}
	return &session{Session: sess, p: p, host: host, name: info.Name, who: who(info), meter: newMeter(l.BitrateWindow, p.now())}, nil
}

// refused counts a refusal by the wrapped Publisher that is a limit's.
func (p *Publisher) refused(info ingest.PublishInfo, err error) error {
	if errors.Is(err, packager.ErrTooManyStreams) {
		p.hits.Hit(Streams, "publish refused: too many streams", who(info)...)
	}
	return err
}

func (p *Publisher) release(host string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.byHost[host]--; p.byHost[host] <= 0 {
		delete(p.byHost, host)
	}
}

// session meters one publish session. Its methods run on the adapter's
// goroutine (ingest.Session); Close may come twice.
type session struct {
	ingest.Session
	p *Publisher
	// host is the address whose place the session holds; "" for a pull,
	// which holds none.
	host string
	// name is the stream's; who names the session in log lines (not its
	// query or credentials, which are secrets).
	name     string
	who      []slog.Attr
	meter    meter
	released atomic.Bool
}

// who names a publisher in log lines.
func who(info ingest.PublishInfo) []slog.Attr {
	return []slog.Attr{slog.String("stream", info.Name), slog.String("protocol", info.Protocol), slog.String("remote", info.RemoteAddr)}
}

// Unwrap and ReportLink pass the optional capabilities on
// (ingest.SessionID, ingest.ReportLink).
func (s *session) Unwrap() ingest.Session { return s.Session }

func (s *session) ReportLink(st ingest.LinkStats) { ingest.ReportLink(s.Session, st) }

func (s *session) WriteAU(au ingest.AccessUnit) error {
	if max := s.p.limits.Load().MaxBitrate; max > 0 {
		bits := s.meter.add(len(au.Data), s.p.now()) * 8
		if rate := bits * int64(time.Second) / int64(s.meter.window); rate > max {
			s.p.hits.Hit(IngestBitrate, "publisher cut off: ingest bitrate above the limit",
				append(slices.Clip(s.who), slog.Int64("kbps", rate/1000), slog.Int64("max_kbps", max/1000), slog.Duration("window", s.meter.window))...)
			return fmt.Errorf("%w: stream %s: %d kbit/s over the last %s, above max-ingest-bitrate %d kbit/s; lower the encoder's bitrate",
				ErrExceeded, s.name, rate/1000, s.meter.window, max/1000)
		}
	}
	err := s.Session.WriteAU(au)
	if errors.Is(err, packager.ErrSegmentTooLarge) {
		s.p.hits.Hit(SegmentSize, "publisher cut off: segment above the limit", s.who...)
	}
	return err
}

func (s *session) Close(err error) {
	s.Session.Close(err)
	if !s.released.Swap(true) && s.host != "" {
		s.p.release(s.host)
	}
}

// meterSlots is the resolution of the sliding window: it moves in steps of
// window/meterSlots.
const meterSlots = 10

// meter sums the bytes of the last window in meterSlots slots.
type meter struct {
	window time.Duration
	slot   time.Duration
	cur    int64 // index of the newest slot (time / slot)
	bytes  [meterSlots]int64
	total  int64
}

func newMeter(window time.Duration, now time.Time) meter {
	slot := max(window/meterSlots, time.Millisecond)
	return meter{window: slot * meterSlots, slot: slot, cur: now.UnixNano() / int64(slot)}
}

// add counts n bytes at now and returns the bytes of the window ending at
// now.
func (m *meter) add(n int, now time.Time) int64 {
	idx := now.UnixNano() / int64(m.slot)
	if idx > m.cur {
		// Slots that left the window are emptied (all of them after a
		// pause of a window or more).
		for i := m.cur + 1; i <= idx && i <= m.cur+meterSlots; i++ {
			m.total -= m.bytes[i%meterSlots]
			m.bytes[i%meterSlots] = 0
		}
		m.cur = idx
	}
	// A clock step back counts in the newest slot.
	m.bytes[m.cur%meterSlots] += int64(n)
	m.total += int64(n)
	return m.total
}
