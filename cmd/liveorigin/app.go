package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/liveorigin/liveorigin/ingest/rtmp"
	"github.com/liveorigin/liveorigin/origin"
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
	origin   *origin.Server

	httpLn, adminLn net.Listener
	httpSrv         *http.Server
	adminSrv        *http.Server
	shuttingDown    atomic.Bool
}

func newApp(cfg Config, log *slog.Logger) (*app, error) {
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	popts := packager.Options{
		SegmentTarget:     cfg.SegmentTarget,
		Window:            cfg.Window,
		ReconnectGrace:    cfg.ReconnectGrace,
		MaxTargetDuration: cfg.MaxTargetDuration,
		MaxStreams:        cfg.MaxStreams,
		Logger:            log,
		Registerer:        reg,
	}
	if errs := popts.Validate(); len(errs) > 0 {
		for i, err := range errs {
			errs[i] = fmt.Errorf("config: %w", err)
		}
		return nil, errors.Join(errs...)
	}
	registry, err := packager.NewRegistry(popts)
	if err != nil {
		return nil, err
	}
	rs, err := rtmp.New(rtmp.Options{Addr: cfg.RTMPAddr, Publisher: registry, Logger: log, Registerer: reg})
	if err != nil {
		registry.Close()
		return nil, err
	}
	utcTiming := "/time"
	if cfg.PublicURL != "" {
		utcTiming = strings.TrimSuffix(cfg.PublicURL, "/") + "/time"
	}
	o, err := origin.New(origin.Options{
		Streams:       registry,
		SegmentTarget: cfg.SegmentTarget,
		CORSOrigin:    cfg.CORSOrigin,
		UTCTimingURL:  utcTiming,
		Logger:        log,
		Registerer:    reg,
	})
	if err != nil {
		registry.Close()
		return nil, err
	}
	a := &app{cfg: cfg, log: log, reg: reg, registry: registry, rtmp: rs, origin: o}
	a.httpSrv = &http.Server{
		Handler:           o.Handler(),
		ReadHeaderTimeout: 10 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    16 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	a.adminSrv = &http.Server{
		Handler:           o.AdminHandler(origin.AdminOptions{Gatherer: reg, Ready: func() bool { return !a.shuttingDown.Load() }}),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return a, nil
}

// listen binds every listener; it fails with a message naming the option
// when a port is taken.
func (a *app) listen() error {
	var err error
	if err = a.rtmp.Listen(); err != nil {
		return fmt.Errorf("rtmp-addr %s: %w", a.cfg.RTMPAddr, err)
	}
	if a.httpLn, err = net.Listen("tcp", a.cfg.HTTPAddr); err != nil {
		a.rtmp.Close()
		return fmt.Errorf("http-addr %s: %w", a.cfg.HTTPAddr, err)
	}
	if a.adminLn, err = net.Listen("tcp", a.cfg.AdminAddr); err != nil {
		a.rtmp.Close()
		a.httpLn.Close()
		return fmt.Errorf("admin-addr %s: %w", a.cfg.AdminAddr, err)
	}
	return nil
}

// serve runs until ctx ends or a listener fails, then shuts down in order:
// stop taking publishers, end every stream cleanly (playlists get
// EXT-X-ENDLIST), drain playback HTTP, and last the admin listener so that
// metrics are scrapable while the rest drains.
func (a *app) serve(ctx context.Context) error {
	a.log.Info("liveorigin started",
		"rtmp", a.rtmp.Addr().String(), "http", a.httpLn.Addr().String(), "admin", a.adminLn.Addr().String(),
		"segment_target", a.cfg.SegmentTarget.String(), "window", a.cfg.Window.String(), "reconnect_grace", a.cfg.ReconnectGrace.String())

	errc := make(chan error, 3)
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
	start("http", func() error { return a.httpSrv.Serve(a.httpLn) })
	start("admin", func() error { return a.adminSrv.Serve(a.adminLn) })

	var runErr error
	select {
	case <-ctx.Done():
		a.log.Info("shutting down")
	case runErr = <-errc:
		a.log.Error("listener failed, shutting down", "err", runErr)
	}
	a.shuttingDown.Store(true)

	_ = a.rtmp.Close()
	a.registry.Close()

	sctx, cancel := context.WithTimeout(context.Background(), a.cfg.ShutdownTimeout)
	defer cancel()
	if err := a.httpSrv.Shutdown(sctx); err != nil {
		a.log.Warn("playback HTTP did not drain in time", "err", err)
		_ = a.httpSrv.Close()
	}
	if err := a.adminSrv.Shutdown(sctx); err != nil {
		_ = a.adminSrv.Close()
	}
	wg.Wait()
	a.log.Info("stopped")
	return runErr
}
