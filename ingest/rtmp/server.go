package rtmp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	gortmp "github.com/yutopp/go-rtmp"

	"github.com/liveorigin/liveorigin/ingest"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr is the TCP address to listen on. Default ":1935".
	Addr string
	// TLSAddr is the TCP address of the RTMPS listener: RTMP inside TLS
	// (rtmps://HOST/live), the same publishing as on Addr. Default: none.
	TLSAddr string
	// TLSConfig is the RTMPS listener's TLS configuration (its certificate).
	// Required with TLSAddr.
	TLSConfig *tls.Config
	// Publisher receives the published streams. Required.
	Publisher ingest.Publisher
	// Logger receives connection and publish events. Default: discard.
	Logger *slog.Logger
	// Registerer registers the liveorigin_rtmp_* metrics. Default: the
	// metrics are kept but not registered anywhere.
	Registerer prometheus.Registerer
	// HandshakeTimeout bounds the RTMP handshake. Default 10s.
	HandshakeTimeout time.Duration
	// ReadTimeout cuts off a publisher that sends nothing for this long
	// (and one that does not read what we send). Default 30s.
	ReadTimeout time.Duration
	// MaxTagSize is the largest FLV tag accepted; a bigger one ends the
	// connection. Default 8 MiB.
	MaxTagSize int
	// ProbeTimeout is how much media, by its timestamps, is buffered while
	// waiting for the sequence header of an expected track before the
	// stream starts with the tracks known. Default 2s.
	ProbeTimeout time.Duration
}

// Option defaults.
const (
	DefaultAddr             = ":1935"
	DefaultHandshakeTimeout = 10 * time.Second
	DefaultReadTimeout      = 30 * time.Second
	DefaultMaxTagSize       = 8 << 20
	DefaultProbeTimeout     = 2 * time.Second
)

// Error and refusal reasons (metric label values).
const (
	reasonAccept      = "accept"
	reasonHandshake   = "handshake"
	reasonReadTimeout = "read_timeout"
	reasonProtocol    = "protocol"
	reasonPanic       = "panic"
	reasonOversizeTag = "oversize_tag"

	refuseBadApp            = "bad_app"
	refuseBadName           = "bad_name"
	refuseAlreadyPublishing = "already_publishing"
	refuseShuttingDown      = "shutting_down"
	refuseRefused           = "refused"
	refuseOther             = "other"
)

// ErrServerClosed is returned by Listen and Serve after Close.
var ErrServerClosed = errors.New("rtmp: server closed")

// ErrTLSListen is wrapped by the error of Listen when the RTMPS address
// could not be bound (the RTMP one could).
var ErrTLSListen = errors.New("rtmps: listen")

// Server accepts RTMP publishers (OBS, ffmpeg: rtmp://HOST/live, stream
// key NAME) and hands their streams to the Publisher.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	lib     *gortmp.Server // serves ln
	tlsLib  *gortmp.Server // serves tlsLn; nil without TLSAddr

	// ctx is the parent of every publish session; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	ln        *listener
	tlsLn     *listener // RTMPS; nil without TLSAddr
	conns     map[*conn]struct{}
	closed    bool
	serving   bool
	serveDone chan struct{}
	connWG    sync.WaitGroup // one per tracked conn

	// onConnEnd, when set (by tests, before Serve), learns how each
	// connection ended.
	onConnEnd func(remote, reason string, cause error)
}

// New validates the options and builds a Server. Call Listen (optional) and
// Serve.
func New(o Options) (*Server, error) {
	if o.Publisher == nil {
		return nil, errors.New("rtmp: Options.Publisher is required")
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"HandshakeTimeout", &o.HandshakeTimeout, DefaultHandshakeTimeout},
		{"ReadTimeout", &o.ReadTimeout, DefaultReadTimeout},
		{"ProbeTimeout", &o.ProbeTimeout, DefaultProbeTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("rtmp: Options.%s is negative (%s)", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
	}
	if (o.TLSAddr == "") != (o.TLSConfig == nil) {
		return nil, errors.New("rtmp: Options.TLSAddr and TLSConfig go together")
	}
	if o.MaxTagSize < 0 {
		return nil, fmt.Errorf("rtmp: Options.MaxTagSize is negative (%d)", o.MaxTagSize)
	}
	if o.MaxTagSize == 0 {
		o.MaxTagSize = DefaultMaxTagSize
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
		conns:     map[*conn]struct{}{},
		serveDone: make(chan struct{}),
	}
	s.lib = gortmp.NewServer(&gortmp.ServerConfig{OnConnect: s.onConnect})
	if o.TLSAddr != "" {
		// go-rtmp serves one listener per server; both hand their
		// connections to the same onConnect.
		s.tlsLib = gortmp.NewServer(&gortmp.ServerConfig{OnConnect: s.onConnect})
	}
	return s, nil
}

// Listen binds the listen addresses, so that Addr and TLSAddr report the
// ports chosen for ":0". Serve calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return errors.New("rtmp: already listening")
	}
	ln, err := net.Listen("tcp", s.opts.Addr)
	if err != nil {
		return fmt.Errorf("rtmp: listen: %w", err)
	}
	if s.opts.TLSAddr != "" {
		raw, err := net.Listen("tcp", s.opts.TLSAddr)
		if err != nil {
			_ = ln.Close()
			return fmt.Errorf("%w: %w", ErrTLSListen, err)
		}
		// The TLS handshake runs on the connection's goroutine, at its
		// first read, within HandshakeTimeout (onConnect).
		s.tlsLn = &listener{Listener: tls.NewListener(raw, s.opts.TLSConfig), s: s, done: make(chan struct{}), tls: true}
		s.log.Info("rtmps listening", "addr", raw.Addr().String())
	}
	s.ln = &listener{Listener: ln, s: s, done: make(chan struct{})}
	s.log.Info("rtmp listening", "addr", ln.Addr().String())
	return nil
}

