package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/bluenviron/gortsplib/v5/pkg/base"
	"github.com/pion/rtp"

	"github.com/liveorigin/liveorigin/ingest"
)

// Pull is a camera pulled into a stream while the server runs.
type Pull struct {
	// Name is the stream name (see ingest.ValidateName).
	Name string
	// URL is the camera's rtsp:// (or rtsps://) URL, credentials included:
	// rtsp://user:pass@camera:554/path. They are never logged.
	URL string
	// Transport is "tcp", "udp", or "" to let gortsplib choose (UDP, then
	// TCP when no UDP packet arrives).
	Transport string
}

// PullState is the state of a pull source, for the admin API.
type PullState struct {
	Name string `json:"name"`
	// URL is the camera URL with the user, password and query values
	// masked.
	URL string `json:"url"`
	// State is "connecting", "connected" or "retrying".
	State string `json:"state"`
	// LastError is why the last attempt failed or ended, redacted.
	LastError string `json:"last_error,omitempty"`
	// Retries counts the attempts that failed or ended.
	Retries int `json:"retries"`
	// Since is when State was entered.
	Since time.Time `json:"since"`
}

// Pull states.
const (
	stateConnecting = "connecting"
	stateConnected  = "connected"
	stateRetrying   = "retrying"
)

// pullSource runs one Pull: connect, publish, and reconnect with backoff
// when the camera goes away. Its goroutine is owned by the Server.
type pullSource struct {
	s        *Server
	cfg      Pull // as configured, to tell a changed source on SetPulls
	name     string
	u        *base.URL
	red      redactor
	protocol *gortsplib.Protocol
	log      *slog.Logger

	mu    sync.Mutex
	state PullState

	// stop ends run (set when it starts); done is closed when run returns.
	stop context.CancelFunc
	done chan struct{}
}

func newPullSource(s *Server, p Pull) (*pullSource, error) {
	if err := ingest.ValidateName(p.Name); err != nil {
		return nil, fmt.Errorf("rtsp-pull %s: %w", p.Name, err)
	}
	u, err := url.Parse(p.URL)
	if err != nil {
		return nil, fmt.Errorf("rtsp-pull %s: invalid URL %s: want rtsp://[user:pass@]host[:port]/path", p.Name, redactRaw(p.URL))
	}
	red := newRedactor(u)
	if u.Scheme != "rtsp" && u.Scheme != "rtsps" {
		return nil, fmt.Errorf("rtsp-pull %s: URL %s: want an rtsp:// or rtsps:// URL", p.Name, red.url())
	}
	if u.Host == "" || u.Hostname() == "" {
		return nil, fmt.Errorf("rtsp-pull %s: URL %s has no host", p.Name, red.url())
	}
	var protocol *gortsplib.Protocol
	switch strings.ToLower(p.Transport) {
	case "":
	case "tcp":
		protocol = new(gortsplib.ProtocolTCP)
	case "udp":
		protocol = new(gortsplib.ProtocolUDP)
	default:
		return nil, fmt.Errorf("rtsp-pull %s: transport %q: want \"tcp\", \"udp\" or empty (automatic)", p.Name, p.Transport)
	}
	ps := &pullSource{
		s:        s,
		cfg:      p,
		name:     p.Name,
		u:        (*base.URL)(u),
		red:      red,
		protocol: protocol,
		log:      s.log.With("stream", p.Name, "url", red.url()),
		state:    PullState{Name: p.Name, URL: red.url(), State: stateConnecting, Since: s.now()},
		done:     make(chan struct{}),
	}
	return ps, nil
}

// start runs the source on its own goroutine until parent ends or
// halt is called. Called with s.mu held.
func (p *pullSource) start(parent context.Context) {
	if p.stop != nil {
		return // Serve started it while SetPulls was waiting
	}
	p.s.metrics.setPullState(p.name, stateConnecting)
	p.s.metrics.pullRetries.WithLabelValues(p.name) // a series from the start, for rate()
	ctx, cancel := context.WithCancel(parent)
	p.stop = cancel
	p.s.pullWG.Add(1)
	go func() {
		defer close(p.done)
		p.run(ctx)
	}()
}

