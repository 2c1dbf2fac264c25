package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/liveorigin/liveorigin/auth"
	"github.com/liveorigin/liveorigin/hooks"
	"github.com/liveorigin/liveorigin/ingest"
	"github.com/liveorigin/liveorigin/ingest/rtmp"
	"github.com/liveorigin/liveorigin/ingest/rtsp"
	"github.com/liveorigin/liveorigin/ingest/srt"
	"github.com/liveorigin/liveorigin/limits"
	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/origin"
	"github.com/liveorigin/liveorigin/origin/purge"
	"github.com/liveorigin/liveorigin/packager"
)

// app wires the components together. Its lifecycle: newApp (validate and
// build), listen (bind every port, so a busy port fails at start), serve
// (until ctx ends), then an ordered, graceful shutdown.
type app struct {
	cfg      Config
	log      *slog.Logger
	reg      *prometheus.Registry
	registry *packager.Registry
	rtmp     *rtmp.Server
	srt      *srt.Server
	rtsp     *rtsp.Server
	origin   *origin.Server
	purges   *purgeSwitch      // the purge queue in use (a reload replaces it)
	hooks    *hooks.Dispatcher // the webhooks
	auth     *auth.Publisher   // publish auth (stream keys, tokens)
	jwks     *jwksSwitch       // the JWKS fetcher of publish auth
	limits   *limits.Publisher // publishers per address, ingest bitrate
	rate     *limits.Rate      // manifest requests per client
	hits     *limits.Hits

	// live is the configuration in effect: the start one with what reloads
	// changed (reload.go); admin is the admin handler in use (the admin
	// token may change).
	live   atomic.Pointer[Config]
	admin  atomic.Pointer[http.Handler]
	reload reloadState

	httpLn, adminLn net.Listener
	httpConns       *limits.Listener // httpLn, counted (max-http-connections)
	httpSrv         *http.Server
	adminSrv        *http.Server
	shuttingDown    atomic.Bool
	obs             appObserve // start time, tracing (observe.go)

	// certs are the TLS listeners' certificates (tls.go); certCheck how
	// often their files are looked at.
	certs     listenerCerts
	certCheck time.Duration
}

