package rtsp

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bluenviron/gortsplib/v5"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr is the RTSP (TCP) listen address. Default ":8554".
	Addr string
	// UDPRTPAddr is the UDP address for RTP of RECORD over UDP: an even
	// port, with RTCP on UDPRTCPAddr, the next port. Set both or neither;
	// "" disables UDP and publishers use TCP. The configuration's default
	// is DefaultUDPRTPAddr and DefaultUDPRTCPAddr.
	UDPRTPAddr string
	// UDPRTCPAddr is the UDP address for RTCP: UDPRTPAddr's port + 1.
	UDPRTCPAddr string
	// Publisher receives the published and pulled streams. Required.
	Publisher ingest.Publisher
	// Pulls are the cameras pulled while the server runs. Default none.
	Pulls []Pull
	// RetryMin and RetryMax bound the exponential backoff (with jitter)
	// between attempts of a pull. Defaults 1s and 30s.
	RetryMin, RetryMax time.Duration
	// ReadTimeout ends a session (push or pull) that receives nothing for
	// this long, and one that receives packets but no usable media for
	// three times as long; a connection that sends no request for this
	// long is closed. Default 10s.
	ReadTimeout time.Duration
	// Logger receives session events. Default: discard.
	Logger *slog.Logger
	// Registerer registers the liveorigin_rtsp_* metrics. Default: the
	// metrics are kept but not registered anywhere.
	Registerer prometheus.Registerer
}

// Option defaults.
const (
	DefaultAddr        = ":8554"
	DefaultUDPRTPAddr  = ":8000"
	DefaultUDPRTCPAddr = ":8001"
	DefaultRetryMin    = time.Second
	DefaultRetryMax    = 30 * time.Second
	DefaultReadTimeout = 10 * time.Second
)

// noMediaFactor: a session without usable media for this many ReadTimeouts
// ends (a camera's keyframe interval can be several seconds).
const noMediaFactor = 3

// Error and refusal reasons (metric label values).
const (
	reasonAccept           = "accept"
	reasonReadTimeout      = "read_timeout"
	reasonProtocol         = "protocol"
	reasonPanic            = "panic"
	reasonSession          = "session"
	reasonBadMedia         = "bad_media"
	reasonBadSequence      = "bad_sequence"
	reasonBadTimestamp     = "bad_timestamp"
	reasonBadParameterSets = "bad_parameter_sets"
	reasonNoMedia          = "no_media"

	refuseBadApp            = "bad_app"
	refuseBadName           = "bad_name"
	refuseAlreadyPublishing = "already_publishing"
	refuseShuttingDown      = "shutting_down"
	refuseRefused           = "refused"
	refuseNoSupportedTrack  = "no_supported_track"
	refuseBadSDP            = "bad_sdp"
	refuseRead              = "read"
	refuseOther             = "other"
)

// ErrServerClosed is returned by Listen and Serve after Close.
var ErrServerClosed = errors.New("rtsp: server closed")

// Server accepts RTSP publishers (ANNOUNCE/RECORD to
// rtsp://HOST:8554/live/NAME, over TCP or UDP) and pulls cameras, and hands
// their streams to the Publisher.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// pullsMu serializes SetPulls.
	pullsMu sync.Mutex

	// ctx is the parent of every session and pull; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	ln        *listener
	udp       []*countingUDPConn // RTP, RTCP; owned by lib once started
	lib       *gortsplib.Server
	closed    bool
	serving   bool
	serveDone chan struct{}
	sessions  map[*gortsplib.ServerSession]*recordSession
	pulls     []*pullSource // sorted by name; started once serving
	pullWG    sync.WaitGroup

	// Test hooks, set before Serve.
	onSessionEnd func(end sessionEnd)
	onPullState  func(PullState)
	now          func() time.Time
}

// sessionEnd is how a publish session ended, for tests.
type sessionEnd struct {
	name, mode, reason string
	cause              error
}

