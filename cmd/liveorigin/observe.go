package main

import (
	"context"
	"errors"
	"log/slog"
	"runtime"
	"runtime/debug"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/liveorigin/liveorigin/observe"
	"github.com/liveorigin/liveorigin/origin"
)

// version is the release, set at build time with
// -ldflags "-X main.version=v1.2.3"; otherwise the module version of the
// build ("(devel)" for a checkout).
var version = ""

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" {
		return bi.Main.Version
	}
	return "(devel)"
}

// appObserve is the app's observability state: when it started (uptime)
// and the tracer provider (nil: tracing off).
type appObserve struct {
	started time.Time
	sdk     *observe.Tracing
}

// newAppObserve starts tracing when it is configured (otel-endpoint, or
// the standard OTEL_EXPORTER_OTLP_* environment). The endpoint was
// validated with the configuration; an exporter that cannot be made
// anyway leaves tracing off, with an error in the log, rather than the
// origin down.
func newAppObserve(cfg Config, getenv func(string) string, log *slog.Logger) appObserve {
	o := appObserve{started: time.Now()}
	tp, err := observe.NewTracerProvider(observe.TracingOptions{Endpoint: cfg.OTelEndpoint, Getenv: getenv,
		ServiceVersion: versionString(), Logger: log})
	switch {
	case err != nil:
		log.Error("tracing off: the OTLP exporter could not be made", "err", err)
	case tp != nil:
		o.sdk = tp
		log.Info("tracing on: spans go over OTLP/HTTP", "endpoint", tracesEndpoint(cfg, getenv))
	}
	return o
}

// tracesEndpoint says where spans go, for the log and the server object.
func tracesEndpoint(cfg Config, getenv func(string) string) string {
	if cfg.OTelEndpoint != "" {
		u, _ := observe.TracesURL(cfg.OTelEndpoint)
		return u
	}
	for _, k := range []string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "OTEL_EXPORTER_OTLP_ENDPOINT"} {
		if v := getenv(k); v != "" {
			return k + "=" + v
		}
	}
	return ""
}

// tracerProvider is the provider the components take: nil (not a typed
// nil) when tracing is off, so that they skip tracing altogether.
func (o appObserve) tracerProvider() trace.TracerProvider {
	if o.sdk == nil {
		return nil
	}
	return o.sdk
}

// shutdown flushes the spans still batched and stops the exporter.
func (o appObserve) shutdown(log *slog.Logger) {
	if o.sdk == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := o.sdk.Shutdown(ctx); err != nil {
		log.Warn("tracing: the last spans could not be sent", "err", err)
	}
}

// logLevel is the logger's level (GET /api/v1/log-level): the level
// variable's when run made the logger, else the lowest level the handler
// takes.
func (a *app) logLevel() slog.Level {
	a.reload.mu.Lock()
	lv := a.reload.level
	a.reload.mu.Unlock()
	if lv != nil {
		return lv.Level()
	}
	for _, l := range []slog.Level{slog.LevelDebug, slog.LevelInfo, slog.LevelWarn} {
		if a.log.Enabled(context.Background(), l) {
			return l
		}
	}
	return slog.LevelError
}

// setLogLevel changes the logger's level (PUT /api/v1/log-level); it stays
// until the next change or a reload whose log-level differs.
func (a *app) setLogLevel(l slog.Level) error {
	a.reload.mu.Lock()
	defer a.reload.mu.Unlock()
	if a.reload.level == nil {
		return errLevelFixed
	}
	a.reload.level.Set(l)
	return nil
}