func newApp(cfg Config, log *slog.Logger) (*app, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	built, errs := (&reloadState{getenv: os.Getenv, readFile: os.ReadFile}).build(cfg)
	if len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("config: %w", err)
		}
		return nil, errors.Join(errs...)
	}
	certs, err := newListenerCerts(cfg, log, reg)
	if err != nil {
		return nil, err
	}
	purgeQueue, err := purge.NewQueue(built.backends, purge.Options{Logger: log, Registerer: reg})
	if err != nil {
		return nil, err
	}
	purges := &purgeSwitch{log: log, q: purgeQueue}
	dispatcher, err := hooks.New(built.hooks, hooks.Options{
		Logger:        log,
		Registerer:    reg,
		TraceParent:   observe.TraceParent,
		RetireTimeout: cfg.ShutdownTimeout,
	})
	if err != nil {
		_ = purgeQueue.Close(context.Background())
		return nil, err
	}
	// Tracing (off unless configured), before the components that trace.
	obs := newAppObserve(cfg, os.Getenv, log)
	// The JWKS fetcher of publish auth (none unless configured).
	jwks := &jwksSwitch{log: log, metrics: auth.NewJWKSMetrics(reg)}
	// closeQueues undoes the four above when a later step fails.
	closeQueues := func() {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		_ = dispatcher.Close(ctx)
		_ = purges.Close(ctx)
		obs.shutdown(log)
		jwks.Close()
	}
	purger := streamEventPurger(purges)
	popts := packagerOptions(cfg)
	// A stream's end is a CDN purge and a stream_end webhook; a fresh
	// stream a purge.
	popts.OnStreamEvent = func(name string, ev packager.StreamEvent) {
		purger(name, ev)
		if ev == packager.StreamEnded {
			dispatcher.StreamEnded(name)
		}
	}
	popts.Logger, popts.Registerer = log, reg
	popts.TracerProvider = obs.tracerProvider()
	registry, err := packager.NewRegistry(popts)
	if err != nil {
		closeQueues()
		return nil, err
	}
	// The adapters publish through the webhooks: the publish hook decides
	// before the Registry claims the name.
	// observe.Publisher, outermost, names the session and opens its
	// publish span first, so the webhooks get its traceparent.
	// Publish auth comes right after it: a publisher without the stream's
	// key is refused (and traced) before any webhook is asked.
	keys, _, kerrs := jwks.keySet(built.auth, cfg.PublishJWTJWKSRefresh)
	if len(kerrs) > 0 {
		registry.Close()
		closeQueues()
		return nil, fmt.Errorf("config: %w", errors.Join(kerrs...))
	}
	authPub := auth.NewPublisher(hooks.NewPublisher(registry, dispatcher), keys, auth.Options{Logger: log, Registerer: reg})
	// The limits come before auth: an address at its maximum is refused
	// before its key is checked (an attempt holds its place while auth
	// slows it down).
	hits := limits.NewHits(log, reg)
	limitsPub := limits.NewPublisher(authPub, hits, cfg.publisherLimits())
	pub := observe.NewPublisher(limitsPub, obs.tracerProvider())
	ropts := rtmp.Options{Addr: cfg.RTMPAddr, Publisher: pub, Logger: log, Registerer: reg,
		HandshakeTimeout: cfg.RTMPHandshakeTimeout, ReadTimeout: cfg.RTMPReadTimeout}
	if certs.rtmps != nil {
		ropts.TLSAddr, ropts.TLSConfig = cfg.RTMPSAddr, certs.rtmps.ServerConfig()
	}
	rs, err := rtmp.New(ropts)
	if err != nil {
		registry.Close()
		closeQueues()
		return nil, err
	}
	ss, err := srt.New(srt.Options{
		Addr:              cfg.SRTAddr,
		Publisher:         pub,
		Passphrase:        cfg.SRTPassphrase,
		StreamPassphrases: cfg.SRTStreamPassphrases,
		Latency:           cfg.SRTLatency,
		ReadTimeout:       cfg.SRTReadTimeout,
		Logger:            log,
		Registerer:        reg,
	})
	if err != nil {
		registry.Close()
		closeQueues()
		return nil, err
	}
	rts, err := rtsp.New(rtsp.Options{
		Addr:        cfg.RTSPAddr,
		UDPRTPAddr:  cfg.RTSPUDPRTPAddr,
		UDPRTCPAddr: cfg.RTSPUDPRTCPAddr,
		Publisher:   pub,
		Pulls:       cfg.rtspPulls(),
		ReadTimeout: cfg.RTSPReadTimeout,
		Logger:      log,
		Registerer:  reg,
	})
	if err != nil {
		registry.Close()
		closeQueues()
		return nil, err
	}
	playback, perrs := cfg.playbackPolicy()
	if len(perrs) > 0 {
		registry.Close()
		closeQueues()
		return nil, errors.Join(perrs...)
	}
	utcTiming := "/time"
	if cfg.PublicURL != "" {
		utcTiming = strings.TrimSuffix(cfg.PublicURL, "/") + "/time"
	}
	rate := limits.NewRate(hits, cfg.rateLimits())
	o, err := origin.New(origin.Options{
		ManifestLimit: rate.Limit,
		Streams:       registry,
		SegmentTarget: cfg.SegmentTarget,
		CORSOrigin:    cfg.CORSOrigin,
		UTCTimingURL:  utcTiming,
		Logger:        log,
		Registerer:    reg,

		TracerProvider: obs.tracerProvider(),

		OriginSecrets:      cfg.originSecrets(),
		OriginSecretHeader: cfg.OriginSecretHeader,

		PlaybackAuth:   playback,
		ClientIPHeader: cfg.PlaybackTokenClientIPHeader,
	})
	if err != nil {
		registry.Close()
		closeQueues()
		return nil, err
	}
	a := &app{cfg: cfg, log: log, reg: reg, registry: registry, rtmp: rs, srt: ss, rtsp: rts, origin: o, purges: purges,
		hooks: dispatcher, auth: authPub, jwks: jwks, limits: limitsPub, rate: rate, hits: hits, obs: obs, certs: certs, certCheck: defaultCertCheck}
	a.reload.getenv, a.reload.readFile = os.Getenv, os.ReadFile
	a.reload.purgeSum, a.reload.hooksSum, a.reload.authSum = built.purgeSum, built.hooksSum, built.authSum
	a.live.Store(&cfg)
	// The write timeout covers the handler too: http-write-timeout is
	// validated to exceed the longest response (4 target durations).
	a.httpSrv = &http.Server{
		Handler:           o.Handler(),
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		WriteTimeout:      cfg.HTTPWriteTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         certs.http.serverConfig(),
	}
	a.setAdminToken(cfg.AdminToken)
	a.adminSrv = &http.Server{
		// The handler in use: a reload that changes admin-token replaces it.
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { (*a.admin.Load()).ServeHTTP(w, r) }),
		// No write timeout: a pprof profile streams for its duration.
		ReadHeaderTimeout: cfg.HTTPReadHeaderTimeout,
		ReadTimeout:       cfg.HTTPReadTimeout,
		IdleTimeout:       cfg.HTTPIdleTimeout,
		MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
		TLSConfig:         certs.admin.serverConfig(),
	}
	return a, nil
}