// New validates the options and builds a Server. Call Listen (optional)
// and Serve.
func New(o Options) (*Server, error) {
	if o.Publisher == nil {
		return nil, errors.New("rtsp: Options.Publisher is required")
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if err := checkUDPPair(o.UDPRTPAddr, o.UDPRTCPAddr); err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"RetryMin", &o.RetryMin, DefaultRetryMin},
		{"RetryMax", &o.RetryMax, DefaultRetryMax},
		{"ReadTimeout", &o.ReadTimeout, DefaultReadTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("rtsp: Options.%s is negative (%s)", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if o.RetryMax < o.RetryMin {
		return nil, fmt.Errorf("rtsp: Options.RetryMax (%s) is less than RetryMin (%s)", o.RetryMax, o.RetryMin)
	}
	m, err := newMetrics(o.Registerer)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		opts:      o,
		log:       o.Logger,
		metrics:   m,
		ctx:       ctx,
		cancel:    cancel,
		serveDone: make(chan struct{}),
		sessions:  map[*gortsplib.ServerSession]*recordSession{},
		now:       time.Now,
	}
	pulls, err := s.newPulls(o.Pulls)
	if err != nil {
		cancel()
		return nil, err
	}
	s.pulls = pulls
	return s, nil
}

// checkUDPPair checks the UDP addresses: both or neither, RTP on an even
// port, RTCP on the next one (what RTSP clients assume).
func checkUDPPair(rtp, rtcp string) error {
	if rtp == "" && rtcp == "" {
		return nil
	}
	if rtp == "" || rtcp == "" {
		return errors.New("rtsp: set both Options.UDPRTPAddr and UDPRTCPAddr, or neither to disable UDP")
	}
	port := func(name, addr string) (int, error) {
		_, p, err := net.SplitHostPort(addr)
		if err != nil {
			return 0, fmt.Errorf("rtsp: Options.%s %q: %w", name, addr, err)
		}
		n, err := strconv.Atoi(p)
		if err != nil || n <= 0 || n > 65535 {
			return 0, fmt.Errorf("rtsp: Options.%s %q: want a port from 1 to 65535", name, addr)
		}
		return n, nil
	}
	rp, err := port("UDPRTPAddr", rtp)
	if err != nil {
		return err
	}
	cp, err := port("UDPRTCPAddr", rtcp)
	if err != nil {
		return err
	}
	if rp%2 != 0 || cp != rp+1 {
		return fmt.Errorf("rtsp: UDP ports %d and %d: RTP needs an even port and RTCP the next one (e.g. 8000 and 8001)", rp, cp)
	}
	return nil
}

// Listen binds the TCP address (and the UDP pair), so that Addr reports
// the port chosen for ":0". Serve calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return errors.New("rtsp: already listening")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("rtsp: listen: %w", err)
	}
	var udp []*countingUDPConn
	for _, addr := range []string{s.opts.UDPRTPAddr, s.opts.UDPRTCPAddr} {
		if addr == "" {
			break
		}
		pc, err := net.ListenPacket("udp", addr)
		if err != nil {
			_ = ln.Close()
			for _, c := range udp {
				_ = c.Close()
			}
			return fmt.Errorf("rtsp: listen udp: %w", err)
		}
		udp = append(udp, &countingUDPConn{UDPConn: pc.(*net.UDPConn), bytes: s.metrics.bytesReceived})
	}
	s.ln = newListener(ln, s)
	s.udp = udp
	attrs := []any{"addr", ln.Addr().String()}
	if len(udp) == 2 {
		attrs = append(attrs, "udp_rtp", udp[0].LocalAddr().String(), "udp_rtcp", udp[1].LocalAddr().String())
	}
	s.log.Info("rtsp listening", attrs...)
	return nil
}