// TLSAddr returns the bound RTMPS address, or nil before Listen and
// without Options.TLSAddr.
func (s *Server) TLSAddr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.tlsLn == nil {
		return nil
	}
	return s.tlsLn.Addr()
}

// Addr returns the bound address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts connections until Close, then returns nil.
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
		return errors.New("rtmp: already serving")
	}
	s.serving = true
	ln, tlsLn := s.ln, s.tlsLn
	s.mu.Unlock()
	defer close(s.serveDone)

	// Both accept loops return only once closed (listener.Accept).
	tlsDone := make(chan error, 1)
	if tlsLn != nil {
		go func() { tlsDone <- s.tlsLib.Serve(tlsLn) }()
	} else {
		tlsDone <- nil
	}
	err := s.lib.Serve(ln)
	if tlsErr := <-tlsDone; err == nil {
		err = tlsErr
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return nil
	}
	return fmt.Errorf("rtmp: serve: %w", err)
}

// Close stops accepting, ends every connection (each publish session is
// closed with an error wrapping ingest.ErrClosed) and waits for their
// goroutines and for Serve to return.
func (s *Server) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		s.wait()
		return nil
	}
	s.closed = true
	conns := make([]*conn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	lns := []*listener{s.ln, s.tlsLn}
	s.mu.Unlock()

	s.cancel()
	// go-rtmp's Close marks the server done before closing the listener,
	// so its accept loop returns instead of retrying.
	_ = s.lib.Close()
	if s.tlsLib != nil {
		_ = s.tlsLib.Close()
	}
	for _, ln := range lns {
		if ln != nil {
			ln.close()
		}
	}
	for _, c := range conns {
		c.cut()
	}
	s.wait()
	return nil
}

func (s *Server) wait() {
	s.connWG.Wait()
	s.mu.Lock()
	serving := s.serving
	s.mu.Unlock()
	if serving {
		<-s.serveDone
	}
}

// track registers an accepted connection; false once the server closes.
func (s *Server) track(nc net.Conn) (*conn, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return nil, false
	}
	c := &conn{Conn: nc, s: s, readTimeout: s.opts.ReadTimeout, guard: newChunkGuard(s.opts.MaxTagSize)}
	s.conns[c] = struct{}{}
	s.connWG.Add(1)
	s.metrics.connections.Inc()
	s.metrics.connectionsActive.Inc()
	return c, true
}

func (s *Server) untrack(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.metrics.connectionsActive.Dec()
	s.connWG.Done()
}

// onConnect is go-rtmp's per-connection hook, on the connection's own
// goroutine (go-rtmp starts it; conn.Close tells us when it ends).
func (s *Server) onConnect(nc net.Conn) (io.ReadWriteCloser, *gortmp.ConnConfig) {
	c := nc.(*conn) // our listener returns only *conn
	_ = c.SetDeadline(time.Now().Add(s.opts.HandshakeTimeout))
	logger, lib := newLibraryLogger()
	h := newHandler(s, c, lib)
	return c, &gortmp.ConnConfig{
		Handler: h,
		// Like nginx-rtmp, accept any C2 echo: some encoders get it wrong
		// and it protects nothing.
		SkipHandshakeVerification: true,
		ReaderBufferSize:          64 << 10,
		Logger:                    logger,
		ControlState: gortmp.StreamControlStateConfig{
			// Bounds go-rtmp's per-connection maps against hostile peers.
			MaxChunkStreams:   maxChunkStreams,
			MaxMessageStreams: 8,
		},
	}
}

// maxChunkStreams bounds the chunk streams of a connection.
const maxChunkStreams = 64

// listener hands go-rtmp tracked connections. It only returns an error once
// closed: go-rtmp's accept loop retries errors at once, so temporary ones
// (too many open files) are retried here with a backoff.
type listener struct {
	net.Listener
	s    *Server
	tls  bool // RTMPS
	once sync.Once
	done chan struct{}
}

func (l *listener) Accept() (net.Conn, error) {
	var backoff time.Duration
	for {
		nc, err := l.Listener.Accept()
		if err != nil {
			select {
			case <-l.done:
				return nil, net.ErrClosed
			default:
			}
			backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
			l.s.metrics.errors.WithLabelValues(reasonAccept).Inc()
			l.s.log.Warn("rtmp accept failed; retrying", "error", err.Error(), "retry_in", backoff.String())
			t := time.NewTimer(backoff)
			select {
			case <-l.done:
				t.Stop()
				return nil, net.ErrClosed
			case <-t.C:
			}
			continue
		}
		c, ok := l.s.track(nc)
		if !ok {
			_ = nc.Close()
			return nil, net.ErrClosed
		}
		l.s.log.Debug("rtmp connection accepted", "remote", nc.RemoteAddr().String(), "tls", l.tls)
		return c, nil
	}
}

// Close is called by go-rtmp's Server.Close and Serve.
func (l *listener) Close() error {
	l.close()
	return nil
}

func (l *listener) close() {
	l.once.Do(func() {
		close(l.done)
		_ = l.Listener.Close()
	})
}