// setAdminToken builds the admin handler for token and puts it in use.
func (a *app) setAdminToken(token string) {
	var h http.Handler = a.origin.AdminHandler(origin.AdminOptions{
		Gatherer:    a.reg,
		Ready:       func() bool { return !a.shuttingDown.Load() },
		PullSources: func() any { return a.rtsp.PullStates() },
		Token:       token,
		Takedown:    a.takedown,
		Kick:        a.registry.Kick,
		Purge:       a.manualPurge,
		Server:      a.serverInfo,
		LogLevel:    a.logLevel,
		SetLogLevel: a.setLogLevel,
		Reload:      a.reloadConfig,
	})
	a.admin.Store(&h)
}

// packagerOptions maps the configuration onto the packager's options.
func packagerOptions(cfg Config) packager.Options {
	return packager.Options{
		SegmentTarget:     cfg.SegmentTarget,
		Window:            cfg.Window,
		ReconnectGrace:    cfg.ReconnectGrace,
		MaxTargetDuration: cfg.MaxTargetDuration,
		MaxStreams:        cfg.MaxStreams,
		MaxSegmentBytes:   cfg.MaxSegmentSize,
		PartsOff:          !cfg.LowLatency,
		PartTarget:        cfg.PartTarget,
	}
}

// streamEventPurger turns the packager's stream events into CDN purges of
// the stream's playlists and MPD: a stream that ended (a CDN must not keep
// serving its live playlist) and a fresh stream under a name (a CDN may hold
// the playlists of an earlier one, or a 404 from before it started).
func streamEventPurger(q interface{ Enqueue(purge.Request) }) func(string, packager.StreamEvent) {
	return func(name string, ev packager.StreamEvent) {
		reason := "stream_end"
		if ev == packager.StreamStarted {
			reason = "republish"
		}
		q.Enqueue(purge.Request{Stream: name, Scope: purge.ScopeManifests, Reason: reason})
	}
}

// takedown takes a stream down (admin API): publisher disconnected and
// refused, stream dropped, everything of it purged from the CDN.
func (a *app) takedown(ctx context.Context, name string) (bool, error) {
	held, err := a.registry.Takedown(name, a.live.Load().TakedownRefuse)
	if err != nil {
		return false, err
	}
	a.purges.Enqueue(purge.Request{Stream: name, Scope: purge.ScopeStream, Reason: "takedown", TraceParent: observe.TraceParent(ctx)})
	return held, nil
}

// manualPurge queues a purge from the admin API: the given paths of a
// stream, or the whole stream.
func (a *app) manualPurge(ctx context.Context, stream string, paths []string) ([]string, error) {
	if err := ingest.ValidateName(stream); err != nil {
		return nil, fmt.Errorf("stream: %w", err)
	}
	prefix := "/" + ingest.App + "/" + stream + "/"
	for _, p := range paths {
		if !strings.HasPrefix(p, prefix) || strings.Contains(p, "..") || len(p) > 1024 {
			return nil, fmt.Errorf("path %q: must lie under %s", p, prefix)
		}
	}
	r := purge.Request{Stream: stream, Scope: purge.ScopeStream, Reason: "manual", TraceParent: observe.TraceParent(ctx)}
	if len(paths) > 0 {
		r.Scope, r.Paths = purge.ScopePaths, paths
	}
	if err := r.Validate(); err != nil {
		return nil, err
	}
	a.purges.Enqueue(r)
	return a.purges.Backends(), nil
}

// listen binds every listener; it fails with a message naming the option
// when a port is taken.
func (a *app) listen() error {
	var closers []func() error
	fail := func(err error) error {
		for _, c := range closers {
			_ = c()
		}
		return err
	}
	if err := a.rtmp.Listen(); err != nil {
		if errors.Is(err, rtmp.ErrTLSListen) {
			return fail(fmt.Errorf("rtmps-addr %s: %w", a.cfg.RTMPSAddr, err))
		}
		return fail(fmt.Errorf("rtmp-addr %s: %w", a.cfg.RTMPAddr, err))
	}
	closers = append(closers, a.rtmp.Close)
	if err := a.srt.Listen(); err != nil {
		return fail(fmt.Errorf("srt-addr %s: %w", a.cfg.SRTAddr, err))
	}
	closers = append(closers, a.srt.Close)
	if err := a.rtsp.Listen(); err != nil {
		return fail(fmt.Errorf("rtsp-addr %s: %w", a.cfg.RTSPAddr, err))
	}
	closers = append(closers, a.rtsp.Close)
	var err error
	if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		return fail(fmt.Errorf("http-addr %s: %w", a.cfg.HTTPAddr, err))
	}
	a.httpConns = limits.NewListener(a.httpLn, a.hits, a.live.Load().MaxHTTPConnections)
	a.httpLn = a.httpConns
	closers = append(closers, a.httpLn.Close)
	if a.adminLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
		return fail(fmt.Errorf("admin-addr %s: %w", a.cfg.AdminAddr, err))
	}
	return nil
}