// Addr returns the bound TCP address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts RTSP sessions and runs the pull sources until Close, then
// returns nil.
func (s *Server) Serve() error {
	s.mu.Lock()
	needListen := s.ln == nil
	s.mu.Unlock()
	if needListen {
		if err := s.Listen(); err != nil {
			return err
		}
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	if s.serving {
		s.mu.Unlock()
		return errors.New("rtsp: already serving")
	}
	lib := &gortsplib.Server{
		Handler:     &handler{s: s},
		RTSPAddress: s.ln.Addr().String(),
		ReadTimeout: s.opts.ReadTimeout,
		// A connection (or a session before RECORD) that sends nothing
		// for ReadTimeout is closed too, not after gortsplib's 60 s: it
		// would hold a connection for free.
		IdleTimeout: s.opts.ReadTimeout,
		// The sockets are bound by Listen; gortsplib gets them from here.
		// Each connection starts with a read deadline: gortsplib sets
		// none while it waits for the first bytes.
		Listen: func(string, string) (net.Listener, error) { return firstReadDeadline{s.ln, s.opts.ReadTimeout}, nil },
	}
	if len(s.udp) == 2 {
		lib.UDPRTPAddress = s.udp[0].LocalAddr().String()
		lib.UDPRTCPAddress = s.udp[1].LocalAddr().String()
		lib.ListenPacket = func(_, address string) (net.PacketConn, error) {
			for _, c := range s.udp {
				if c.LocalAddr().String() == address {
					return c, nil
				}
			}
			return nil, fmt.Errorf("rtsp: no bound UDP socket for %s", address)
		}
	}
	if err := lib.Start(); err != nil {
		s.mu.Unlock()
		return fmt.Errorf("rtsp: start: %w", err)
	}
	s.lib, s.serving = lib, true
	for _, p := range s.pulls {
		p.start(s.ctx)
	}
	s.mu.Unlock()
	defer close(s.serveDone)

	err := lib.Wait()
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("rtsp: serve: %w", err)
}

// Close stops accepting, ends every session (each publish session is
// closed with an error wrapping ingest.ErrClosed) and every pull, and
// waits for their goroutines and for Serve to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wait()
		return nil
	}
	s.closed = true
	lib, ln, udp := s.lib, s.ln, s.udp
	s.mu.Unlock()

	s.cancel()
	if lib != nil {
		lib.Close() // ends every session and closes the sockets
	} else {
		if ln != nil {
			_ = ln.Close()
		}
		for _, c := range udp {
			_ = c.Close()
		}
	}
	s.wait()
	return nil
}

func (s *Server) wait() {
	s.pullWG.Wait()
	s.mu.Lock()
	serving := s.serving
	s.mu.Unlock()
	if serving {
		<-s.serveDone
	}
}

// PullStates reports the state of every pull source, sorted by name, for
// the admin API. URLs and errors are redacted.
func (s *Server) PullStates() []PullState {
	s.mu.Lock()
	pulls := s.pulls
	s.mu.Unlock()
	out := make([]PullState, len(pulls))
	for i, p := range pulls {
		out[i] = p.snapshot()
	}
	return out
}

// newPulls validates pulls and builds their sources, sorted by name.
func (s *Server) newPulls(pulls []Pull) ([]*pullSource, error) {
	seen := map[string]bool{}
	out := make([]*pullSource, 0, len(pulls))
	for _, p := range pulls {
		if seen[p.Name] {
			return nil, fmt.Errorf("rtsp-pull %s: the name is configured twice", p.Name)
		}
		seen[p.Name] = true
		ps, err := newPullSource(s, p)
		if err != nil {
			return nil, err
		}
		out = append(out, ps)
	}
	slices.SortFunc(out, func(a, b *pullSource) int { return strings.Compare(a.name, b.name) })
	return out, nil
}

