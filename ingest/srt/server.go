package srt

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/liveorigin/liveorigin/ingest"
)

// Options configure a Server. Zero values take the documented defaults.
type Options struct {
	// Addr is the UDP address to listen on. Default ":9000".
	Addr string
	// Publisher receives the published streams. Required.
	Publisher ingest.Publisher
	// Passphrase is the passphrase every caller must encrypt with (AES-128,
	// -192 or -256: the caller's key length decides). Empty: callers must
	// not encrypt. SRT requires 10 to 79 characters.
	Passphrase string
	// StreamPassphrases are per-stream passphrases (by stream name); they
	// override Passphrase for that stream. Same length rule.
	StreamPassphrases map[string]string
	// Latency is the receiver latency (SRTO_RCVLATENCY): how long the
	// receiver waits for retransmissions. The caller may ask for more.
	// Default 120ms.
	Latency time.Duration
	// ReadTimeout cuts off a caller that sends nothing for this long, and
	// (3×ReadTimeout) one whose data yields no media. Default 10s.
	ReadTimeout time.Duration
	// Logger receives connection and publish events. Default: discard.
	Logger *slog.Logger
	// Registerer registers the liveorigin_srt_* metrics. Default: the
	// metrics are kept but not registered anywhere.
	Registerer prometheus.Registerer
}

// Option defaults.
const (
	DefaultAddr        = ":9000"
	DefaultLatency     = 120 * time.Millisecond
	DefaultReadTimeout = 10 * time.Second
)

// SRT's passphrase length rule (SRTO_PASSPHRASE).
const (
	minPassphraseLen = 10
	maxPassphraseLen = 79
)

// ErrServerClosed is returned by Listen and Serve after Close.
var ErrServerClosed = errors.New("srt: server closed")

// Server accepts SRT callers publishing MPEG-TS (ffmpeg, OBS,
// srt-live-transmit, hardware encoders: srt://HOST:9000?streamid=publish:live/NAME)
// and hands their streams to the Publisher.
type Server struct {
	opts    Options
	log     *slog.Logger
	metrics *metrics
	// secrets are the passphrases in use (Options.Passphrase and
	// StreamPassphrases at start); SetPassphrases replaces them.
	secrets atomic.Pointer[passphrases]

	// ctx is the parent of every publish session; Close cancels it.
	ctx    context.Context
	cancel context.CancelFunc

	mu        sync.Mutex
	ln        listener
	claimed   map[string]bool // stream names with an SRT publisher (or one being accepted)
	conns     map[*connection]struct{}
	closed    bool
	serving   bool
	serveDone chan struct{}
	closing   chan struct{}  // closed by Close
	connWG    sync.WaitGroup // one per tracked connection
	// handshakes counts the callers whose stream is being claimed (Serve
	// runs each on its own goroutine); hsSlots bounds them: beyond
	// maxHandshakes, Serve finishes the next one itself (backpressure).
	handshakes sync.WaitGroup
	hsSlots    chan struct{}

	// onConnEnd, when set (by tests, before Serve), learns how each
	// connection ended.
	onConnEnd func(name, reason string, cause error, bytes int64)
	// onRefused, when set (by tests, before Listen), learns every refusal
	// that is counted.
	onRefused func(reason string)
}