// halt ends a started source: its session, if any, closes with an error
// wrapping ingest.ErrClosed, and its goroutine ends before halt returns.
func (p *pullSource) halt() {
	if p.stop == nil {
		return
	}
	p.stop()
	<-p.done
}

func (p *pullSource) snapshot() PullState {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.state
}

// setState moves to state; err (redacted) becomes LastError when non-nil.
func (p *pullSource) setState(state string, err error, retry bool) {
	p.mu.Lock()
	if state != p.state.State {
		p.state.State, p.state.Since = state, p.s.now()
	}
	if err != nil {
		p.state.LastError = p.red.err(err)
	}
	if retry {
		p.state.Retries++
	}
	snap := p.state
	p.mu.Unlock()
	p.s.metrics.setPullState(p.name, state)
	if retry {
		p.s.metrics.pullRetries.WithLabelValues(p.name).Inc()
	}
	if p.s.onPullState != nil {
		p.s.onPullState(snap)
	}
}

// run pulls until ctx ends.
func (p *pullSource) run(ctx context.Context) {
	defer p.s.pullWG.Done()
	attempt := 0
	for {
		p.setState(stateConnecting, nil, false)
		delivered, err := p.connect(ctx)
		if ctx.Err() != nil {
			return
		}
		if delivered {
			attempt = 0 // the camera worked: start the backoff over
		}
		attempt++
		delay := backoff(attempt, p.s.opts.RetryMin, p.s.opts.RetryMax)
		p.setState(stateRetrying, err, true)
		p.log.Warn("rtsp pull failed; retrying", "error", p.red.err(err), "retry_in", delay.Round(time.Millisecond).String())
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return
		case <-t.C:
		}
	}
}

// backoff is the wait before the attempt-th retry: RetryMin doubled per
// failed attempt, capped at RetryMax, with ±20% jitter so that cameras
// behind one failed switch do not come back in lockstep.
func backoff(attempt int, lo, hi time.Duration) time.Duration {
	d := lo
	for i := 1; i < attempt && d < hi; i++ {
		d *= 2
	}
	d = min(d, hi)
	d = time.Duration(float64(d) * (0.8 + 0.4*rand.Float64()))
	return min(max(d, lo), hi)
}