// SetPulls replaces the pull sources (a configuration reload). A source
// whose URL and transport are unchanged goes on untouched; a removed one
// stops (its session closes with an error wrapping ingest.ErrClosed, and
// the stream ends after the packager's reconnect grace); a changed one
// stops and starts again with the new URL (within the grace, its stream
// goes on with a discontinuity); a new one starts. An invalid list is an
// error and nothing changes. SetPulls returns once the stopped sources
// have ended.
func (s *Server) SetPulls(pulls []Pull) error {
	next, err := s.newPulls(pulls)
	if err != nil {
		return err
	}
	s.pullsMu.Lock()
	defer s.pullsMu.Unlock()

	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	keep := map[string]*pullSource{}
	for _, p := range s.pulls {
		keep[p.name] = p
	}
	var stopped, started []*pullSource
	for i, p := range next {
		if old, ok := keep[p.name]; ok && old.cfg == p.cfg {
			next[i] = old
			delete(keep, p.name)
			continue
		}
		started = append(started, p)
	}
	for _, p := range keep { // removed or changed
		stopped = append(stopped, p)
	}
	s.pulls = next
	serving := s.serving
	s.mu.Unlock()

	for _, p := range stopped {
		p.halt()
		p.log.Info("rtsp pull stopped by a configuration reload")
		s.metrics.pullState.DeletePartialMatch(prometheus.Labels{"name": p.name})
		s.metrics.pullRetries.DeleteLabelValues(p.name)
	}
	if !serving {
		return nil // Serve starts them
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil
	}
	for _, p := range started {
		p.log.Info("rtsp pull added by a configuration reload")
		p.start(s.ctx)
	}
	return nil
}

// listener hands gortsplib counted connections. gortsplib stops the whole
// server on an accept error, so temporary ones (too many open files) are
// retried here with a backoff; only a closed listener returns an error.
type listener struct {
	net.Listener
	s    *Server
	once sync.Once
	done chan struct{}
}

func newListener(ln net.Listener, s *Server) *listener {
	return &listener{Listener: ln, s: s, done: make(chan struct{})}
}

func (l *listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err == nil {
			return &countingConn{Conn: nc, bytes: l.s.metrics.bytesReceived}, nil
		}
		select {
		case <-l.done:
			return nil, net.ErrClosed
		default:
		}
		if errors.Is(err, net.ErrClosed) {
			return nil, err
		}
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		l.s.metrics.errors.WithLabelValues(reasonAccept).Inc()
		l.s.log.Warn("rtsp accept failed; retrying", "error", err.Error(), "retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-l.done:
			t.Stop()
			return nil, net.ErrClosed
		case <-t.C:
		}
	}
}

func (l *listener) Close() error {
	var err error
	l.once.Do(func() {
		close(l.done)
		err = l.Listener.Close()
	})
	return err
}

// countingConn counts the bytes read from a TCP connection and remembers
// whether reading stopped on the read deadline (gortsplib reports that only
// as the connection ending).
type countingConn struct {
	net.Conn
	bytes    prometheus.Counter
	timedOut atomic.Bool
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.bytes.Add(float64(n))
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		c.timedOut.Store(true)
	}
	return n, err
}

// countingUDPConn counts the bytes of received datagrams. It embeds
// *net.UDPConn because gortsplib needs its SetReadBuffer and SyscallConn.
type countingUDPConn struct {
	*net.UDPConn
	bytes prometheus.Counter
}

func (c *countingUDPConn) ReadFrom(p []byte) (int, net.Addr, error) {
	n, addr, err := c.UDPConn.ReadFrom(p)
	if n > 0 {
		c.bytes.Add(float64(n))
	}
	return n, addr, err
}

// firstReadDeadline gives each accepted connection a read deadline of d:
// one that never sends its first request is closed after d (gortsplib
// sets its own deadlines once the first bytes arrived).
type firstReadDeadline struct {
	net.Listener
	d time.Duration
}

func (l firstReadDeadline) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	_ = c.SetReadDeadline(time.Now().Add(l.d))
	return c, nil
}