// ServerInfo is the body of GET /api/v1/server (docs/openapi.yaml).
type ServerInfo struct {
	Version   string    `json:"version"`
	Started   time.Time `json:"started"`
	Uptime    float64   `json:"uptime_seconds"`
	Listeners struct {
		RTMP  string `json:"rtmp"`
		SRT   string `json:"srt"`
		RTSP  string `json:"rtsp"`
		HTTP  string `json:"http"`
		Admin string `json:"admin"`
	} `json:"listeners"`
	// Config is every option's value as --help would print it: secrets
	// show as "<redacted>" (or "" when unset), mappings as "N entries".
	Config        map[string]string `json:"config"`
	PurgeBackends []string          `json:"purge_backends"`
	Tracing       struct {
		Enabled  bool   `json:"enabled"`
		Endpoint string `json:"endpoint,omitempty"`
	} `json:"tracing"`
	Counts struct {
		Streams         int                    `json:"streams"`
		StreamsLive     int                    `json:"streams_live"`
		Publishers      int                    `json:"publishers"`
		ViewersEstimate origin.ViewersEstimate `json:"viewers_estimate"`
	} `json:"counts"`
	Runtime struct {
		GoVersion  string `json:"go_version"`
		OS         string `json:"os"`
		Arch       string `json:"arch"`
		NumCPU     int    `json:"num_cpu"`
		GOMAXPROCS int    `json:"gomaxprocs"`
		Goroutines int    `json:"goroutines"`
		HeapAlloc  uint64 `json:"heap_alloc_bytes"`
		Sys        uint64 `json:"sys_bytes"`
		NumGC      uint32 `json:"gc_cycles"`
	} `json:"runtime"`
}

// serverInfo describes the running daemon. No secret: the configuration
// goes through the options' own redacting printers.
func (a *app) serverInfo() any {
	cfg := a.cfg
	if live := a.live.Load(); live != nil {
		cfg = *live
	}
	var si ServerInfo
	si.Version = versionString()
	si.Started = a.obs.started.UTC()
	si.Uptime = time.Since(a.obs.started).Round(time.Millisecond).Seconds()
	si.Listeners.RTMP = a.rtmp.Addr().String()
	si.Listeners.SRT = a.srt.Addr().String()
	si.Listeners.RTSP = a.rtsp.Addr().String()
	if a.httpLn != nil {
		si.Listeners.HTTP = a.httpLn.Addr().String()
	}
	if a.adminLn != nil {
		si.Listeners.Admin = a.adminLn.Addr().String()
	}
	si.Config = make(map[string]string)
	for _, o := range options() {
		si.Config[o.name] = o.get(&cfg)
	}
	si.PurgeBackends = a.purges.Backends()
	if si.PurgeBackends == nil {
		si.PurgeBackends = []string{}
	}
	si.Tracing.Enabled = a.obs.sdk != nil
	if si.Tracing.Enabled {
		si.Tracing.Endpoint = tracesEndpoint(cfg, a.reloadGetenv())
	}
	for _, st := range a.registry.Streams() {
		si.Counts.Streams++
		if st.Live {
			si.Counts.StreamsLive++
		}
	}
	si.Counts.Publishers = si.Counts.StreamsLive // one publisher per live stream
	si.Counts.ViewersEstimate = a.origin.ViewersTotal()
	si.Runtime.GoVersion = runtime.Version()
	si.Runtime.OS, si.Runtime.Arch = runtime.GOOS, runtime.GOARCH
	si.Runtime.NumCPU, si.Runtime.GOMAXPROCS = runtime.NumCPU(), runtime.GOMAXPROCS(0)
	si.Runtime.Goroutines = runtime.NumGoroutine()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)
	si.Runtime.HeapAlloc, si.Runtime.Sys, si.Runtime.NumGC = ms.HeapAlloc, ms.Sys, ms.NumGC
	return si
}

// reloadGetenv is the environment the app reads.
func (a *app) reloadGetenv() func(string) string {
	if a.reload.getenv != nil {
		return a.reload.getenv
	}
	return func(string) string { return "" }
}

// errLevelFixed: the logger was not made by run (a test's), so its level
// cannot change.
var errLevelFixed = errors.New("the log level is fixed: this logger has no level variable")