// New validates the options and builds a Server. Call Listen (optional) and
// Serve.
func New(o Options) (*Server, error) {
	if o.Publisher == nil {
		return nil, errors.New("srt: Options.Publisher is required")
	}
	if o.Addr == "" {
		o.Addr = DefaultAddr
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	secrets, err := newPassphrases(o.Passphrase, o.StreamPassphrases)
	if err != nil {
		return nil, err
	}
	for _, d := range []struct {
		name string
		v    *time.Duration
		def  time.Duration
	}{
		{"Latency", &o.Latency, DefaultLatency},
		{"ReadTimeout", &o.ReadTimeout, DefaultReadTimeout},
	} {
		if *d.v < 0 {
			return nil, fmt.Errorf("srt: Options.%s is negative (%s)", d.name, *d.v)
		}
		if *d.v == 0 {
			*d.v = d.def
		}
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
		claimed:   map[string]bool{},
		conns:     map[*connection]struct{}{},
		serveDone: make(chan struct{}),
		closing:   make(chan struct{}),
		hsSlots:   make(chan struct{}, maxHandshakes),
	}
	s.secrets.Store(secrets)
	return s, nil
}

// passphrases are what callers must encrypt with: one for every stream,
// and per-stream ones that override it. Immutable once built.
type passphrases struct {
	all       string
	perStream map[string]string
}

// newPassphrases checks SRT's length rule and the stream names.
func newPassphrases(all string, perStream map[string]string) (*passphrases, error) {
	if err := checkPassphrase(all); err != nil {
		return nil, fmt.Errorf("srt: srt-passphrase: %w", err)
	}
	ps := &passphrases{all: all, perStream: make(map[string]string, len(perStream))}
	for name, p := range perStream {
		if err := ingest.ValidateName(name); err != nil {
			return nil, fmt.Errorf("srt: srt-stream-passphrase %s: %w", name, err)
		}
		if p == "" {
			return nil, fmt.Errorf("srt: srt-stream-passphrase %s: empty (leave the stream out to use srt-passphrase)", name)
		}
		if err := checkPassphrase(p); err != nil {
			return nil, fmt.Errorf("srt: srt-stream-passphrase %s: %w", name, err)
		}
		ps.perStream[name] = p
	}
	return ps, nil
}

// forStream is the passphrase a caller publishing name must use; "" means
// it must not encrypt.
func (ps *passphrases) forStream(name string) string {
	if p, ok := ps.perStream[name]; ok {
		return p
	}
	return ps.all
}

func (ps *passphrases) any() bool { return ps.all != "" || len(ps.perStream) > 0 }

// SetPassphrases replaces the passphrases (a configuration reload): the
// callers that connect from now on use the new ones; connected callers go
// on (SRT keys a connection once, at its handshake). A passphrase that
// breaks SRT's length rule is an error and nothing changes.
func (s *Server) SetPassphrases(all string, perStream map[string]string) error {
	ps, err := newPassphrases(all, perStream)
	if err != nil {
		return err
	}
	s.secrets.Store(ps)
	return nil
}

// checkPassphrase applies SRT's rule: empty, or 10 to 79 characters.
func checkPassphrase(p string) error {
	if p != "" && (len(p) < minPassphraseLen || len(p) > maxPassphraseLen) {
		return fmt.Errorf("passphrase must be %d to %d characters, got %d", minPassphraseLen, maxPassphraseLen, len(p))
	}
	return nil
}

// Transport names the SRT implementation: "gosrt", or "libsrt" in a build
// with the libsrt tag.
func (s *Server) Transport() string { return transportName }

// Listen binds the listen address, so that Addr reports the port chosen
// for ":0". Serve calls it when it has not been called.
func (s *Server) Listen() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return ErrServerClosed
	}
	if s.ln != nil {
		return errors.New("srt: already listening")
	}
	ln, err := listen(listenConfig{
		addr:    s.opts.Addr,
		latency: s.opts.Latency,
		// Longer than ReadTimeout, so that a caller gone silent ends with
		// our read_timeout rather than the library's idle timeout.
		peerIdleTimeout: s.opts.ReadTimeout + 2*time.Second,
		gate:            s,
		log:             s.log,
	})
	if err != nil {
		return fmt.Errorf("srt: listen on %s: %w", s.opts.Addr, err)
	}
	s.ln = ln
	s.log.Info("srt listening", "addr", ln.Addr().String(), "transport", transportName,
		"latency", s.opts.Latency.String(), "encryption", s.secrets.Load().any())
	return nil
}

// Addr returns the bound UDP address, or nil before Listen.
func (s *Server) Addr() net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.ln == nil {
		return nil
	}
	return s.ln.Addr()
}

// Serve accepts callers until Close, then returns nil.
func (s *Server) Serve() error {
	s.mu.Lock()
	needListen := s.ln == nil && !s.closed
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
		return errors.New("srt: already serving")
	}
	s.serving = true
	ln := s.ln
	s.mu.Unlock()
	defer close(s.serveDone)

	var backoff time.Duration
	for {
		finish, err := ln.accept()
		if err == nil {
			backoff = 0
			s.finish(finish)
			continue
		}
		s.mu.Lock()
		closed := s.closed
		s.mu.Unlock()
		if closed || errors.Is(err, errListenerClosed) {
			return nil
		}
		s.metrics.errors.WithLabelValues(reasonAccept).Inc()
		var ce *callerError
		if !errors.As(err, &ce) {
			return fmt.Errorf("srt: accept: %w", err)
		}
		// Back off, in case the failures repeat.
		backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
		s.log.Warn("srt accept failed; accepting the next caller", "error", err.Error(), "retry_in", backoff.String())
		t := time.NewTimer(backoff)
		select {
		case <-s.closing:
			t.Stop()
			return nil
		case <-t.C:
		}
	}
}

// start runs an accepted caller on its own goroutine.
// maxHandshakes is how many callers may be claiming their streams at once
// (each waits for the packager and any publish hook).
const maxHandshakes = 64

// finish completes a caller's handshake on a goroutine of its own, so that
// a slow publish (a webhook) never delays other callers; when
// maxHandshakes are already in progress, on this one.
func (s *Server) finish(finish func() *caller) {
	run := func() {
		if c := finish(); c != nil {
			s.start(c)
		}
	}
	select {
	case s.hsSlots <- struct{}{}:
		s.handshakes.Add(1)
		go func() {
			defer func() { <-s.hsSlots; s.handshakes.Done() }()
			run()
		}()
	default:
		run()
	}
}

func (s *Server) start(c *caller) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		c.pub.end(fmt.Errorf("srt: %w", ingest.ErrClosed))
		c.conn.close()
		return
	}
	conn := newConnection(s, c)
	s.conns[conn] = struct{}{}
	s.connWG.Add(1)
	s.mu.Unlock()
	s.metrics.connections.Inc()
	s.metrics.connectionsActive.Inc()
	go func() {
		defer s.untrack(conn)
		conn.run()
	}()
}

func (s *Server) untrack(c *connection) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
	s.connWG.Done()
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
	close(s.closing)
	conns := make([]*connection, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	ln := s.ln
	s.mu.Unlock()

	for _, c := range conns {
		c.cut()
	}
	if ln != nil {
		ln.close()
	}
	s.wait()
	s.cancel()
	// Handshakes still claiming a stream see the cancellation and end; one
	// that got through meanwhile finds the server closed (start).
	s.handshakes.Wait()
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