// exposedIngest lists the ingest listeners bound beyond loopback.
func (a *app) exposedIngest() []string {
	var out []string
	for _, l := range []struct {
		proto string
		addr  net.Addr
	}{{"rtmp", a.rtmp.Addr()}, {"rtmps", a.rtmp.TLSAddr()}, {"srt", a.srt.Addr()}, {"rtsp", a.rtsp.Addr()}} {
		if l.addr == nil {
			continue
		}
		host, _, err := net.SplitHostPort(l.addr.String())
		if err != nil {
			continue
		}
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
			out = append(out, l.proto+" "+l.addr.String())
		}
	}
	return out
}

// serve runs until ctx ends or a listener fails, then shuts down in order:
// stop taking publishers, end every stream cleanly (playlists get
// EXT-X-ENDLIST), drain playback HTTP, and last the admin listener so that
// metrics are scrapable while the rest drains.
func (a *app) serve(ctx context.Context) error {
	a.log.Info("liveorigin started",
		"rtmp", a.rtmp.Addr().String(), "srt", a.srt.Addr().String(), "srt_transport", a.srt.Transport(),
		"rtsp", a.rtsp.Addr().String(), "http", a.httpLn.Addr().String(), "admin", a.adminLn.Addr().String(),
		"segment_target", a.cfg.SegmentTarget.String(), "window", a.cfg.Window.String(), "reconnect_grace", a.cfg.ReconnectGrace.String(),
		"low_latency", a.cfg.LowLatency, "part_target", packagerOptions(a.cfg).Effective().PartTarget.String(),
		"rtmps", addrString(a.rtmp.TLSAddr()), "http_tls", a.httpSrv.TLSConfig != nil, "admin_tls", a.adminSrv.TLSConfig != nil)
	if cfg := a.live.Load(); auth.Mode(cfg.PublishAuth) == auth.ModeOpen {
		if exposed := a.exposedIngest(); len(exposed) > 0 {
			a.log.Warn("publishing is open to anyone who can reach "+strings.Join(exposed, ", ")+
				"; set publish-auth: keys (a stream-key per stream) or jwt (signed tokens) (docs/security.md)", "publish_auth", cfg.PublishAuth)
		}
	}

	errc := make(chan error, 5)
	var wg sync.WaitGroup
	start := func(name string, f func() error) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := f(); err != nil && !errors.Is(err, http.ErrServerClosed) && !a.shuttingDown.Load() {
				errc <- fmt.Errorf("%s: %w", name, err)
			}
		}()
	}
	start("rtmp", a.rtmp.Serve)
	start("srt", a.srt.Serve)
	start("rtsp", a.rtsp.Serve)
	start("http", func() error { return serveHTTP(a.httpSrv, a.httpLn) })
	start("admin", func() error { return serveHTTP(a.adminSrv, a.adminLn) })
	certsCtx, stopCerts := context.WithCancel(context.Background())
	certsDone := make(chan struct{})
	go func() { defer close(certsDone); a.certs.watch(certsCtx, a.certCheck) }()

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case runErr = <-errc:
		a.log.Error("listener failed, shutting down", "err", runErr)
	}
	a.shuttingDown.Store(true)
	stopCerts()
	<-certsDone

	_ = a.rtmp.Close()
	_ = a.srt.Close()
	_ = a.rtsp.Close()
	a.jwks.Close()
	a.registry.Close()

	sctx, cancel := context.WithTimeout(context.Background(), a.live.Load().ShutdownTimeout)
	defer cancel()
	// The streams' final playlists are purged while playback still answers,
	// so a CDN refetches them (with EXT-X-ENDLIST) from this process. The
	// webhooks' unpublish and stream_end drain meanwhile.
	hooksDone := make(chan error, 1)
	go func() { hooksDone <- a.hooks.Close(sctx) }()
	if err := a.purges.Close(sctx); err != nil {
		a.log.Warn("CDN purges did not drain in time", "err", err)
	}
	if err := <-hooksDone; err != nil {
		a.log.Warn("webhooks did not drain in time", "err", err)
	}
	if err := a.httpSrv.Shutdown(sctx); err != nil {
		a.log.Warn("playback HTTP did not drain in time", "err", err)
		_ = a.httpSrv.Close()
	}
	if err := a.adminSrv.Shutdown(sctx); err != nil {
		_ = a.adminSrv.Close()
	}
	wg.Wait()
	a.obs.shutdown(a.log) // the last spans (the sessions just closed)
	a.log.Info("stopped")
	return runErr
}