// connect runs one connection to the camera: DESCRIBE, SETUP of the
// supported medias, Publish, PLAY, and the stream until it ends.
// delivered reports whether media reached the packager.
func (p *pullSource) connect(ctx context.Context) (delivered bool, err error) {
	var demux atomic.Pointer[demuxer]
	failed := make(chan struct{})
	c := p.newClient(&demux)
	if err := c.Start(); err != nil {
		return false, fmt.Errorf("start: %w", err)
	}
	// Requests block for up to ReadTimeout; closing the client ends them
	// at once on shutdown or when the demuxer gives up.
	stop, watchDone := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(watchDone)
		select {
		case <-ctx.Done():
		case <-failed:
		case <-stop:
		}
		c.Close()
	}()
	defer func() {
		close(stop)
		<-watchDone
	}()

	desc, _, err := c.Describe(p.u)
	if err != nil {
		return false, p.redacted(fmt.Errorf("describe: %w", err))
	}
	tracks, ignored, err := planTracks(desc)
	if err != nil {
		return false, err
	}
	for _, ig := range ignored {
		p.log.Warn("rtsp pull ignoring unsupported media", "media", ig)
	}
	for _, t := range tracks {
		if _, err := c.Setup(desc.BaseURL, t.media, 0, 0); err != nil {
			return false, p.redacted(fmt.Errorf("setup: %w", err))
		}
	}
	sess, err := p.s.opts.Publisher.Publish(ctx, ingest.PublishInfo{Name: p.name, Protocol: ingest.ProtocolRTSPPull, RemoteAddr: p.u.Host})
	if err != nil {
		return false, fmt.Errorf("publish: %w", err)
	}
	log := p.log.With("session", ingest.SessionID(sess))
	p.s.metrics.sessions.WithLabelValues(modePull).Inc()
	p.s.metrics.sessionsActive.WithLabelValues(modePull).Inc()
	defer p.s.metrics.sessionsActive.WithLabelValues(modePull).Dec()
	var once sync.Once
	d := newDemuxer(sess, tracks, log, p.s.metrics, noMediaFactor*p.s.opts.ReadTimeout, func() { once.Do(func() { close(failed) }) })
	d.now = p.s.now
	demux.Store(d)
	for _, t := range tracks {
		c.OnPacketRTP(t.media, t.format, func(pkt *rtp.Packet) { d.packet(t, pkt) })
	}
	begin := p.s.now()
	if _, err := c.Play(nil); err != nil {
		cause := p.redacted(fmt.Errorf("play: %w", err))
		d.close(cause)
		return false, cause
	}
	p.setState(stateConnected, nil, false)
	transport := "unknown"
	if tr := c.Transport(); tr != nil && tr.Session != nil {
		transport = strings.ToLower(tr.Session.Protocol.String())
	}
	log.Info("rtsp pull connected", "transport", transport, "tracks", d.describe())

	waitErr := c.Wait()
	var cause error
	switch {
	case ctx.Err() != nil:
		cause = fmt.Errorf("rtsp: %w", ingest.ErrClosed)
	case d.failed():
		// d.close reports the demuxer's failure.
	default:
		cause = p.redacted(fmt.Errorf("camera connection lost: %w", waitErr))
	}
	cause = d.close(cause)
	failure, written := d.result()
	attrs := []any{"access_units", written, "duration", p.s.now().Sub(begin).Round(time.Millisecond).String()}
	if failure != nil {
		p.s.metrics.errors.WithLabelValues(failure.reason).Inc()
		log.Warn("rtsp pull session ended by an error", append(attrs, "reason", failure.reason, "error", p.red.err(failure))...)
	} else {
		log.Info("rtsp pull session ended", append(attrs, "cause", p.red.err(cause))...)
	}
	if p.s.onSessionEnd != nil {
		reason := ""
		if failure != nil {
			reason = failure.reason
		}
		p.s.onSessionEnd(sessionEnd{name: p.name, mode: modePull, reason: reason, cause: cause})
	}
	if errors.Is(cause, ingest.ErrClosed) {
		return written > 0, nil
	}
	return written > 0, cause
}

// newClient configures a client for the camera: counted sockets, and
// gortsplib's reports of bad input routed to the demuxer once there is one.
func (p *pullSource) newClient(demux *atomic.Pointer[demuxer]) *gortsplib.Client {
	return &gortsplib.Client{
		Scheme:      p.u.Scheme,
		Host:        p.u.Host,
		Protocol:    p.protocol,
		ReadTimeout: p.s.opts.ReadTimeout,
		DialContext: func(ctx context.Context, network, address string) (net.Conn, error) {
			nc, err := (&net.Dialer{}).DialContext(ctx, network, address)
			if err != nil {
				return nil, err
			}
			return &countingConn{Conn: nc, bytes: p.s.metrics.bytesReceived}, nil
		},
		ListenPacket: func(network, address string) (net.PacketConn, error) {
			pc, err := net.ListenPacket(network, address)
			if err != nil {
				return nil, err
			}
			return &countingUDPConn{UDPConn: pc.(*net.UDPConn), bytes: p.s.metrics.bytesReceived}, nil
		},
		OnPacketsLost: func(lost uint64) { p.s.metrics.packetsLost.Add(float64(lost)) },
		OnDecodeError: func(err error) {
			if d := demux.Load(); d != nil {
				d.decodeError(err)
			}
		},
		OnTransportSwitch: func(err error) {
			p.log.Info("rtsp pull switching transport", "reason", p.red.err(err))
		},
	}
}

// redacted hides the credentials in an error that may quote the URL; the
// original stays reachable with errors.Is and errors.As.
func (p *pullSource) redacted(err error) error {
	return &redactedError{msg: p.red.err(err), err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
